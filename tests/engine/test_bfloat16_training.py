"""
train_net.py in bfloat16 on a CPU, end to end (``atss.config.precision``): forced with
``train.amp.enabled=True`` it trains under bfloat16 autocast (with channels_last weights), says
so, and a run resumed from a checkpoint ends with the uninterrupted bfloat16 run's weights bit for
bit; on a CPU whose capability check answers no native bfloat16 units, ``"auto"`` stays in float32
and says why; float16 on a CPU stops the run with a one-line error.
"""

import shutil
import subprocess
import sys
import pytest

pytestmark = [pytest.mark.detectron2, pytest.mark.slow]
pytest.importorskip("detectron2", reason="detectron2 not installed")

import torch  # noqa: E402

from tiny_run import ROOT, TINY_CONFIG, run_train_net, tiny_run_env  # noqa: E402

BFLOAT16 = "train.amp.enabled=True"
CHANNELS_LAST = "train.amp.channels_last=True"

# train_net.py run with torch's CPU capability check answering no bfloat16 units.
WITHOUT_BFLOAT16_UNITS = """
import runpy, sys
import torch
torch.cpu.get_capabilities = lambda: {"architecture": "x86_64", "avx2": True}
sys.argv = ["train_net.py", *sys.argv[1:]]
runpy.run_path("train_net.py", run_name="__main__")
"""


def final_weights(output_dir):
    return torch.load(output_dir / "model_final.pth", weights_only=False)["model"]


def test_bfloat16_run_resumed_from_a_checkpoint_ends_with_the_uninterrupted_weights(tmp_path):
    env = tiny_run_env(tmp_path)
    config = ["--config-file", str(tmp_path / TINY_CONFIG), "train.eval_period=100"]
    config += [BFLOAT16, CHANNELS_LAST]
    uninterrupted = tmp_path / "uninterrupted"
    proc = run_train_net(env, *config, f"train.output_dir={uninterrupted}")
    assert proc.returncode == 0, proc.stdout[-5000:]
    chosen = "Precision: cpu: bfloat16 autocast, channels_last (train.amp.channels_last) weights"
    assert chosen in proc.stdout

    resumed = tmp_path / "resumed"
    resumed.mkdir()
    shutil.copy(uninterrupted / "model_0000002.pth", resumed)
    (resumed / "last_checkpoint").write_text("model_0000002.pth")
    proc = run_train_net(env, *config, f"train.output_dir={resumed}", "--resume")
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert "Starting training from iteration 3" in proc.stdout

    expected, actual = final_weights(uninterrupted), final_weights(resumed)
    assert expected.keys() == actual.keys()
    assert all(torch.equal(expected[k], actual[k]) for k in expected)


def test_auto_stays_in_float32_where_the_cpu_has_no_bfloat16_units_and_says_so(tmp_path):
    env = tiny_run_env(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-c", WITHOUT_BFLOAT16_UNITS, "--config-file", str(tmp_path / TINY_CONFIG)]
        + ["--no-eval", "train.max_iter=1", f"train.output_dir={tmp_path / 'out'}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-5000:]
    expected = "Precision: cpu: float32, contiguous (NCHW) weights: the CPU has no native bfloat16"
    assert expected in proc.stdout


def test_float16_on_a_cpu_stops_the_run_with_a_one_line_error(tmp_path):
    env = tiny_run_env(tmp_path)
    proc = run_train_net(
        env,
        "--config-file",
        str(tmp_path / TINY_CONFIG),
        BFLOAT16,
        "train.amp.dtype=float16",
        f"train.output_dir={tmp_path / 'out'}",
    )
    assert proc.returncode != 0
    assert proc.stdout.strip().splitlines()[-1].startswith(
        "train_net.py: error: train.amp.dtype='float16' on a CPU"
    )
    assert not (tmp_path / "out" / "model_final.pth").exists()
