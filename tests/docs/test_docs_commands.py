"""
Every ``python SCRIPT ...`` command line of the README, MODEL_ZOO.md and docs/ is one its script
accepts: the script runs up to its argument parser (so it imports), its ``--help`` exits 0, the
command's options parse, and its config overrides pass the config check of ``load_config`` (for
the repository's configs). Scripts run in this process, up to the point where they parse their
command line, one per script, so the walk takes seconds.
"""

import argparse
import contextlib
import io
import os
import runpy
import sys
import pytest

pytestmark = pytest.mark.detectron2
pytest.importorskip("detectron2", reason="detectron2 not installed")

from atss.engine.defaults import load_config
from markdown_docs import ROOT, by_script, markdown_files

COMMANDS = by_script(markdown_files())


class _ParserReached(Exception):
    def __init__(self, parser: argparse.ArgumentParser):
        super().__init__()
        self.parser = parser


def script_parser(script: str, monkeypatch) -> argparse.ArgumentParser:
    """Run ``script`` as ``__main__`` up to its first parse of the command line; its parser."""

    def reached(parser, args=None, namespace=None):
        raise _ParserReached(parser)

    with monkeypatch.context() as patch:
        patch.setattr(argparse.ArgumentParser, "parse_known_args", reached)
        patch.setattr(sys, "argv", [script, "--help"])
        patch.syspath_prepend(str((ROOT / script).parent))  # as `python SCRIPT` does
        try:
            runpy.run_path(str(ROOT / script), run_name="__main__")
        except _ParserReached as e:
            return e.parser
    raise AssertionError(f"{script} ended without parsing its command line")


def test_the_docs_name_the_main_scripts():
    assert {"train_net.py", "tools/deploy/export_model.py", "demo/demo.py"} <= set(COMMANDS)


@pytest.mark.parametrize("script", sorted(COMMANDS))
def test_each_documented_command_line_parses_and_its_overrides_pass_the_config_check(
    script, monkeypatch
):
    assert (ROOT / script).is_file(), f"{script} (in {COMMANDS[script][0][0]}) does not exist"
    if "parse_args" not in (ROOT / script).read_text():
        # A script without options (run in full, it would do its work): the docs give it none.
        assert all(not arguments for _, arguments in COMMANDS[script]), COMMANDS[script]
        return
    monkeypatch.chdir(ROOT)  # the docs' commands run from the repository root
    parser = script_parser(script, monkeypatch)
    with contextlib.redirect_stdout(io.StringIO()), pytest.raises(SystemExit) as help_exit:
        parser.parse_args(["--help"])
    assert help_exit.value.code == 0
    for where, arguments in COMMANDS[script]:
        stderr = io.StringIO()
        try:
            with contextlib.redirect_stderr(stderr):
                args = parser.parse_args(arguments)
        except SystemExit:
            pytest.fail(f"{where}\n{stderr.getvalue()}")
        config_file = getattr(args, "config_file", None)
        # Configs a run writes (published/...) are not in the repository to check against.
        if config_file and os.path.isfile(config_file):
            overrides = [o for o in (getattr(args, "opts", None) or []) if not o.startswith("--")]
            try:
                load_config(config_file, overrides)
            except Exception as e:
                pytest.fail(f"{where}\n{type(e).__name__}: {e}")
