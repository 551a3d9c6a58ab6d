"""
``benchmarks/quick_start.py``: it runs train_net.py on a recipe with a fresh dataset directory,
reads the AP after each evaluation with the wall and CPU time so far, prints the side-by-side table
and draws the plot; it gives the Custom CPU config the shapes by path; it refuses a used output
directory and names the log of a run that fails.
"""
import json
import subprocess
import sys
from pathlib import Path
import pytest

pytestmark = [pytest.mark.detectron2, pytest.mark.slow]
pytest.importorskip("detectron2", reason="detectron2 not installed")

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from quick_start import Point, Run, per_run, spread, summary  # noqa: E402

# Four iterations of two images: the mechanics, not the AP.
TINY = ["train.max_iter=4", "dataloader.train.total_batch_size=2", "train.checkpointer.period=100"]


def quick_start(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "benchmarks/quick_start.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def benchmark_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("quick_start")
    proc = quick_start(
        "--recipes", "quick", "--evals", "2", "--output-dir", str(out / "runs"),
        "--plot", str(out / "curve.png"), *TINY,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc.stdout


def test_each_evaluation_gives_a_point_with_wall_and_cpu_time(benchmark_run):
    out, _ = benchmark_run
    (run,) = json.loads((out / "runs" / "results.json").read_text())
    assert [p["iteration"] for p in run["points"]] == [2, 4]
    walls = [p["wall_s"] for p in run["points"]]
    assert 0 < walls[0] < walls[1] <= run["wall_s"]
    assert 0 < run["points"][0]["cpu_s"] <= run["cpu_s"]
    assert all(0 <= p["ap"] <= 100 for p in run["points"])


def test_the_dataset_is_generated_for_the_run(benchmark_run):
    out, _ = benchmark_run
    shapes = out / "runs" / "quick_seed0" / "datasets" / "shapes"
    assert (shapes / "shapes_train" / "manifest.json").is_file()
    assert (shapes / "shapes_val" / "manifest.json").is_file()


def test_prints_the_table_and_draws_the_plot(benchmark_run):
    out, stdout = benchmark_run
    assert "recipe" in stdout and "CPU (min)" in stdout
    assert any(line.startswith("quick ") for line in stdout.splitlines())
    assert (out / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_refuses_an_output_directory_used_before(benchmark_run):
    out, _ = benchmark_run
    proc = quick_start("--recipes", "quick", "--output-dir", str(out / "runs"), *TINY)
    assert proc.returncode != 0
    assert "was not used before" in proc.stderr


def test_the_custom_recipe_trains_the_custom_config_on_the_shapes_given_by_path(tmp_path):
    proc = quick_start(
        "--recipes", "custom", "--evals", "1", "--output-dir", str(tmp_path), *TINY
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    command = proc.stdout.splitlines()[0]
    assert "configs/Custom/atss_R_18_FPN_cpu.py" in command
    shapes = tmp_path / "custom_seed0" / "datasets" / "shapes"
    assert f"dataset.train.annotations={shapes / 'shapes_train' / 'annotations.json'}" in command
    assert f"dataset.test.images={shapes / 'shapes_val' / 'images'}" in command
    assert "train.init_checkpoint=" in command  # from scratch: nothing to download
    (run,) = json.loads((tmp_path / "results.json").read_text())
    assert [p["iteration"] for p in run["points"]] == [4]


def test_a_failing_run_names_its_log(tmp_path):
    # The shapes have 5 classes: train_net.py stops at start-up.
    proc = quick_start("--recipes", "quick", "--output-dir", str(tmp_path), "model.num_classes=80")
    assert proc.returncode != 0
    assert str(tmp_path / "quick_seed0" / "log.txt") in proc.stderr


def test_spread_is_the_mean_and_half_the_range():
    assert spread([40.0]) == "40.0"
    assert spread([39.0, 41.0]) == "40.0 ± 1.0"


def test_summary_has_one_row_per_recipe_over_its_seeds():
    runs = [
        Run("quick", seed, [Point(10, 1.0, 2.0, ap, ap + 20)], wall_s=60.0, cpu_s=120.0)
        for seed, ap in ((0, 39.0), (1, 41.0))
    ]
    rows = summary(runs).splitlines()[2:]
    assert len(rows) == 1
    assert rows[0].split()[:4] == ["quick", "0,1", "40.0", "±"]


def test_per_run_table_has_every_ap_column_and_both_times():
    runs = [Run("quick", 1, [Point(10, 1.0, 2.0, 41.6, 62.5, 46.0, 40.0, 50.4, 40.0)], 276, 498)]
    header, _, row = per_run(runs).splitlines()
    assert header.split()[2:8] == ["AP", "AP50", "AP75", "APs", "APm", "APl"]
    assert row.split() == (
        ["quick", "1", "41.6", "62.5", "46.0", "40.0", "50.4", "40.0", "4.6", "8.3"]
    )
