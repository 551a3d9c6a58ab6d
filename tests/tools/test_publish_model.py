"""tools/publish_model.py: a run's output directory becomes a model-zoo entry, or an error."""

import json
import subprocess
import sys
import pytest

pytestmark = [pytest.mark.detectron2, pytest.mark.slow]  # subprocesses of a few seconds each
pytest.importorskip("detectron2", reason="detectron2 not installed")

import torch  # noqa: E402

from detectron2.config import LazyConfig  # noqa: E402

from atss.engine.defaults import build_model, load_config  # noqa: E402
from tiny_run import ROOT  # noqa: E402

SHAPES_CONFIG = ROOT / "configs/Shapes/atss_R_18_FPN_shapes.py"


def publish(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "tools/publish_model.py", *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """An output directory as train_net.py leaves it: config, checkpoint with its optimizer and
    iteration, and metrics with an evaluation."""
    run = tmp_path_factory.mktemp("run")
    cfg = load_config(str(SHAPES_CONFIG))
    LazyConfig.save(cfg, str(run / "config.yaml"))
    model = build_model(cfg, device="cpu")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    torch.save(
        {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "iteration": 99},
        run / "model_final.pth",
    )
    records = [{"iteration": 49, "total_loss": 2.0}, {"iteration": 99, "bbox/AP": 41.5,
               "bbox/AP50": 60.25, "bbox/AP-ring": 30.0}]  # fmt: skip
    (run / "metrics.json").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return run


def test_publishes_the_weights_config_and_metrics_and_prints_a_model_zoo_row(run_dir, tmp_path):
    proc = publish(str(run_dir), "--name", "shapes_r18", "--output", str(tmp_path))
    assert proc.returncode == 0, proc.stdout
    (checkpoint,) = (tmp_path / "shapes_r18").glob("model_final_*.pth")
    assert list(torch.load(checkpoint)) == ["model"]
    assert "${" not in (tmp_path / "shapes_r18" / "config.yaml").read_text()  # resolved
    metrics = json.loads((tmp_path / "shapes_r18" / "metrics.json").read_text())
    assert metrics == {"bbox/AP": 41.5, "bbox/AP50": 60.25, "bbox/AP-ring": 30.0}
    row = proc.stdout.strip().splitlines()[-1]
    assert row.startswith("| `shapes_r18` | 41.5 (AP50 60.2) | 100 |") and checkpoint.name in row


def test_a_missing_run_directory_is_one_line_naming_it(tmp_path):
    proc = publish(str(tmp_path / "nowhere"), "--name", "x", "--output", str(tmp_path))
    assert proc.returncode == 2 and "nowhere does not exist" in proc.stdout
    assert "Traceback" not in proc.stdout


def test_a_run_without_a_checkpoint_is_refused(run_dir, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_bytes((run_dir / "config.yaml").read_bytes())
    proc = publish(str(tmp_path / "run"), "--name", "x", "--output", str(tmp_path / "zoo"))
    assert proc.returncode == 2 and "holds no model_final.pth" in proc.stdout


def test_the_name_is_required():
    proc = publish("output/run")
    assert proc.returncode == 2 and "--name" in proc.stdout


@pytest.fixture(scope="module")
def run_with_best(run_dir, tmp_path_factory):
    """The run of ``run_dir`` with a best checkpoint at iteration 49 and its threshold."""
    run = tmp_path_factory.mktemp("run_with_best")
    for name in ("config.yaml", "model_final.pth"):
        (run / name).write_bytes((run_dir / name).read_bytes())
    model = torch.load(run_dir / "model_final.pth")["model"]
    best = {"model": {k: v + 1 for k, v in model.items()}, "iteration": 49}
    torch.save(best, run / "model_best.pth")
    records = [
        {"iteration": 49, "bbox/AP": 45.0, "bbox/AP50": 60.0, "report/score_threshold": 0.42,
         "report/f1": 0.8,
         "report/precision": 0.9, "report/recall": 0.72},
        {"iteration": 100, "bbox/AP": 41.5, "bbox/AP50": 58.0, "report/score_threshold": 0.3,
         "report/f1": 0.7,
         "report/precision": 0.7, "report/recall": 0.7},
    ]  # fmt: skip
    (run / "metrics.json").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    threshold = dict(score_threshold=0.42, f1=0.8, precision=0.9, recall=0.72, iou=0.5,
                     dataset="custom_test", iteration=49, checkpoint="model_best.pth")  # fmt: skip
    (run / "score_threshold.json").write_text(json.dumps(threshold))
    return run


def test_the_best_checkpoint_is_published_by_default_with_its_metrics_and_threshold(
    run_with_best, tmp_path
):
    proc = publish(str(run_with_best), "--name", "best", "--output", str(tmp_path))
    assert proc.returncode == 0, proc.stdout
    assert f"Took {run_with_best / 'model_best.pth'} (iteration 50, bbox/AP 45.00)" in proc.stdout
    assert "Recommended score threshold: 0.42" in proc.stdout
    (checkpoint,) = (tmp_path / "best").glob("model_final_*.pth")
    best = torch.load(run_with_best / "model_best.pth")["model"]
    assert all(torch.equal(v, best[k]) for k, v in torch.load(checkpoint)["model"].items())
    metrics = json.loads((tmp_path / "best" / "metrics.json").read_text())
    assert metrics == {"bbox/AP": 45.0, "bbox/AP50": 60.0}
    saved = json.loads((tmp_path / "best" / "score_threshold.json").read_text())
    assert saved["score_threshold"] == 0.42 and saved["checkpoint"] == "model_best.pth"


def test_the_final_checkpoint_on_request_with_the_threshold_of_its_evaluation(
    run_with_best, tmp_path
):
    proc = publish(
        str(run_with_best), "--name", "final", "--output", str(tmp_path), "--checkpoint", "final"
    )
    assert proc.returncode == 0, proc.stdout
    assert f"Took {run_with_best / 'model_final.pth'}" in proc.stdout
    saved = json.loads((tmp_path / "final" / "score_threshold.json").read_text())
    assert saved["score_threshold"] == 0.3 and saved["checkpoint"] == "model_final.pth"


def test_a_run_without_a_best_checkpoint_publishes_its_final_one(run_dir, tmp_path):
    proc = publish(str(run_dir), "--name", "x", "--output", str(tmp_path))
    assert f"Took {run_dir / 'model_final.pth'}" in proc.stdout
    assert "recommended no score threshold" in proc.stdout
    assert not (tmp_path / "x" / "score_threshold.json").exists()
