"""
atss.engine: the data order of a resumed run, atomic checkpoints and their fallback, the refusal
to evaluate random weights, and command-line overrides checked before anything is built.
"""

import argparse
import os
from pathlib import Path
import pytest

pytestmark = pytest.mark.detectron2
pytest.importorskip("detectron2", reason="detectron2 not installed")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from detectron2.config import LazyConfig  # noqa: E402

from atss.checkpoint.resilient import (  # noqa: E402
    CheckpointError,
    ResilientCheckpointer,
    require_trained_weights,
)
from atss.engine import apply_lazy_overrides, build_resumable_train_loader  # noqa: E402
from atss.engine.arguments import take_flags_from_overrides  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SHAPES_CONFIG = str(ROOT / "configs/Shapes/atss_R_18_FPN_shapes.py")


def augmenting_mapper(d):
    """Stands for DatasetMapper: reads the global RNG, as detectron2's augmentations do."""
    return (d["id"], float(np.random.uniform()))


def dataset(n=7):
    # Mixed aspect ratios, so that batches are grouped.
    return [{"id": i, "width": 10 + 5 * (i % 2), "height": 12} for i in range(n)]


def first_batches(loader, count):
    it = iter(loader)
    return [next(it) for _ in range(count)]


@pytest.mark.parametrize("num_workers", [0, 2])
def test_loader_started_at_an_iteration_continues_the_uninterrupted_order(num_workers):
    kwargs = dict(mapper=augmenting_mapper, total_batch_size=2, seed=3, num_workers=num_workers)
    uninterrupted = first_batches(build_resumable_train_loader(dataset(), **kwargs), 12)
    resumed = build_resumable_train_loader(dataset(), **kwargs)
    resumed.set_start_iter(5)
    assert first_batches(resumed, 7) == uninterrupted[5:]
    # Several epochs, aspect-ratio groups (ids of one parity), all images.
    assert all(len({i % 2 for i, _ in batch}) == 1 for batch in uninterrupted)
    assert {i for batch in uninterrupted for i, _ in batch} == set(range(7))


def test_loader_order_depends_on_the_seed_and_is_restored_from_the_checkpoint():
    loader = build_resumable_train_loader(dataset(), mapper=augmenting_mapper, total_batch_size=2)
    other = build_resumable_train_loader(
        dataset(), mapper=augmenting_mapper, total_batch_size=2, seed=loader.seed + 1
    )
    assert first_batches(loader, 4) != first_batches(other, 4)
    other.load_state_dict(loader.state_dict())
    assert first_batches(loader, 4) == first_batches(other, 4)


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


@pytest.fixture
def train_net(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    import train_net

    return train_net


@pytest.mark.parametrize("fraction, refused", [(None, True), (0.7, True), (0.995, False)])
def test_eval_only_refuses_random_or_mostly_unloaded_weights(fraction, refused):
    checkpointer = argparse.Namespace(loaded_fraction=fraction)
    if refused:
        with pytest.raises(ValueError, match="--allow-unloaded-weights"):
            require_trained_weights(checkpointer, allow_unloaded=False)
    else:
        require_trained_weights(checkpointer, allow_unloaded=False)
    require_trained_weights(checkpointer, allow_unloaded=True)


@pytest.mark.parametrize(
    "override, expected",
    [
        ("train.max_iter=abc", "train.max_iter must be a number"),
        ("model.num_classes=five", "model.num_classes must be a number"),
        ("optimizer.lr=abc", "optimizer.lr must be a number"),
        ("model.num_classes=2.5", "model.num_classes must be an integer"),
    ],
)
def test_override_of_the_wrong_type_names_the_key(override, expected):
    with pytest.raises(ValueError, match=expected):
        apply_lazy_overrides(LazyConfig.load(SHAPES_CONFIG), [override])


def test_overrides_of_the_right_type_apply():
    cfg = apply_lazy_overrides(
        LazyConfig.load(SHAPES_CONFIG), ["train.max_iter=10", "optimizer.lr=1", "train.seed=3"]
    )
    assert (cfg.train.max_iter, cfg.optimizer.lr, cfg.train.seed) == (10, 1, 3)


def test_flag_after_the_overrides_is_taken_and_unknown_options_are_rejected(train_net):
    parser = train_net.argument_parser()
    args = parser.parse_args(["--config-file", "c.py", "train.max_iter=3", "--resume"])
    args = take_flags_from_overrides(parser, args)
    assert args.resume and args.opts == ["train.max_iter=3"]
    args = parser.parse_args(["--config-file", "c.py", "train.max_iter=3", "--resum"])
    with pytest.raises(ValueError, match="Option --resum came after the config overrides"):
        take_flags_from_overrides(parser, args)


def test_lazy_data_config_gets_resumable_order_named_errors_and_checked_evaluation():
    from detectron2.data import DatasetMapper

    from atss.data import CheckedCOCOEvaluator, ImageErrorNamingMapper, coco_json
    from atss.engine.data_setup import configure_lazy_data

    cfg = apply_lazy_overrides(
        LazyConfig.load(SHAPES_CONFIG), ["train.drop_invalid_annotations=True"]
    )
    try:
        configure_lazy_data(cfg)
        assert {"shapes_train", "shapes_val"} <= coco_json._DROP_INVALID
    finally:
        coco_json.drop_invalid_annotations(["shapes_train", "shapes_val"], drop=False)
    train = cfg.dataloader.train
    assert train._target_ is build_resumable_train_loader and train.seed == cfg.train.seed
    for loader in (train, cfg.dataloader.test):
        assert loader.mapper._target_ is ImageErrorNamingMapper
        assert loader.mapper.mapper._target_ is DatasetMapper
    assert cfg.dataloader.evaluator._target_ is CheckedCOCOEvaluator


def test_unknown_override_key_is_refused_with_the_nearest_keys():
    with pytest.raises(ValueError, match=r"train.max_iters is not in the config\. Did you mean "):
        apply_lazy_overrides(LazyConfig.load(SHAPES_CONFIG), ["train.max_iters=4"])


def test_a_key_is_added_on_purpose_with_a_plus():
    cfg = apply_lazy_overrides(LazyConfig.load(SHAPES_CONFIG), ["+train.note=hello"])
    assert cfg.train.note == "hello"


def test_checkpoints_get_the_file_mode_of_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        ResilientCheckpointer(small_model(), str(tmp_path)).save("model_0000001")
    finally:
        os.umask(old)
    assert (tmp_path / "model_0000001.pth").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "last_checkpoint").stat().st_mode & 0o777 == 0o644
