"""
The data side of train_net.py's reliability: how the LazyConfig's loaders are built, and the
checks that run before the first iteration.
"""

import logging
from typing import Iterable
from omegaconf import OmegaConf

from detectron2.config import LazyCall as L
from detectron2.data import DatasetCatalog, build_detection_train_loader
from detectron2.evaluation import COCOEvaluator

from ..config import dataset_names, get_drop_invalid
from ..data import (
    CheckedCOCOEvaluator,
    ImageErrorNamingMapper,
    check_dataset_classes,
    check_image_files,
    drop_invalid_annotations,
    has_fast_coco_eval,
)
from .train_loader import ResumableTrainLoader, build_resumable_train_loader

__all__ = [
    "check_loader_classes",
    "configure_lazy_data",
    "preflight_datasets",
    "preflight_loaders",
    "inner_mapper",
]

logger = logging.getLogger(__name__)


def configure_lazy_data(cfg) -> None:
    """
    Adapt ``cfg.dataloader`` of a LazyConfig, before anything is instantiated:

    * detectron2's ``build_detection_train_loader`` becomes :func:`build_resumable_train_loader`
      (same arguments, seeded by ``train.seed``), so that a resumed run reads the same data as
      the uninterrupted one; a config that sets its own ``sampler`` keeps detectron2's loader.
    * The mappers name the image file and dataset when an image cannot be decoded.
    * ``COCOEvaluator`` becomes :class:`CheckedCOCOEvaluator` (with pycocotools' evaluation when
      detectron2's C++ one is not built), and with
      ``train.drop_invalid_annotations=True`` the datasets drop annotations with unusable boxes
      from training and evaluation alike (the default raises ValueError naming them).
    """
    train, test = cfg.dataloader.train, cfg.dataloader.get("test")
    names = dataset_names(train) + (dataset_names(test) if test is not None else [])
    drop_invalid_annotations(names, drop=get_drop_invalid(cfg))
    if train._target_ is build_detection_train_loader:
        if train.get("sampler") is not None:
            logger.warning(
                "dataloader.train sets a sampler: detectron2's loader is kept, and a resumed run "
                "will not read the same data as an uninterrupted one."
            )
        else:
            train._target_ = build_resumable_train_loader
            seed = OmegaConf.select(cfg, "train.seed", default=-1)
            train.seed = seed if seed is not None and seed >= 0 else None
    loaders = [loader for loader in (train, test) if loader is not None and "mapper" in loader]
    # Wrapping a mapper moves it one level down, out of reach of relative interpolations such as
    # the ${...train.mapper.image_format} of detectron2's COCO test mapper: resolve them first.
    for loader in loaders:
        OmegaConf.resolve(loader.mapper)
    for loader in loaders:
        loader.mapper = L(ImageErrorNamingMapper)(
            mapper=loader.mapper, dataset_names=dataset_names(loader)
        )
    evaluator = cfg.dataloader.get("evaluator")
    if evaluator is not None and evaluator.get("_target_") is COCOEvaluator:
        evaluator._target_ = CheckedCOCOEvaluator
        if not has_fast_coco_eval():
            evaluator.use_fast_impl = False


def inner_mapper(loader_cfg):
    """The mapper node of a LazyConfig loader, inside its :class:`ImageErrorNamingMapper`."""
    mapper = loader_cfg.mapper
    return mapper.mapper if mapper.get("_target_") is ImageErrorNamingMapper else mapper


def check_loader_classes(cfg, loader_cfg) -> None:
    """The (loaded) datasets of ``loader_cfg`` must have the classes of ``cfg.model``."""
    num_classes = OmegaConf.select(cfg, "model.num_classes", default=None)
    names = dataset_names(loader_cfg)
    if num_classes is not None and names:
        check_dataset_classes(names, num_classes)


def preflight_loaders(cfg, train_loader) -> None:
    """
    Before the first iteration: every image of the training set (when the resumable loader holds
    it) and of the test set exists, and the test set's annotations pass the checks.
    """
    if isinstance(train_loader, ResumableTrainLoader):
        check_image_files(train_loader.dataset, ", ".join(dataset_names(cfg.dataloader.train)))
    if "test" in cfg.dataloader:
        preflight_datasets(dataset_names(cfg.dataloader.test))


def preflight_datasets(names: Iterable[str]) -> None:
    """
    Load each dataset (which runs the annotation checks of datasets registered with
    ``atss.data``) and check that each of its images exists, so that an evaluation dataset with
    a problem stops the run before training, not after.
    """
    for name in names:
        check_image_files(DatasetCatalog.get(name), name)
