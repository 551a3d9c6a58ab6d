"""
The user's own data, given by path in a config (``dataset.train.annotations``, ...; YAML
``DATASETS.TRAIN_ANNOTATIONS``, ...): registered once per process through the checked loaders of
:mod:`atss.data.user_datasets`, with their classes recorded in the config. ``train_net.py`` and
``tools/browse_dataset.py`` register them the same way, before anything is built.
"""

from typing import List
from omegaconf import OmegaConf

from ..data.user_datasets import USER_TEST, USER_TRAIN, register_user_dataset
from .accessors import get_drop_invalid, set_user_classes, user_data
from .errors import ConfigError

__all__ = ["configure_user_datasets", "dataset_names"]


def dataset_names(loader_cfg) -> List[str]:
    """The dataset names of a LazyConfig loader (``loader.dataset.names``), as a list."""
    names = OmegaConf.select(loader_cfg, "dataset.names", default=None)
    if names is None:
        return []
    return [names] if isinstance(names, str) else list(names)


def configure_user_datasets(cfg, evaluate: bool = True) -> None:
    """
    For a config that takes its data by path (:func:`atss.config.user_data`), before
    anything is built: register the training and test sets (``custom_train``, ``custom_test``)
    through the checked loaders, take the class names from the training set, set the model's
    number of classes from them, and check that the test set has the same categories. A problem
    of the data or of the config is a ConfigError naming the file or key.
    """
    data = user_data(cfg)
    if data is None:
        return
    if not data.train_annotations:
        raise ConfigError(
            f"This config trains on your own data: give {data.keys['train_annotations']} "
            "(a COCO JSON file or a folder of Pascal-VOC XML files; docs/custom_data.md)."
        )
    if evaluate and not data.test_annotations:
        raise ConfigError(
            f"No test set: give {data.keys['test_annotations']} (a COCO JSON file or a VOC "
            "folder), or pass --no-eval to train without evaluating."
        )
    drop = get_drop_invalid(cfg)
    try:
        classes = register_user_dataset(
            USER_TRAIN, data.train_annotations, data.train_images, drop_invalid=drop
        )
        if data.test_annotations:
            register_user_dataset(
                USER_TEST, data.test_annotations, data.test_images, classes, drop_invalid=drop
            )
    except ValueError as e:  # the checks' errors name the file and the problem
        raise ConfigError(str(e)) from None
    set_user_classes(cfg, classes)
