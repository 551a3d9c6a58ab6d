"""
train_net.py end to end on a CPU, as a user runs it: a short schedule of the shapes config learns
to detect (COCO AP50 from COCOEvaluator), --eval-only reproduces the AP of the saved checkpoint,
--resume continues an interrupted run at the right iteration, and the YAML route trains.
"""

import json
import os
import re
import shutil
from pathlib import Path
import pytest

pytestmark = [pytest.mark.detectron2, pytest.mark.slow]
pytest.importorskip("detectron2", reason="detectron2 not installed")

import tiny_run  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SHAPES_CONFIG = "configs/Shapes/atss_R_18_FPN_shapes.py"

# A short schedule (the main job runs 1000 iterations of 16 images). Measured on 2 CPU cores with
# these arguments: bbox AP50 19.2 and 18.1 after it (seeds 0 and 1); an untrained model scores
# about 0. The threshold is below half the lowest measurement, for other CPUs and BLAS builds.
ITERATIONS = 300
BATCH = 16
CHECKPOINT_PERIOD = 150
MIN_AP50 = 9.0


def run_train_net(datasets: Path, *args: str, succeeds: bool = True) -> str:
    """Run ``python train_net.py *args`` from the project directory; returns its output."""
    env = dict(os.environ, ATSS_DATASETS=str(datasets))
    proc = tiny_run.run_train_net(env, *args, timeout=900)
    assert (proc.returncode == 0) == succeeds, proc.stdout[-5000:]
    return proc.stdout


def bbox_results(log: str) -> dict:
    """The last bbox metrics printed by detectron2's ``print_csv_format``."""
    lines = [line.split("copypaste: ", 1)[1] for line in log.splitlines() if "copypaste: " in line]
    task = max(i for i, line in enumerate(lines) if line == "Task: bbox")
    names, values = lines[task + 1].split(","), lines[task + 2].split(",")
    return {name: float(value) for name, value in zip(names, values)}


def iterations_run(output_dir: Path) -> list:
    with open(output_dir / "metrics.json") as f:
        return [json.loads(line)["iteration"] for line in f if '"iteration"' in line]


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("datasets")


@pytest.fixture(scope="module")
def trained(datasets, tmp_path_factory):
    """A short training run of the shapes config: its output directory and log."""
    output_dir = tmp_path_factory.mktemp("shapes_run")
    log = run_train_net(
        datasets,
        "--config-file",
        SHAPES_CONFIG,
        f"train.max_iter={ITERATIONS}",
        f"train.eval_period={ITERATIONS}",
        f"train.checkpointer.period={CHECKPOINT_PERIOD}",
        f"dataloader.train.total_batch_size={BATCH}",
        f"train.output_dir={output_dir}",
    )
    return output_dir, log


def test_short_training_learns_to_detect_shapes(trained):
    _, log = trained
    assert bbox_results(log)["AP50"] > MIN_AP50


def test_training_reports_progress_with_eta_and_the_coco_ap_table(trained):
    _, log = trained
    assert re.search(r"eta: \d+:\d\d:\d\d\s+iter: \d+", log)
    assert "Evaluation results for bbox" in log
    assert re.search(r"\|\s+AP\s+\|\s+AP50\s+\|\s+AP75\s+\|", log)


def test_eval_only_reproduces_the_ap_of_the_saved_checkpoint(trained, datasets):
    output_dir, log = trained
    eval_log = run_train_net(
        datasets,
        "--config-file",
        SHAPES_CONFIG,
        "--eval-only",
        f"train.init_checkpoint={output_dir / 'model_final.pth'}",
        f"train.output_dir={output_dir / 'eval'}",
    )
    assert bbox_results(eval_log) == bbox_results(log)


