"""train_net.py's options written after the config overrides."""

import pytest

pytestmark = pytest.mark.detectron2
pytest.importorskip("detectron2", reason="detectron2 not installed")

from atss.engine.arguments import argument_parser, take_flags_from_overrides  # noqa: E402


def test_flag_after_the_overrides_is_taken_and_unknown_options_are_rejected():
    parser = argument_parser()
    args = parser.parse_args(["--config-file", "c.py", "train.max_iter=3", "--resume"])
    args = take_flags_from_overrides(parser, args)
    assert args.resume and args.opts == ["train.max_iter=3"]
    args = parser.parse_args(["--config-file", "c.py", "train.max_iter=3", "--resum"])
    with pytest.raises(ValueError, match="Option --resum came after the config overrides"):
        take_flags_from_overrides(parser, args)
