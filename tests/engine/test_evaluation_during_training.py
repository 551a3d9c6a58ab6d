"""
Evaluation during training on the user's own data (configs/Custom, docs/evaluation.md): the run
keeps model_best.pth, writes the evaluation report and the validation loss, stops early when AP
stops improving, refuses options that cannot work before training, and the published best
checkpoint is drawn by the demo at its recommended threshold.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
import pytest

pytestmark = [pytest.mark.detectron2, pytest.mark.slow]
pytest.importorskip("detectron2", reason="detectron2 not installed")

import torch  # noqa: E402

from atss.evaluation import read_recommended_threshold  # noqa: E402
from atss.model_zoo.publish import publish_run  # noqa: E402
from custom_data import write_custom_data  # noqa: E402
from test_custom_training import ENV, train  # noqa: E402
from tiny_run import ROOT  # noqa: E402

REPORT_FILES = {"report.json", "pr_curves.png", "score_threshold.png", "confusion_matrix.png"}
# A model that is not trained keeps every detection, so that each evaluation has some.
KEEP_ALL = "model.inference.score_thresh=0.0"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_custom_data(tmp_path_factory.mktemp("custom"))


@pytest.fixture(scope="module")
def periodic_run(data, tmp_path_factory):
    """The Custom CPU config (early stopping on), 20 iterations evaluated every 10."""
    output_dir = tmp_path_factory.mktemp("periodic")
    return train(data, output_dir, "coco_train", "coco_test", KEEP_ALL), output_dir


def records(output_dir: Path):
    return [json.loads(line) for line in (output_dir / "metrics.json").read_text().splitlines()]


def test_a_periodic_run_keeps_the_best_checkpoint_and_records_it(periodic_run):
    proc, output_dir = periodic_run
    assert proc.returncode == 0, proc.stdout[-5000:]
    best = torch.load(output_dir / "model_best.pth", weights_only=False)
    evaluations = [r for r in records(output_dir) if "bbox/AP" in r]
    # detectron2's trainer stores the final evaluation after the last iteration (19).
    assert [r["iteration"] for r in evaluations] == [9, 20]
    best_record = max(evaluations, key=lambda r: r["bbox/AP"])  # the first of equal ones
    assert best["iteration"] == best_record["iteration"]
    assert evaluations[-1]["best/bbox/AP"] == best_record["bbox/AP"]
    assert evaluations[-1]["best/iteration"] == best_record["iteration"]
    # --resume continues from the newest checkpoint, not from the best one.
    assert (output_dir / "last_checkpoint").read_text() == "model_final.pth"


def test_each_evaluation_writes_the_report_and_the_validation_loss(periodic_run):
    proc, output_dir = periodic_run
    assert REPORT_FILES <= {p.name for p in (output_dir / "report").iterdir()}
    report = json.loads((output_dir / "report" / "report.json").read_text())
    assert report["iteration"] == 20 and report["classes"] == ["box", "traffic cone", "ellipse"]
    assert len(report["confusion_matrix"]["counts"]) == 4
    assert "AP per category and object size" in proc.stdout and "Recommended score" in proc.stdout
    for record in (r for r in records(output_dir) if "bbox/AP" in r):
        assert record["validation/total_loss"] > 0 and "validation/loss_cls" in record
        assert 0 <= record["report/score_threshold"] <= 1


def test_resume_keeps_the_best_so_far(periodic_run, data, tmp_path):
    _, output_dir = periodic_run
    resumed_dir = tmp_path / "resumed"
    shutil.copytree(output_dir, resumed_dir)
    before = json.loads((resumed_dir / "model_best.json").read_text())
    proc = train(
        data, resumed_dir, "coco_train", "coco_test", KEEP_ALL, "train.max_iter=30", "--resume"
    )
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert f"Resumed with the best bbox/AP so far: {before['value']:.4f}" in proc.stdout
    after = [r for r in records(resumed_dir) if r["iteration"] > 20 and "bbox/AP" in r]
    assert after and all(r["best/bbox/AP"] >= before["value"] for r in after)


def test_the_recommended_threshold_of_the_best_evaluation_is_saved_beside_the_config(
    periodic_run,
):
    _, output_dir = periodic_run
    saved = read_recommended_threshold(str(output_dir / "config.yaml"))
    best = torch.load(output_dir / "model_best.pth", weights_only=False)["iteration"]
    record = next(r for r in records(output_dir) if r["iteration"] == best and "bbox/AP" in r)
    assert saved.checkpoint == "model_best.pth" and saved.iteration == best
    assert saved.score_threshold == record["report/score_threshold"]
    assert saved.dataset == "custom_test"


def test_a_run_whose_ap_stops_improving_stops_early_and_ends_as_a_finished_one(data, tmp_path):
    # At learning rate 0 the model does not learn (only BatchNorm's statistics move): its AP
    # stays below the 5 points a gain must exceed, evaluations 2 and 3 bring none, and
    # patience 2 stops the run after the third (iteration 6 of 20).
    proc = train(
        data, tmp_path, "coco_train", "coco_test", KEEP_ALL, "optimizer.lr=0.0",
        "train.eval_period=2", "train.early_stop.patience=2", "train.early_stop.min_delta=5",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert "Early stopping at iteration 6 of 20: bbox/AP has not improved" in proc.stdout
    assert "Traceback" not in proc.stdout
    assert torch.load(tmp_path / "model_final.pth", weights_only=False)["iteration"] == 5
    assert torch.load(tmp_path / "model_best.pth", weights_only=False)["iteration"] == 1
    assert REPORT_FILES <= {p.name for p in (tmp_path / "report").iterdir()}
    assert max(r["iteration"] for r in records(tmp_path)) == 5


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.early_stop.metric=bbox/mAP", "train.early_stop.metric='bbox/mAP' is not a metric"),
        ("train.best_checkpoint.metric=AP", "train.best_checkpoint.metric='AP' is not a metric"),
        ("train.early_stop.patience=0", "train.early_stop.patience=0: give the number"),
        ("train.eval_period=40", "train.eval_period=40 with train.max_iter=20"),
    ],
)
def test_options_that_cannot_work_are_refused_before_training(data, tmp_path, override, message):
    proc = train(data, tmp_path / "out", "coco_train", "coco_test", override)
    assert proc.returncode != 0 and message in proc.stdout, proc.stdout[-3000:]
    assert "Traceback" not in proc.stdout
    assert not (tmp_path / "out").exists()


def run_tool(*args: str):
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, timeout=600,
    )  # fmt: skip


@pytest.fixture(scope="module")
def published(periodic_run, tmp_path_factory):
    _, output_dir = periodic_run
    zoo = tmp_path_factory.mktemp("zoo")
    proc = run_tool(
        "tools/publish_model.py", str(output_dir), "--name", "tiny", "--output", str(zoo)
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert f"Took {output_dir / 'model_best.pth'}" in proc.stdout
    return zoo / "tiny", proc


def test_publishing_keeps_the_recommended_threshold(published, periodic_run):
    entry, proc = published
    _, output_dir = periodic_run
    run_threshold = read_recommended_threshold(str(output_dir / "config.yaml"))
    assert read_recommended_threshold(str(entry / "config.yaml")) == run_threshold
    assert f"Recommended score threshold: {run_threshold.score_threshold:.2f}" in proc.stdout


def drawn_counts(stdout: str):
    return [int(n) for n in re.findall(r"detected (\d+) instances", stdout)]


def test_the_demo_draws_a_published_model_at_its_recommended_threshold(published, data, tmp_path):
    entry, _ = published
    threshold = read_recommended_threshold(str(entry / "config.yaml")).score_threshold
    (checkpoint,) = entry.glob("model_final_*.pth")
    images = sorted(str(p) for p in (data["coco_test"].parent / "images").glob("*.png"))
    demo = [
        "demo/demo.py", "--config-file", str(entry / "config.yaml"), "--input", *images,
        "--output", str(tmp_path),
    ]  # fmt: skip
    opts = ["--opts", f"train.init_checkpoint={checkpoint}", KEEP_ALL]
    proc = run_tool(*demo, *opts)
    assert proc.returncode == 0, proc.stdout[-3000:]
    origin = f"{entry / 'score_threshold.json'}: the F1-maximising threshold of model_best.pth"
    assert f"score >= {threshold:.2f}: {origin}" in proc.stdout
    everything = run_tool(*demo, "--confidence-threshold", "0", *opts)
    assert "score >= 0.00: given on the command line" in everything.stdout
    assert sum(drawn_counts(proc.stdout)) <= sum(drawn_counts(everything.stdout))


def test_publishing_without_a_best_checkpoint_takes_the_final_one_and_says_so(
    periodic_run, tmp_path
):
    _, output_dir = periodic_run
    entry = publish_run(str(output_dir), "final", str(tmp_path), checkpoint="final")
    assert entry.source == str(output_dir / "model_final.pth")
    record = [r for r in records(output_dir) if "bbox/AP" in r][-1]
    assert entry.score_threshold == record["report/score_threshold"]
    assert read_recommended_threshold(str(tmp_path / "final" / "config.yaml")).checkpoint == (
        "model_final.pth"
    )


def test_the_exporter_saves_the_recommended_threshold_beside_the_model(published, data, tmp_path):
    entry, _ = published
    (checkpoint,) = entry.glob("model_final_*.pth")
    image = sorted((data["coco_test"].parent / "images").glob("*.png"))[0]
    proc = run_tool(
        "tools/deploy/export_model.py", "--config-file", str(entry / "config.yaml"),
        "--output", str(tmp_path), "--sample-image", str(image),
        f"train.init_checkpoint={checkpoint}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:]
    exported = read_recommended_threshold(str(tmp_path / "model.ts"))
    assert exported == read_recommended_threshold(str(entry / "config.yaml"))
