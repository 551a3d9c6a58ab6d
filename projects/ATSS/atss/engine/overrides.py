"""Command-line handling for train_net.py: typed LazyConfig overrides, options after overrides."""

import argparse
import logging
from typing import List
from omegaconf import OmegaConf

from detectron2.config import LazyConfig

__all__ = ["apply_overrides_checked", "take_flags_from_overrides"]

logger = logging.getLogger(__name__)

_MISSING = object()


def _type_problem(old, new):
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


def apply_overrides_checked(cfg, overrides: List[str]):
    """
    detectron2's ``LazyConfig.apply_overrides``, after which every overridden value must have the
    type of the value it replaced (a number for ``train.max_iter``, ``optimizer.lr``,
    ``model.num_classes``; ...): otherwise a ValueError naming the key, before anything is built.
    """
    for override in overrides:
        if "=" not in override:
            raise ValueError(
                f"Override {override!r} is not of the form key=value (e.g. train.max_iter=1000)."
            )
    keys = [o.split("=", 1)[0].lstrip("+~") for o in overrides]
    old = {k: OmegaConf.select(cfg, k, default=_MISSING) for k in keys}
    cfg = LazyConfig.apply_overrides(cfg, overrides)
    for key, override in zip(keys, overrides):
        new = OmegaConf.select(cfg, key, default=None)
        problem = _type_problem(old[key], new)
        if problem is not None:
            raise ValueError(
                f"Override {override!r}: {key} must be {problem}, like its value in the config "
                f"({old[key]!r}); got {new!r}."
            )
    return cfg


def take_flags_from_overrides(parser: argparse.ArgumentParser, args: argparse.Namespace):
    """
    Options such as ``--resume`` written after the overrides land in ``args.opts`` (argparse's
    REMAINDER). Take this parser's flags (options without a value) from there, with a warning,
    and raise ValueError for any other ``--option`` among the overrides.
    """
    flags = {
        opt: action.dest
        for action in parser._actions
        if action.nargs == 0
        for opt in action.option_strings
    }
    opts = []
    for token in args.opts:
        if token in flags:
            setattr(args, flags[token], True)
            logger.warning(f"{token} came after the config overrides; it is taken as the option.")
        elif token.startswith("--"):
            raise ValueError(
                f"Option {token} came after the config overrides, where only overrides are "
                "read; write the options before the overrides."
            )
        else:
            opts.append(token)
    args.opts = opts
    return args
