"""
What the rest of the package reads from a config (a LazyConfig, as every config is past
:func:`atss.config.load_config`) and writes into it: the checkpoint it starts from, its model, the
user's data it takes by path and their classes.
"""

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence
from omegaconf import OmegaConf
from torch import nn

from detectron2.config import instantiate

from .errors import ConfigError
from .loading import Config

__all__ = [
    "UserData",
    "build_model",
    "dataset_classes",
    "get_drop_invalid",
    "get_num_classes",
    "get_output_dir",
    "get_weights",
    "set_user_classes",
    "set_weights",
    "user_data",
]


def get_weights(cfg: Config) -> str:
    """The checkpoint the config starts from: ``train.init_checkpoint``."""
    return OmegaConf.select(cfg, "train.init_checkpoint", default="") or ""


def set_weights(cfg: Config, weights: str) -> None:
    cfg.train.init_checkpoint = weights


def get_output_dir(cfg: Config) -> str:
    """Where a run writes: ``train.output_dir``."""
    return cfg.train.output_dir


def build_model(cfg: Config, device: Optional[str] = None) -> nn.Module:
    """
    The config's model with its initial weights, on ``device`` (default: ``train.device``), in
    training mode as detectron2 builds it.
    """
    if device is None:
        device = cfg.train.device
    if not get_num_classes(cfg):
        raise ConfigError(
            "The config's number of classes comes from the training set given by path: run it "
            "through train_net.py with its data (docs/custom_data.md), or set "
            f"{NUM_CLASSES_KEYS.format(K='K')}."
        )
    return instantiate(cfg.model).to(device)


# ------------------------------------------------------------------------------------------------
# The user's own data
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class UserData:
    """
    The data a config takes by path (``dataset.train.annotations=...``; in a YAML config
    ``DATASETS.TRAIN_ANNOTATIONS``, ...); empty strings where unset. ``keys`` gives how to set
    each field, for error messages.
    """

    train_annotations: str
    train_images: str
    test_annotations: str
    test_images: str
    keys: Dict[str, str]


_USER_FIELDS = ("train_annotations", "train_images", "test_annotations", "test_images")

# The keys users write, in both kinds of config, for error messages.
NUM_CLASSES_KEYS = "model.num_classes={K} (YAML: MODEL.ATSS.NUM_CLASSES {K})"


def user_data(cfg: Config) -> Optional[UserData]:
    """The config's data by path, or None when it reads datasets registered by name."""
    if OmegaConf.select(cfg, "dataset", default=None) is None:
        return None
    keys = {
        f: f"dataset.{f.replace('_', '.')}=PATH (YAML: DATASETS.{f.upper()} PATH)"
        for f in _USER_FIELDS
    }
    values = {
        f: OmegaConf.select(cfg, "dataset." + f.replace("_", "."), default="") or ""
        for f in _USER_FIELDS
    }
    return UserData(keys=keys, **values)


def get_drop_invalid(cfg: Config) -> bool:
    """Whether annotations with unusable boxes are dropped rather than refused."""
    return bool(OmegaConf.select(cfg, "train.drop_invalid_annotations", default=False))


def get_num_classes(cfg: Config) -> Optional[int]:
    """The number of classes the config's model predicts (None: to be set from the data)."""
    return OmegaConf.select(cfg, "model.num_classes", default=None)


def set_user_classes(cfg: Config, classes: Sequence[str]) -> None:
    """
    Record the ``classes`` of the user's training set in the config (``dataset.classes``), so
    that the ``config.yaml`` a run saves names them for the demo, the exporter and a published
    entry, which never read the training annotations. The model's number of classes follows them
    where the config leaves it unset; a different number is a ConfigError that gives the fix.
    """
    num_classes = get_num_classes(cfg)
    if num_classes and num_classes != len(classes):
        raise ConfigError(
            f"The training set has {len(classes)} classes ({', '.join(classes[:10])}"
            f"{', ...' if len(classes) > 10 else ''}) but the config's model predicts "
            f"{num_classes}: set {NUM_CLASSES_KEYS.format(K=len(classes))}, or leave it unset "
            "to take the training set's."
        )
    cfg.model.num_classes = len(classes)
    cfg.dataset.classes = list(classes)


def dataset_classes(cfg: Config) -> List[str]:
    """The class names a config recorded from its user data (empty for registered datasets)."""
    return list(OmegaConf.select(cfg, "dataset.classes", default=None) or [])
