"""Objects that no anchor is assigned to are counted per size in the metrics and warned about."""

import logging
import pytest

pytestmark = pytest.mark.detectron2
pytest.importorskip("detectron2", reason="detectron2 not installed")

import torch  # noqa: E402

from detectron2.structures import Boxes, Instances  # noqa: E402
from detectron2.utils.events import EventStorage  # noqa: E402

from atss.modeling import positives_metrics as metrics  # noqa: E402
from tiny_model import tiny_atss  # noqa: E402


def batch(boxes, size=64):
    instances = Instances((size, size))
    instances.gt_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32))
    instances.gt_classes = torch.zeros(len(boxes), dtype=torch.long)
    return [{"image": torch.rand(3, size, size) * 255, "instances": instances}]


def test_tiny_object_between_anchor_centres_is_counted_as_small_without_positives():
    torch.manual_seed(0)
    model = tiny_atss()
    # A 2-pixel object containing no anchor centre (centres at 4 + 8k at stride 8), and a large one.
    with EventStorage() as storage:
        model(batch([[9.0, 9.0, 11.0, 11.0], [4.0, 4.0, 60.0, 60.0]]))
    latest = {k: v for k, (v, _) in storage.latest().items()}
    assert latest["objects_without_positives"] == 0.5
    assert latest["objects_without_positives/small"] == 1.0
    assert latest["objects_without_positives/medium"] == 0.0


def test_large_fraction_without_positives_is_warned_once(caplog, monkeypatch):
    monkeypatch.setattr(metrics, "log_first_n", lambda lvl, msg, n, name: logging.warning(msg))
    boxes = torch.tensor([[0.0, 0.0, 3.0, 3.0], [0.0, 0.0, 50.0, 50.0]])
    with EventStorage() as storage, caplog.at_level(logging.WARNING):
        for _ in range(metrics.WINDOW - 1):
            metrics.log_objects_without_positives(torch.tensor([0.0, 9.0]), boxes, storage)
        assert "got no positive" not in caplog.text
        metrics.log_objects_without_positives(torch.tensor([0.0, 9.0]), boxes, storage)
    assert "50% of the objects of the last 20 iterations got no positive" in caplog.text
    assert "small 100%, medium 0%" in caplog.text


def test_small_fraction_without_positives_is_not_warned(caplog, monkeypatch):
    monkeypatch.setattr(metrics, "log_first_n", lambda lvl, msg, n, name: logging.warning(msg))
    boxes = torch.tensor([[0.0, 0.0, 50.0, 50.0]] * 9 + [[0.0, 0.0, 3.0, 3.0]])
    with EventStorage() as storage, caplog.at_level(logging.WARNING):
        for _ in range(2 * metrics.WINDOW):
            metrics.log_objects_without_positives(torch.tensor([9.0] * 9 + [0.0]), boxes, storage)
    assert "got no positive" not in caplog.text
