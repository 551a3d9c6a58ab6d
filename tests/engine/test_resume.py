"""
An interrupted run resumed with --resume continues the same run: it reads the data the
uninterrupted run read from that iteration on, and ends with its weights bit for bit (CPU), even
when the newest checkpoint was damaged by the interruption.
"""

import shutil
import pytest

pytestmark = [pytest.mark.detectron2, pytest.mark.slow]
pytest.importorskip("detectron2", reason="detectron2 not installed")

import torch  # noqa: E402

from tiny_run import TINY_CONFIG, run_train_net, tiny_run_env  # noqa: E402


def final_weights(output_dir):
    return torch.load(output_dir / "model_final.pth", weights_only=False)["model"]


def test_killed_and_resumed_run_ends_with_the_uninterrupted_weights_bit_for_bit(tmp_path):
    env = tiny_run_env(tmp_path)
    config = ["--config-file", str(tmp_path / TINY_CONFIG), "train.eval_period=100"]
    uninterrupted = tmp_path / "uninterrupted"
    proc = run_train_net(env, *config, f"train.output_dir={uninterrupted}")
    assert proc.returncode == 0, proc.stdout[-5000:]

    # Killed during iteration 5 while writing its checkpoint: the checkpoint of iteration 2 is
    # intact, the newer one truncated and tagged (as an in-place write would have left it).
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    shutil.copy(uninterrupted / "model_0000002.pth", resumed)
    damaged = (uninterrupted / "model_0000005.pth").read_bytes()[:4096]
    (resumed / "model_0000005.pth").write_bytes(damaged)
    (resumed / "last_checkpoint").write_text("model_0000005.pth")
    proc = run_train_net(env, *config, f"train.output_dir={resumed}", "--resume")
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert f"Skipping a damaged checkpoint when resuming: Checkpoint {resumed}" in proc.stdout
    assert "Starting training from iteration 3" in proc.stdout

    expected, actual = final_weights(uninterrupted), final_weights(resumed)
    assert expected.keys() == actual.keys()
    assert all(torch.equal(expected[k], actual[k]) for k in expected)
