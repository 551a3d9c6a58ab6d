"""
Loading a config, the one door of every entry point: a LazyConfig (``.py``, or the
``config.yaml`` detectron2 saves of one) or a YAML config of detectron2's keys with the ATSS ones
(:mod:`.defaults`), which is turned into the equivalent LazyConfig (:mod:`.yaml_config`), so that
this is the only module that tells the kinds apart. Command-line overrides are checked before
anything is built. A problem the user can fix (a missing or unknown file, a misspelled override
key) raises :class:`ConfigError` with one line naming it and the fix.
"""

import difflib
import os
import re
from typing import Iterator, List, Optional, Sequence
from omegaconf import DictConfig, ListConfig, OmegaConf

from detectron2.config import CfgNode, LazyConfig, get_cfg

from .defaults import add_atss_config
from .errors import ConfigError
from .model_keys import check_model_keys, grouped_key
from .yaml_config import lazy_config_from_yaml

__all__ = ["Config", "apply_lazy_overrides", "config_kind", "load_config"]

# Every config past the door is a LazyConfig.
Config = DictConfig

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


def load_config(path: str, overrides: Sequence[str] = ()) -> Config:
    """
    The LazyConfig of a LazyConfig file (``key=value`` overrides, see
    :func:`apply_lazy_overrides`) or of a YAML config with the ATSS keys (``KEY VALUE`` pairs,
    merged before it is turned into a LazyConfig). Unknown override keys are refused with the
    nearest existing ones.
    """
    kind = config_kind(path)
    if not os.path.isfile(path):
        raise ConfigError(
            f"Config file {path} does not exist (paths are relative to the current directory; "
            "the project's configs are under configs/)."
        )
    if kind == "lazy":
        cfg = apply_lazy_overrides(LazyConfig.load(path), overrides)
        check_model_keys(cfg)
        return cfg
    cfg = get_cfg()
    add_atss_config(cfg)
    try:
        cfg.merge_from_file(path)
    except (KeyError, ValueError, AssertionError) as e:  # yacs names the key
        raise ConfigError(f"Config file {path}: {e}") from None
    _merge_yaml_overrides(cfg, list(overrides))
    return lazy_config_from_yaml(cfg)


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
    new = grouped_key(cfg, key) if isinstance(cfg, DictConfig) else None
    if new is not None:
        return ConfigError(f"Override key {key} is now {new} (docs/configs.md).")
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
