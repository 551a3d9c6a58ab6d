"""
The one place that loads a config (LazyConfig ``.py`` or YAML), builds its model and loads
weights into it. ``train_net.py``, the exporter, the demo, the visualizations and
:mod:`atss.model_zoo` all go through it, so it is also the only module that branches on the kind
of config.

A problem the user can fix (a missing or unknown file, a misspelled override key) raises
:class:`ConfigError`, and weights that do not fit the model a ``CheckpointError``, each with one
line naming it and the fix.
"""

import difflib
import os
import re
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Union
from omegaconf import DictConfig, ListConfig, OmegaConf
from torch import nn

from detectron2.config import CfgNode, LazyConfig, get_cfg, instantiate
from detectron2.modeling import build_model as build_yaml_model

from ..checkpoint.strict import load_weights
from ..config import ConfigError, add_atss_config

__all__ = [
    "Config",
    "ConfigError",
    "UserData",
    "apply_lazy_overrides",
    "build_model",
    "config_kind",
    "dataset_classes",
    "get_drop_invalid",
    "get_num_classes",
    "get_weights",
    "is_lazy",
    "load_config",
    "load_model",
    "load_weights",
    "set_user_classes",
    "set_weights",
    "user_data",
]


Config = Union[DictConfig, CfgNode]

LAZY_SUFFIXES = (".py",)
YAML_SUFFIXES = (".yaml", ".yml")

_MISSING = object()


def config_kind(path: str) -> str:
    """``"lazy"`` for a LazyConfig (a ``.py`` file, or the ``config.yaml`` detectron2 saves of
    one), ``"yaml"`` for a YAML config of detectron2's keys; ConfigError otherwise."""
    if path.endswith(LAZY_SUFFIXES):
        return "lazy"
    if path.endswith(YAML_SUFFIXES):
        return "lazy" if _is_saved_lazy_config(path) else "yaml"
    raise ConfigError(
        f"Config file {path} is of an unknown kind: give a LazyConfig (.py) or a YAML config "
        "(.yaml), e.g. configs/Shapes/atss_R_18_FPN_shapes.py."
    )


def _is_saved_lazy_config(path: str) -> bool:
    """Whether a YAML file is a LazyConfig saved by detectron2 (the ``config.yaml`` of a run's
    output directory and of a published model), with its lower-case ``model`` key."""
    if not os.path.isfile(path):
        return False
    with open(path) as f:
        # Top-level keys only: a saved LazyConfig may hold Python objects YAML cannot construct.
        top_level = {line.split(":", 1)[0] for line in f if re.match(r"[A-Za-z_]\w*:", line)}
    return "model" in top_level and "MODEL" not in top_level


def is_lazy(cfg: Config) -> bool:
    return not isinstance(cfg, CfgNode)


def load_config(path: str, overrides: Sequence[str] = ()) -> Config:
    """
    A LazyConfig (``key=value`` overrides, see :func:`apply_lazy_overrides`) or a YAML config with
    the ATSS keys (``KEY VALUE`` pairs). Unknown override keys are refused with the nearest
    existing ones.
    """
    kind = config_kind(path)
    if not os.path.isfile(path):
        raise ConfigError(
            f"Config file {path} does not exist (paths are relative to the current directory; "
            "the project's configs are under configs/)."
        )
    if kind == "lazy":
        return apply_lazy_overrides(LazyConfig.load(path), overrides)
    cfg = get_cfg()
    add_atss_config(cfg)
    cfg.merge_from_file(path)
    _merge_yaml_overrides(cfg, list(overrides))
    return cfg


# ------------------------------------------------------------------------------------------------
# Overrides
# ------------------------------------------------------------------------------------------------
def _flat_keys(node, prefix: str = "") -> Iterator[str]:
    """Every dotted key of a config tree (list items by index), leaves and inner nodes."""
    if isinstance(node, (DictConfig, dict, CfgNode)):
        items = node.items_ex(resolve=False) if isinstance(node, DictConfig) else node.items()
        children = [(str(k), v) for k, v in items]
    elif isinstance(node, (ListConfig, list, tuple)):
        children = [(str(i), v) for i, v in enumerate(node)]
    else:
        return
    for key, value in children:
        path = f"{prefix}{key}"
        yield path
        yield from _flat_keys(value, path + ".")


def _unknown_key_error(key: str, cfg: Config, how_to_add: str) -> ConfigError:
    near = difflib.get_close_matches(key, list(_flat_keys(cfg)), n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(near)}?" if near else ""
    return ConfigError(f"Override key {key} is not in the config.{hint}{how_to_add}")


