"""Command-line overrides of a LazyConfig, checked before anything is built."""

import pytest

pytestmark = pytest.mark.detectron2
pytest.importorskip("detectron2", reason="detectron2 not installed")

from detectron2.config import LazyConfig  # noqa: E402

from atss.config import apply_lazy_overrides  # noqa: E402
from tiny_run import ROOT  # noqa: E402

SHAPES_CONFIG = str(ROOT / "configs/Shapes/atss_R_18_FPN_shapes.py")


@pytest.mark.parametrize(
    "override, expected",
    [
        ("train.max_iter=abc", "train.max_iter must be a number"),
        ("model.num_classes=five", "model.num_classes must be a number"),
        ("optimizer.lr=abc", "optimizer.lr must be a number"),
        ("model.num_classes=2.5", "model.num_classes must be an integer"),
    ],
)
def test_override_of_the_wrong_type_names_the_key(override, expected):
    with pytest.raises(ValueError, match=expected):
        apply_lazy_overrides(LazyConfig.load(SHAPES_CONFIG), [override])


def test_overrides_of_the_right_type_apply():
    cfg = apply_lazy_overrides(
        LazyConfig.load(SHAPES_CONFIG), ["train.max_iter=10", "optimizer.lr=1", "train.seed=3"]
    )
    assert (cfg.train.max_iter, cfg.optimizer.lr, cfg.train.seed) == (10, 1, 3)


def test_unknown_override_key_is_refused_with_the_nearest_keys():
    with pytest.raises(ValueError, match=r"train.max_iters is not in the config\. Did you mean "):
        apply_lazy_overrides(LazyConfig.load(SHAPES_CONFIG), ["train.max_iters=4"])


def test_a_key_is_added_on_purpose_with_a_plus():
    cfg = apply_lazy_overrides(LazyConfig.load(SHAPES_CONFIG), ["+train.note=hello"])
    assert cfg.train.note == "hello"
