"""
What the dataset browser reads: the config (with its checked overrides), the training set it
names (data given by path registered and checked as ``train_net.py`` does, or a registered
dataset by name), the model it builds (for its anchors and its assignment rule, weights unused)
and its training and test resizing. Every problem the user can fix is a ``ConfigError`` of one
line, raised before any work.

This module is the one place of :mod:`atss.browse` that uses the config loader.
"""

from dataclasses import dataclass
from typing import List, Optional, Sequence

import detectron2.data.transforms as T
from detectron2.config import instantiate
from detectron2.data import (
    DatasetCatalog,
    DatasetMapper,
    Metadata,
    MetadataCatalog,
    get_detection_dataset_dicts,
)

from ..engine.data_setup import configure_user_datasets, dataset_names
from ..engine.defaults import (
    Config,
    ConfigError,
    build_model,
    get_num_classes,
    is_lazy,
    load_config,
    set_user_classes,
)

# ConfigError is the error of every problem found here, for the tool to catch.
__all__ = ["BrowseInputs", "ConfigError", "load_inputs", "training_mapper"]


@dataclass
class BrowseInputs:
    cfg: Config
    model: object  # the config's model on the CPU, initial weights
    dataset_names: List[str]
    dataset_dicts: List[dict]
    metadata: Metadata  # of the first dataset: thing_classes
    train_augmentations: List[T.Augmentation]  # the training mapper's, as configured
    test_augmentations: List[T.Augmentation]
    image_format: str
    num_model_classes: int

    @property
    def class_names(self) -> List[str]:
        return list(self.metadata.thing_classes)


def _mapper_augmentations(cfg: Config, is_train: bool) -> List[T.Augmentation]:
    if not is_lazy(cfg):
        return list(DatasetMapper.from_config(cfg, is_train)["augmentations"])
    loader = cfg.dataloader.get("train" if is_train else "test")
    if loader is None or "mapper" not in loader or "augmentations" not in loader.mapper:
        return []
    return list(instantiate(loader.mapper.augmentations))


def training_mapper(cfg: Config):
    """The config's training mapper, with its random augmentations."""
    if not is_lazy(cfg):
        return DatasetMapper(cfg, is_train=True)
    return instantiate(cfg.dataloader.train.mapper)


def _image_format(cfg: Config) -> str:
    if not is_lazy(cfg):
        return cfg.INPUT.FORMAT
    return cfg.dataloader.train.mapper.get("image_format", "BGR")


def _training_names(cfg: Config, dataset: Optional[str]) -> List[str]:
    """The datasets to browse: ``dataset`` when given, else the config's training sets."""
    if dataset:
        if dataset not in DatasetCatalog.list():
            raise ConfigError(
                f"Dataset {dataset!r} is not registered; give a registered name (e.g. "
                "shapes_train) or the data by path (dataset.train.annotations=PATH, "
                "docs/custom_data.md)."
            )
        return [dataset]
    # Data given by path: registered as custom_train with train_net.py's checks.
    configure_user_datasets(cfg, evaluate=False)
    names = dataset_names(cfg.dataloader.train) if is_lazy(cfg) else list(cfg.DATASETS.TRAIN)
    if not names:
        raise ConfigError("The config names no training dataset: pass --dataset NAME.")
    return names


def load_inputs(
    config_file: str, overrides: Sequence[str] = (), dataset: Optional[str] = None
) -> BrowseInputs:
    """
    Load the config with ``overrides`` and the training set it names (or ``dataset``), check
    the data as training does, and build the model. ConfigError names any problem.
    """
    cfg = load_config(config_file, overrides)
    names = _training_names(cfg, dataset)
    try:
        dicts = get_detection_dataset_dicts(names, filter_empty=False)
    except (ValueError, AssertionError, FileNotFoundError) as e:
        raise ConfigError(str(e).splitlines()[0]) from None
    metadata = MetadataCatalog.get(names[0])
    classes = list(metadata.get("thing_classes", []))
    if not get_num_classes(cfg):
        # A Custom config given a registered dataset: its classes, as for data given by path.
        set_user_classes(cfg, classes, names[0], "")
    return BrowseInputs(
        cfg=cfg,
        model=build_model(cfg, device="cpu"),
        dataset_names=names,
        dataset_dicts=dicts,
        metadata=metadata,
        train_augmentations=_mapper_augmentations(cfg, is_train=True),
        test_augmentations=_mapper_augmentations(cfg, is_train=False),
        image_format=_image_format(cfg),
        num_model_classes=int(get_num_classes(cfg)),
    )