def _type_problem(old, new) -> Optional[str]:
    """Why ``new`` cannot replace ``old`` (a config value), or None."""
    if old is _MISSING or old is None or new is None:
        return None
    if isinstance(old, bool):
        return None if isinstance(new, bool) else "a boolean (True or False)"
    if isinstance(old, (int, float)):
        if isinstance(new, bool) or not isinstance(new, (int, float)):
            return "a number"
        if isinstance(old, int) and isinstance(new, float) and not new.is_integer():
            return "an integer"
        return None
    if isinstance(old, (list, tuple)) or OmegaConf.is_list(old):
        return None if isinstance(new, (list, tuple)) or OmegaConf.is_list(new) else "a list"
    if isinstance(old, str):
        return None if isinstance(new, (str, int, float)) else "a string"
    return None


def apply_lazy_overrides(cfg: DictConfig, overrides: Sequence[str]) -> DictConfig:
    """
    detectron2's ``LazyConfig.apply_overrides`` (Hydra's override grammar), checked before
    anything is built:

    * a key the config does not have is refused, naming the nearest existing keys
      (``train.max_iters`` -> "did you mean train.max_iter?"); ``+key=value`` adds a key on
      purpose, as in Hydra;
    * the new value must have the type of the value it replaces (a number for
      ``train.max_iter``, a list for ``model.pixel_mean``, ...).
    """
    keys = []
    for override in overrides:
        if "=" not in override:
            raise ConfigError(
                f"Override {override!r} is not of the form key=value (e.g. train.max_iter=1000)."
            )
        key = override.split("=", 1)[0]
        if key.startswith("~"):
            raise ConfigError(f"Override {override!r}: deleting a key is not supported.")
        adding = key.startswith("+")
        key = key.lstrip("+")
        old = OmegaConf.select(cfg, key, default=_MISSING)
        if old is _MISSING and not adding:
            raise _unknown_key_error(key, cfg, f" To add it on purpose, write +{override}.")
        keys.append((key, old))
    cfg = LazyConfig.apply_overrides(cfg, list(overrides))
    for (key, old), override in zip(keys, overrides):
        new = OmegaConf.select(cfg, key, default=None)
        problem = _type_problem(old, new)
        if problem is not None:
            raise ConfigError(
                f"Override {override!r}: {key} must be {problem}, like its value in the config "
                f"({old!r}); got {new!r}."
            )
    return cfg


def _merge_yaml_overrides(cfg: CfgNode, overrides: List[str]) -> None:
    if len(overrides) % 2:
        raise ConfigError(
            f"YAML overrides come in KEY VALUE pairs (e.g. SOLVER.MAX_ITER 1000); got {overrides}."
        )
    for key in overrides[0::2]:
        node = cfg
        for part in key.split("."):
            if not isinstance(node, CfgNode) or part not in node:
                raise _unknown_key_error(
                    key, cfg, " The keys of a YAML config are detectron2's and atss.config's."
                )
            node = node[part]
    try:
        cfg.merge_from_list(overrides)
    except (ValueError, AssertionError) as e:
        raise ConfigError(f"Override {overrides}: {e}") from None


# ------------------------------------------------------------------------------------------------
# Model and weights
# ------------------------------------------------------------------------------------------------
def get_weights(cfg: Config) -> str:
    """The checkpoint the config starts from: ``train.init_checkpoint`` or ``MODEL.WEIGHTS``."""
    if is_lazy(cfg):
        return OmegaConf.select(cfg, "train.init_checkpoint", default="") or ""
    return cfg.MODEL.WEIGHTS


def set_weights(cfg: Config, weights: str) -> None:
    if is_lazy(cfg):
        cfg.train.init_checkpoint = weights
    else:
        cfg.MODEL.WEIGHTS = weights


def build_model(cfg: Config, device: Optional[str] = None) -> nn.Module:
    """
    The config's model with its initial weights, on ``device`` (default: the config's), in
    training mode as detectron2 builds it.
    """
    if device is None:
        device = cfg.train.device if is_lazy(cfg) else cfg.MODEL.DEVICE
    if not get_num_classes(cfg):
        raise ConfigError(
            "The config's number of classes comes from the training set given by path: run it "
            "through train_net.py with its data (docs/custom_data.md), or set "
            f"{_num_classes_key(cfg).format('K')}."
        )
    if is_lazy(cfg):
        return instantiate(cfg.model).to(device)
    cfg = cfg.clone()
    cfg.defrost()
    cfg.MODEL.DEVICE = device  # detectron2's build_model moves the model there
    return build_yaml_model(cfg)


