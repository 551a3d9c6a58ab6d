"""
atss.visualization: training curves read from metrics.json with clear errors, rule parameters
taken from the config, and the assignment views built from the project's own rules.
"""

import json
from pathlib import Path
import pytest

pytestmark = pytest.mark.detectron2
pytest.importorskip("detectron2", reason="detectron2 not installed")
pytest.importorskip("matplotlib", reason="the [notebooks] extra is not installed")

import numpy as np
import cv2
import torch

from atss.assignment import atss_assign, fcos_assign
from atss.visualization import (
    annotated_mapper,
    curve_panels,
    load_metrics,
    metric_series,
    model_and_config,
    positives_vs_size,
    view_assignment,
)

ROOT = Path(__file__).resolve().parents[2]
SHAPES_CONFIG = str(ROOT / "configs/Shapes/atss_R_18_FPN_shapes.py")


@pytest.fixture(scope="module")
def shapes_model():
    return model_and_config(SHAPES_CONFIG, overrides=["model.assignment.topk=5"])


def one_image(tmp_path, boxes):
    """A dataset dict of a blank 96x128 image with the given XYXY boxes."""
    path = tmp_path / "image.png"
    cv2.imwrite(str(path), np.zeros((96, 128, 3), np.uint8))
    annotations = [{"bbox": b, "bbox_mode": 0, "category_id": 0} for b in boxes]
    return {
        "file_name": str(path),
        "height": 96,
        "width": 128,
        "image_id": 0,
        "annotations": annotations,
    }


def write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_metrics_are_read_per_key_with_their_iterations(tmp_path):
    path = write_lines(
        tmp_path / "metrics.json",
        [
            json.dumps({"iteration": 19, "total_loss": 2.0, "lr": 0.1, "num_pos_anchors/p3": 4}),
            json.dumps({"iteration": 39, "total_loss": 1.5, "lr": 0.2}),
            json.dumps({"iteration": 39, "bbox/AP": 12.5}),
        ],
    )
    records = load_metrics(path)
    iterations, values = metric_series(records, "total_loss")
    assert iterations.tolist() == [19, 39] and values.tolist() == [2.0, 1.5]
    assert curve_panels(records) == {
        "losses": ["total_loss"],
        "learning rate": ["lr"],
        "positives per image": ["num_pos_anchors/p3"],
        "AP": ["bbox/AP"],
    }


def test_a_line_that_is_not_json_is_named_by_file_and_line(tmp_path):
    path = write_lines(tmp_path / "metrics.json", [json.dumps({"iteration": 1}), "{oops"])
    with pytest.raises(ValueError, match=r"metrics.json, line 2: not JSON"):
        load_metrics(path)


def test_a_record_without_iteration_is_refused(tmp_path):
    path = write_lines(tmp_path / "metrics.json", [json.dumps({"total_loss": 1.0})])
    with pytest.raises(ValueError, match="line 1: not a record with an 'iteration'"):
        load_metrics(path)


def test_a_missing_metrics_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_metrics(str(tmp_path / "metrics.json"))


def test_the_model_exposes_the_rule_parameters_of_its_config_overrides(shapes_model):
    model, cfg = shapes_model
    assert model.assignment.topk == 5
    assert model.anchor_generator.strides == [4, 8, 16]
    assert model.assignment.size_ranges[-1] == (64, float("inf"))


def test_view_holds_the_rules_own_assignments(shapes_model, tmp_path):
    model, cfg = shapes_model
    boxes = [[10.0, 12.0, 50.0, 40.0], [60.0, 20.0, 120.0, 90.0]]
    view = view_assignment(model, annotated_mapper(cfg), one_image(tmp_path, boxes), rules=["fcos"])
    assert set(view.assigned) == {"atss", "fcos"}
    assert torch.equal(
        view.assigned["atss"], atss_assign(view.anchors_per_level, view.gt_boxes, topk=5)
    )
    expected = fcos_assign(
        view.anchors_per_level,
        model.anchor_generator.strides,
        view.gt_boxes,
        size_ranges=view.params.size_ranges,
    )
    assert torch.equal(view.assigned["fcos"], expected)
    assert view.candidates.shape == (2, sum(min(5, n) for n in view.num_anchors_per_level))


def test_unknown_rule_names_the_registered_ones(shapes_model, tmp_path):
    model, cfg = shapes_model
    with pytest.raises(ValueError, match="Unknown assignment rule 'nope'; registered"):
        view_assignment(
            model,
            annotated_mapper(cfg),
            one_image(tmp_path, [[0.0, 0.0, 9.0, 9.0]]),
            rules=["nope"],
        )


def test_a_dataset_without_objects_is_refused(shapes_model, tmp_path):
    model, cfg = shapes_model
    with pytest.raises(ValueError, match="no annotated image"):
        positives_vs_size(model, annotated_mapper(cfg), [one_image(tmp_path, [])])
