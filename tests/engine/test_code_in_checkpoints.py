"""
A checkpoint that would run code when loaded is refused wherever a user gives one: as
``train.init_checkpoint`` to a training run and to ``--eval-only``, to the demo, and to the model
zoo; as a ``.pkl`` and as a ``.pth``. Each time the code does not run (the file its unpickling
would create does not appear) and the error says the file was refused for it.
"""

import pickle
import pytest
import torch

pytestmark = [pytest.mark.detectron2, pytest.mark.slow]  # subprocesses of a few seconds each
pytest.importorskip("detectron2", reason="detectron2 not installed")

from detectron2.config import LazyConfig  # noqa: E402

from atss import model_zoo  # noqa: E402
from atss.checkpoint.errors import CheckpointError  # noqa: E402
from atss.model_zoo.publish import get_published  # noqa: E402
from tiny_run import run_refused  # noqa: E402

SHAPES = "configs/Shapes/atss_R_18_FPN_shapes.py"
REFUSED = {".pkl": "is refused: it names io.open", ".pth": "is refused: it holds objects other"}


class CreatesAFile:
    """Unpickling this object creates the file ``path``."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def write_payload(checkpoint, marker) -> None:
    """A checkpoint (``.pkl`` or ``.pth``) whose unpickling creates ``marker``."""
    data = {"model": {"head.cls_score.bias": CreatesAFile(marker)}, "__author__": "someone"}
    if checkpoint.suffix == ".pkl":
        checkpoint.write_bytes(pickle.dumps(data, protocol=2))
    else:
        torch.save(data, checkpoint)


@pytest.fixture(params=[".pkl", ".pth"])
def payload(request, tmp_path):
    """(a checkpoint whose unpickling creates ``marker``, marker, its suffix)."""
    marker = tmp_path / "created_by_unpickling"
    checkpoint = tmp_path / f"model{request.param}"
    write_payload(checkpoint, marker)
    return checkpoint, marker, request.param


def run(*args: str) -> str:
    return run_refused(*args).stdout


@pytest.mark.parametrize("mode", [[], ["--eval-only"]], ids=["train", "eval-only"])
def test_train_net_refuses_a_checkpoint_holding_code(payload, mode, tmp_path):
    checkpoint, marker, suffix = payload
    out = run(
        "train_net.py",
        "--config-file",
        SHAPES,
        *mode,
        f"train.init_checkpoint={checkpoint}",
        f"train.output_dir={tmp_path / 'run'}",
    )
    assert REFUSED[suffix] in out
    assert not marker.exists()


def test_the_demo_refuses_a_checkpoint_holding_code(payload, tmp_path):
    checkpoint, marker, suffix = payload
    out = run(
        "demo/demo.py",
        "--config-file",
        SHAPES,
        "--input",
        str(tmp_path / "image.png"),
        "--opts",
        f"train.init_checkpoint={checkpoint}",
    )
    assert REFUSED[suffix] in out
    assert not marker.exists()


def test_the_model_zoo_refuses_a_published_entry_holding_code(payload):
    checkpoint, marker, suffix = payload
    LazyConfig.save(
        LazyConfig.load(model_zoo.get_config_file("Shapes/atss_R_18_FPN_shapes.py")),
        str(checkpoint.parent / "config.yaml"),
    )
    with pytest.raises(CheckpointError, match=REFUSED[suffix]):
        get_published(str(checkpoint), device="cpu")
    assert not marker.exists()


def test_the_model_zoo_refuses_a_converted_official_checkpoint_holding_code(
    tmp_path, monkeypatch
):
    # The model zoo's converted checkpoints are .pth files.
    marker = tmp_path / "created_by_unpickling"
    write_payload(tmp_path / "atss_R_50_FPN_1x.pth", marker)
    monkeypatch.setenv("ATSS_MODEL_ZOO", str(tmp_path))
    with pytest.raises(CheckpointError, match=REFUSED[".pth"]):
        model_zoo.get("Official/atss_R_50_FPN_1x.py", device="cpu")
    assert not marker.exists()