def load_model(
    cfg: Config,
    weights: Optional[str] = None,
    *,
    strict: bool = True,
    device: Optional[str] = None,
    allow_unloaded_weights: bool = False,
) -> nn.Module:
    """
    The config's model (:func:`build_model`) with ``weights`` loaded (default: the config's own,
    :func:`get_weights`). A model left with random weights, because there are none to load, is a
    ConfigError unless ``allow_unloaded_weights``.
    """
    model = build_model(cfg, device)
    weights = get_weights(cfg) if weights is None else weights
    if weights:
        load_weights(model, weights, strict=strict)
    elif not allow_unloaded_weights:
        raise ConfigError(
            "No weights to load, so the model would be random: give a checkpoint "
            "(train.init_checkpoint=/path/to/model.pth, or MODEL.WEIGHTS for a YAML config), "
            "or pass --allow-unloaded-weights to use random weights anyway."
        )
    return model


# ------------------------------------------------------------------------------------------------
# The user's own data
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class UserData:
    """
    The data a config takes by path (``dataset.train.annotations=...`` of a LazyConfig,
    ``DATASETS.TRAIN_ANNOTATIONS`` of a YAML one); empty strings where unset. ``keys`` names the
    config key of each field, for error messages.
    """

    train_annotations: str
    train_images: str
    test_annotations: str
    test_images: str
    keys: Dict[str, str]


_USER_FIELDS = ("train_annotations", "train_images", "test_annotations", "test_images")


def user_data(cfg: Config) -> Optional[UserData]:
    """The config's data by path, or None when it reads datasets registered by name."""
    if is_lazy(cfg):
        if OmegaConf.select(cfg, "dataset", default=None) is None:
            return None
        keys = {f: "dataset." + f.replace("_", ".") for f in _USER_FIELDS}
        values = {f: OmegaConf.select(cfg, keys[f], default="") or "" for f in keys}
    else:
        keys = {f: "DATASETS." + f.upper() for f in _USER_FIELDS}
        values = {f: cfg.DATASETS[f.upper()] for f in keys}
        # NUM_CLASSES 0 (configs/Custom/*.yaml) asks for the classes of data given by path.
        if not any(values.values()) and _yaml_head(cfg).NUM_CLASSES:
            return None
    return UserData(keys=keys, **values)


def get_drop_invalid(cfg: Config) -> bool:
    """Whether annotations with unusable boxes are dropped rather than refused."""
    if is_lazy(cfg):
        return bool(OmegaConf.select(cfg, "train.drop_invalid_annotations", default=False))
    return cfg.DATASETS.DROP_INVALID_ANNOTATIONS


def get_num_classes(cfg: Config) -> Optional[int]:
    """The number of classes the config's model predicts (None or 0: to be set from the data)."""
    if is_lazy(cfg):
        return OmegaConf.select(cfg, "model.num_classes", default=None)
    return _yaml_head(cfg).NUM_CLASSES


def _num_classes_key(cfg: Config) -> str:
    if is_lazy(cfg):
        return "model.num_classes={}"
    return f"MODEL.{cfg.MODEL.META_ARCHITECTURE.upper()}.NUM_CLASSES {{}}"


def _yaml_head(cfg: CfgNode) -> CfgNode:
    """AutoAssign keeps its keys in MODEL.AUTOASSIGN, ATSS in MODEL.ATSS."""
    return cfg.MODEL.AUTOASSIGN if cfg.MODEL.META_ARCHITECTURE == "AutoAssign" else cfg.MODEL.ATSS


def set_user_classes(cfg: Config, classes: Sequence[str], train: str, test: str) -> None:
    """
    Point the config at the registered user datasets ``train`` and ``test`` (empty: none) and
    record their ``classes``. The model's number of classes follows them where the config leaves
    it unset (None, or 0 in YAML); a different number is a ConfigError that gives the fix.
    """
    num_classes = get_num_classes(cfg)
    if num_classes and num_classes != len(classes):
        raise ConfigError(
            f"The training set has {len(classes)} classes ({', '.join(classes[:10])}"
            f"{', ...' if len(classes) > 10 else ''}) but the config's model predicts "
            f"{num_classes}: set {_num_classes_key(cfg).format(len(classes))}, or leave it unset "
            "to take the training set's."
        )
    if is_lazy(cfg):
        cfg.model.num_classes = len(classes)
        cfg.dataset.classes = list(classes)
        return
    _yaml_head(cfg).NUM_CLASSES = len(classes)
    cfg.DATASETS.CLASSES = list(classes)
    cfg.DATASETS.TRAIN = (train,)
    cfg.DATASETS.TEST = (test,) if test else ()


def dataset_classes(cfg: Config) -> List[str]:
    """The class names a config recorded from its user data (empty for registered datasets)."""
    if is_lazy(cfg):
        return list(OmegaConf.select(cfg, "dataset.classes", default=None) or [])
    return list(cfg.DATASETS.CLASSES)
