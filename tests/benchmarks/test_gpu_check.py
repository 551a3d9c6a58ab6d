"""
``benchmarks/gpu_check.py`` without a GPU: it refuses to pass when CUDA is missing, its figure
targets and detection comparison decide as specified, and ``--device cpu --tiny`` runs every step
of the check on the CPU and prints the table.
"""
import os
import subprocess
import sys
from pathlib import Path
import pytest
import torch

pytestmark = pytest.mark.detectron2
pytest.importorskip("detectron2", reason="detectron2 not installed")

from detectron2.structures import Boxes, Instances

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_check  # noqa: E402
from gpu_check import ATSS, FAIL, FCOS, PASS  # noqa: E402


def detections(boxes, scores, classes) -> Instances:
    instances = Instances((100, 100))
    instances.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    instances.scores = torch.tensor(scores)
    instances.pred_classes = torch.tensor(classes)
    return instances


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_without_cuda_it_measures_nothing_and_exits_non_zero(capsys):
    assert gpu_check.main([]) == 1
    assert capsys.readouterr().out.strip() == "no CUDA device: nothing measured"


def step_seconds(atss_fp32, fcos_fp32, atss_amp, fcos_amp):
    return {
        (ATSS, False): atss_fp32,
        (FCOS, False): fcos_fp32,
        (ATSS, True): atss_amp,
        (FCOS, True): fcos_amp,
    }


def test_speed_targets_pass_at_the_figure_targets():
    rows = gpu_check.speed_target_rows(step_seconds(1.0, 1.0, 0.6, 0.7), checked=True)
    assert [r.status for r in rows] == [PASS, PASS, PASS]
    assert [r.measured for r in rows] == ["1.00x", "0.86x", "1.67x"]


def test_speed_targets_fail_when_atss_is_slower_than_fcos_or_amp_gains_too_little():
    rows = gpu_check.speed_target_rows(step_seconds(1.1, 1.0, 0.8, 0.7), checked=True)
    assert [r.status for r in rows] == [FAIL, FAIL, FAIL]


def test_speed_targets_are_not_checked_on_tiny_runs():
    rows = gpu_check.speed_target_rows(step_seconds(2.0, 1.0, 2.0, 1.0), checked=False)
    assert all(r.status not in (PASS, FAIL) for r in rows)


def test_detections_match_in_any_order_within_the_tolerance():
    a = detections([[10, 10, 50, 50], [20, 20, 80, 90]], [0.9, 0.5], [1, 2])
    b = detections([[20, 20, 80.05, 90], [10, 10, 50, 50]], [0.5002, 0.9], [2, 1])
    same, worst = gpu_check.compare_detections(a, b)
    assert same == 2
    assert worst == pytest.approx(0.05 / 80.05, rel=1e-3)


@pytest.mark.parametrize(
    "boxes, score, label",
    [([10, 10, 50.1, 50], 0.9, 1), ([10, 10, 50, 50], 0.9011, 1), ([10, 10, 50, 50], 0.9, 2)],
    ids=["box", "score", "class"],
)
def test_a_detection_off_by_more_than_the_tolerance_has_no_twin(boxes, score, label):
    same, _ = gpu_check.compare_detections(
        detections([boxes], [score], [label]), detections([[10, 10, 50, 50]], [0.9], [1])
    )
    assert same == 0


def test_the_cuda_tests_are_found_by_their_skip_reason():
    files = gpu_check.cuda_test_files()
    assert "tests/assignment/test_assignment.py" in files
    assert "tests/assignment/test_anchor_grid.py" in files


@pytest.mark.slow
def test_tiny_cpu_run_prints_every_row_and_passes():
    env = dict(os.environ)
    paths = [str(ROOT / "projects" / "ATSS"), env.get("PYTHONPATH")]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
    proc = subprocess.run(
        [sys.executable, "benchmarks/gpu_check.py", "--device", "cpu", "--tiny"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    table = proc.stdout[proc.stdout.index("| check |"):].strip().splitlines()
    checks = [line.split(" | ")[0].lstrip("| ") for line in table[2:]]
    assert checks[0] == "CUDA tests of the suite (pytest)"
    assert any(c.startswith(f"train step {ATSS}") for c in checks)
    assert any(c.startswith(f"train step {FCOS}") for c in checks)
    for prefix in (
        "ATSS / FCOS train step time, float32",
        "ATSS AMP / float32 throughput",
        "inference batch 1, eager",
        "inference batch 1, TorchScript",
        "inference batch 1, ONNX Runtime",
        "ATSS dcnv2 R-50 FPN, cpu",
        "AMP training of ATSS R-50 FPN",
    ):
        assert any(c.startswith(prefix) for c in checks), prefix
    assert " FAIL " not in proc.stdout