def test_resume_continues_an_interrupted_run_from_its_last_checkpoint(trained, datasets, tmp_path):
    # The run "stopped" after its first periodic checkpoint: only that checkpoint is on disk.
    output_dir, _ = trained
    checkpoint = f"model_{CHECKPOINT_PERIOD - 1:07d}.pth"
    shutil.copy(output_dir / checkpoint, tmp_path / checkpoint)
    (tmp_path / "last_checkpoint").write_text(checkpoint)
    log = run_train_net(
        datasets,
        "--config-file",
        SHAPES_CONFIG,
        "--resume",
        f"train.max_iter={CHECKPOINT_PERIOD + 10}",
        f"dataloader.train.total_batch_size={BATCH}",
        f"train.output_dir={tmp_path}",
    )
    assert f"Starting training from iteration {CHECKPOINT_PERIOD}" in log
    # Started over, the run would also have logged iterations 19, 39, ... (log period 20).
    iterations = iterations_run(tmp_path)
    assert min(iterations) >= CHECKPOINT_PERIOD
    assert max(iterations) >= CHECKPOINT_PERIOD + 9
    assert (tmp_path / "model_final.pth").is_file()


YAML_ON_SHAPES = [
    "--config-file",
    "configs/ATSS/atss_R_50_FPN_1x.yaml",
    "MODEL.DEVICE",
    "cpu",
    "MODEL.WEIGHTS",
    "",
    "DATASETS.TRAIN",
    "('shapes_train',)",
    "DATASETS.TEST",
    "('shapes_val',)",
    "INPUT.MIN_SIZE_TRAIN",
    "(128,)",
    "INPUT.MIN_SIZE_TEST",
    "128",
    "SOLVER.IMS_PER_BATCH",
    "2",
    "SOLVER.MAX_ITER",
    "3",
    "DATALOADER.NUM_WORKERS",
    "0",
]


def test_yaml_config_trains_and_evaluates_through_the_same_script(datasets, tmp_path):
    log = run_train_net(
        datasets, *YAML_ON_SHAPES, "MODEL.ATSS.NUM_CLASSES", "5", "OUTPUT_DIR", str(tmp_path)
    )
    assert "Starting training from iteration 0" in log
    assert max(iterations_run(tmp_path)) >= 2
    assert (tmp_path / "model_final.pth").is_file()
    assert "Evaluation results for bbox" in log


@pytest.mark.parametrize("route", ["yaml", "lazy"])
def test_dataset_with_other_classes_than_the_model_is_a_clear_error(datasets, tmp_path, route):
    if route == "yaml":
        args, fix = [*YAML_ON_SHAPES, "OUTPUT_DIR", str(tmp_path)], "MODEL.ATSS.NUM_CLASSES 5"
    else:
        args = ["--config-file", SHAPES_CONFIG, "model.num_classes=80"]
        args, fix = [*args, f"train.output_dir={tmp_path}"], "model.num_classes=5"
    log = run_train_net(datasets, *args, succeeds=False)
    assert "ValueError: Dataset 'shapes_train' has 5 classes" in log
    assert fix in log


def test_without_detectron2_cpp_extension_coco_evaluation_uses_pycocotools(monkeypatch):
    from detectron2.config import LazyConfig

    from atss.engine import data_setup

    monkeypatch.setattr(data_setup, "has_fast_coco_eval", lambda: False)
    cfg = LazyConfig.load(str(ROOT / SHAPES_CONFIG))
    data_setup.configure_lazy_data(cfg)
    assert cfg.dataloader.evaluator.use_fast_impl is False


def test_no_eval_trains_without_the_final_evaluation(tmp_path):
    env = tiny_run.tiny_run_env(tmp_path)
    out = tmp_path / "out"
    args = ["--config-file", str(tmp_path / tiny_run.TINY_CONFIG), "--no-eval"]
    proc = tiny_run.run_train_net(env, *args, "train.max_iter=2", f"train.output_dir={out}")
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert "Evaluation results" not in proc.stdout
    assert (out / "model_final.pth").is_file()
