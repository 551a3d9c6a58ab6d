"""
The checkpointer that survives interruptions: atomic writes with the umask's file mode, the
fallback to the newest intact checkpoint, damaged files named, and the refusal to evaluate random
or mostly unloaded weights.
"""

import argparse
import os
from pathlib import Path
import pytest

pytestmark = pytest.mark.detectron2
pytest.importorskip("detectron2", reason="detectron2 not installed")

import torch  # noqa: E402
from torch import nn  # noqa: E402

from atss.checkpoint.resilient import (  # noqa: E402
    CheckpointError,
    ResilientCheckpointer,
    require_trained_weights,
)


def small_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2))


def test_checkpoint_killed_while_written_leaves_no_partial_file(tmp_path, monkeypatch):
    checkpointer = ResilientCheckpointer(small_model(), str(tmp_path))
    checkpointer.save("model_0000009")

    def killed(data, f):
        f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        checkpointer.save("model_0000019")
    assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model_0000009.pth"]
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000009.pth"


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all"])
def test_empty_or_garbage_checkpoint_is_an_error_naming_the_file(tmp_path, content):
    path = tmp_path / "model_final.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=f"Checkpoint {path} "):
        ResilientCheckpointer(small_model(), str(tmp_path)).resume_or_load(str(path), resume=False)


def test_resume_falls_back_to_the_newest_intact_checkpoint_and_names_the_damaged(
    tmp_path, caplog
):
    saver = ResilientCheckpointer(small_model(), str(tmp_path))
    for name in ["model_0000004", "model_0000009"]:
        saver.save(name)
    (tmp_path / "model_0000014.pth").write_bytes(b"\x50\x4b truncated")
    (tmp_path / "last_checkpoint").write_text("model_0000014.pth")
    model = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2))
    ResilientCheckpointer(model, str(tmp_path)).resume_or_load("", resume=True)
    assert f"Resumed from {tmp_path / 'model_0000009.pth'}" in caplog.text
    assert f"instead of: {tmp_path / 'model_0000014.pth'}" in caplog.text
    assert torch.equal(model[0].weight, small_model()[0].weight)


def test_loaded_fraction_counts_the_weights_the_checkpoint_provided(tmp_path):
    ResilientCheckpointer(nn.Sequential(nn.Linear(4, 8)), str(tmp_path)).save("other")
    checkpointer = ResilientCheckpointer(small_model(), str(tmp_path))
    checkpointer.load(str(tmp_path / "other.pth"))
    assert checkpointer.loaded_fraction == pytest.approx(40 / 58)


def test_checkpoints_get_the_file_mode_of_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        ResilientCheckpointer(small_model(), str(tmp_path)).save("model_0000001")
    finally:
        os.umask(old)
    assert (tmp_path / "model_0000001.pth").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "last_checkpoint").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("fraction, refused", [(None, True), (0.7, True), (0.995, False)])
def test_eval_only_refuses_random_or_mostly_unloaded_weights(fraction, refused):
    checkpointer = argparse.Namespace(loaded_fraction=fraction, skipped=[])
    if refused:
        with pytest.raises(ValueError, match="--allow-unloaded-weights"):
            require_trained_weights(checkpointer, allow_unloaded=False)
    else:
        require_trained_weights(checkpointer, allow_unloaded=False)
    require_trained_weights(checkpointer, allow_unloaded=True)


def test_eval_only_refuses_a_checkpoint_whose_class_predictor_was_skipped():
    checkpointer = argparse.Namespace(loaded_fraction=0.999, skipped=["head.cls_score.weight"])
    with pytest.raises(ValueError, match="class predictor"):
        require_trained_weights(checkpointer, allow_unloaded=False)
    require_trained_weights(checkpointer, allow_unloaded=True)


def test_an_imagenet_trunk_starts_a_dcnv2_model_without_its_offsets(tmp_path):
    from atss.config import build_model, load_config

    configs = Path(__file__).resolve().parents[2] / "configs" / "ATSS"
    plain = build_model(load_config(str(configs / "atss_R_50_FPN_1x.py")), device="cpu")
    trunk = {
        "backbone.bottom_up." + k: v for k, v in plain.backbone.bottom_up.state_dict().items()
    }
    torch.save({"model": trunk}, tmp_path / "trunk.pth")
    dcn = build_model(load_config(str(configs / "atss_dcnv2_R_50_FPN_1x.py")), device="cpu")
    checkpointer = ResilientCheckpointer(dcn, str(tmp_path))
    checkpointer.load(str(tmp_path / "trunk.pth"), checkpointables=[])
    assert checkpointer.skipped == []
