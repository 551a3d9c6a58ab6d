"""Command-line handling for train_net.py: its options, and options written after the config
overrides."""

import argparse
import logging

from detectron2.engine import default_argument_parser

from ..config import ConfigError

__all__ = ["argument_parser", "take_flags_from_overrides"]

logger = logging.getLogger(__name__)


def argument_parser() -> argparse.ArgumentParser:
    """detectron2's training options, and this project's."""
    parser = default_argument_parser()
    parser.add_argument(
        "--allow-unloaded-weights",
        action="store_true",
        help="with --eval-only, evaluate even when no checkpoint, or one providing less than 90%% "
        "of the model's weights, was loaded (random weights)",
    )
    parser.add_argument(
        "--compare-plain",
        action="store_true",
        help="with test-time augmentation (test.aug.enabled / TEST.AUG.ENABLED), also evaluate "
        "without it and print both side by side",
    )
    parser.add_argument(
        "--no-eval", action="store_true", help="train without evaluating, e.g. for a smoke run"
    )
    return parser


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
