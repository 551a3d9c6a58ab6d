"""tools/publish_model.py: a run's output directory becomes a model-zoo entry, or an error."""

import json
import subprocess
import sys
import pytest

pytestmark = [pytest.mark.detectron2, pytest.mark.slow]  # subprocesses of a few seconds each
pytest.importorskip("detectron2", reason="detectron2 not installed")

import torch  # noqa: E402

from detectron2.config import LazyConfig  # noqa: E402

from atss.config import build_model, load_config  # noqa: E402
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
