"""Command-line handling for train_net.py: options written after the config overrides."""

import argparse
import logging

from ..config import ConfigError

__all__ = ["take_flags_from_overrides"]

logger = logging.getLogger(__name__)


def take_flags_from_overrides(parser: argparse.ArgumentParser, args: argparse.Namespace):
    """
    Options such as ``--resume`` written after the overrides land in ``args.opts`` (argparse's
    REMAINDER). Take this parser's flags (options without a value) from there, with a warning,
    and raise ConfigError for any other ``--option`` among the overrides.
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
            raise ConfigError(
                f"Option {token} came after the config overrides, where only overrides are "
                "read; write the options before the overrides."
            )
        else:
            opts.append(token)
    args.opts = opts
    return args
