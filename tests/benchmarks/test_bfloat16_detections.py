"""
``benchmarks/bfloat16_detections.py``: each float32 detection's bfloat16 twin is the detection of
its class that overlaps it most; the report fails on an AP difference or a share of twins outside
the tolerances; end to end it prints the table of both precisions for a checkpoint, and refuses a
missing config.
"""
import subprocess
import sys
from pathlib import Path
import pytest

pytestmark = pytest.mark.detectron2
pytest.importorskip("detectron2", reason="detectron2 not installed")

import torch  # noqa: E402

from detectron2.structures import Boxes, Instances  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bfloat16_detections import AP_TOLERANCE, TWIN_IOU, Comparison, report, twins  # noqa: E402
from tiny_run import TINY_CONFIG, run_refused, tiny_run_env  # noqa: E402


def detections(boxes, classes, scores) -> Instances:
    instances = Instances((100, 100))
    instances.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    instances.pred_classes = torch.tensor(classes)
    instances.scores = torch.tensor(scores)
    return instances


def test_a_twin_is_the_detection_of_the_same_class_that_overlaps_most():
    reference = detections([[0, 0, 10, 10]], [1], [0.9])
    other = detections([[0, 0, 10, 10], [0, 0, 10, 5], [0, 0, 10, 8]], [0, 1, 1], [0.5, 0.8, 0.7])
    iou, score_diff = twins(reference, other)
    assert torch.allclose(iou, torch.tensor([0.8]))
    assert torch.allclose(score_diff, torch.tensor([0.2]))


def test_a_detection_without_one_of_its_class_has_iou_0_and_no_score_difference():
    reference = detections([[0, 0, 10, 10], [20, 20, 30, 30]], [1, 0], [0.9, 0.6])
    for other in (detections([[0, 0, 10, 10]], [0], [0.9]), detections([], [], [])):
        iou, score_diff = twins(reference, other)
        assert iou.tolist() == [0.0, 0.0] and score_diff.isnan().all()


def comparison(ap_float32: float, ap_bfloat16: float, ious) -> Comparison:
    ap = {"AP": 0.0, "AP50": 0.0, "AP75": 0.0}
    return Comparison(
        ap={"float32": {**ap, "AP": ap_float32}, "bfloat16": {**ap, "AP": ap_bfloat16}},
        counts={"float32": len(ious), "bfloat16": len(ious)},
        iou=torch.tensor(ious),
        score_diff=torch.zeros(len(ious)),
    )


def failures(lines) -> list:
    return [line for line in lines if line.startswith("FAILED")]


def test_the_report_passes_within_the_tolerances():
    lines = report(comparison(40.0, 40.0 + AP_TOLERANCE, [1.0] * 99 + [0.5]), score=0.3)
    assert failures(lines) == []
    assert "99.0% at IoU >= 0.9" in "\n".join(lines)


def test_the_report_fails_on_an_ap_difference_beyond_the_tolerance():
    (failure,) = failures(report(comparison(40.0, 39.0, [1.0]), score=0.3))
    assert "AP differs" in failure


def test_the_report_fails_when_too_few_detections_have_a_close_twin():
    (failure,) = failures(report(comparison(40.0, 40.0, [1.0] * 9 + [TWIN_IOU - 0.01]), 0.3))
    assert "have a twin" in failure


# A model of the tiny config with its initial weights, saved as a checkpoint.
SAVE_INITIAL_WEIGHTS = """
import sys, torch
from atss.config import build_model, load_config
torch.manual_seed(0)
torch.save({"model": build_model(load_config(sys.argv[1], [])).state_dict()}, sys.argv[2])
"""


@pytest.mark.slow
def test_prints_both_precisions_ap_and_the_twins_of_a_checkpoint(tmp_path):
    env = tiny_run_env(tmp_path)
    config, weights = str(tmp_path / TINY_CONFIG), str(tmp_path / "model.pth")
    save = [sys.executable, "-c", SAVE_INITIAL_WEIGHTS, config, weights]
    subprocess.run(save, env=env, cwd=ROOT, check=True)
    proc = subprocess.run(
        [sys.executable, "benchmarks/bfloat16_detections.py", "--config-file", config]
        + ["--score", "0", f"train.init_checkpoint={weights}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = proc.stdout.splitlines()
    table = lines.index("| | AP | AP50 | AP75 | detections (score >= 0) |")
    assert lines[table + 2].startswith("| float32 | ")
    assert lines[table + 3].startswith("| bfloat16 | ")
    assert lines[table + 4].startswith("Twins of the ")
    assert lines[table + 5].startswith("AP difference (bfloat16 - float32): ")
    assert proc.returncode == (1 if failures(lines) else 0), proc.stderr[-3000:]


def test_refuses_to_run_without_a_config():
    assert "--config-file" in run_refused("benchmarks/bfloat16_detections.py").stdout
    proc = run_refused("benchmarks/bfloat16_detections.py", "--config-file", "missing.py")
    assert "missing.py" in proc.stdout
