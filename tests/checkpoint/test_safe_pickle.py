"""
Checkpoints are read without running their code: a ``.pkl`` of numpy arrays in plain containers
(detectron2's ImageNet trunks, Caffe2 / Detectron files) loads; anything else a pickle names is
refused before it is called, with an error naming it; torch's ``weights_only`` refusal of a
``.pth`` says that the file was refused for holding code.
"""

import numpy as np
import pickle
from collections import OrderedDict
import pytest
import torch

from atss.checkpoint.errors import CheckpointError
from atss.checkpoint.safe_pickle import load_pkl_checkpoint, read_checkpoint_file


class CreatesAFile:
    """Unpickling this object creates the file ``path``."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def trunk() -> "OrderedDict[str, np.ndarray]":
    """Blobs named as in detectron2's MSRA ImageNet trunks (``ImageNetPretrained/MSRA/R-50``)."""
    return OrderedDict(
        [
            ("conv1_w", np.random.rand(64, 3, 7, 7).astype(np.float32)),
            ("res_conv1_bn_s", np.ones(64, np.float32)),
            ("res_conv1_bn_b", np.zeros(64, np.float32)),
            ("res2_0_branch2a_w_momentum", np.zeros((64, 64, 1, 1), np.float32)),
            ("pred_b", np.zeros(1000, np.float64)),
        ]
    )


def write(path, obj, protocol: int = 2):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)
    return str(path)


def test_a_detectron2_model_zoo_pkl_loads_as_it_is(tmp_path):
    data = {"model": dict(trunk()), "__author__": "torchvision", "matching_heuristics": True}
    loaded = load_pkl_checkpoint(write(tmp_path / "R-50.pkl", data))
    assert loaded["__author__"] == "torchvision"
    np.testing.assert_array_equal(loaded["model"]["conv1_w"], data["model"]["conv1_w"])


def test_an_imagenet_trunk_of_blobs_loads_without_its_momentum_entries(tmp_path):
    loaded = load_pkl_checkpoint(write(tmp_path / "R-50.pkl", trunk()))
    assert loaded["__author__"] == "Caffe2" and loaded["matching_heuristics"]
    assert sorted(loaded["model"]) == ["conv1_w", "pred_b", "res_conv1_bn_b", "res_conv1_bn_s"]
    assert loaded["model"]["pred_b"].dtype == np.float64


def test_a_caffe2_detection_model_loads_its_blobs(tmp_path):
    data = {"blobs": dict(trunk()), "cfg": "MODEL:\n  TYPE: retinanet\n", "iter": np.int64(7)}
    loaded = load_pkl_checkpoint(write(tmp_path / "model_final.pkl", data))
    np.testing.assert_array_equal(loaded["model"]["conv1_w"], data["blobs"]["conv1_w"])


def test_a_pickle_of_numpy_1_module_names_loads(tmp_path):
    # numpy 1 (and a Python 2 pickle) names numpy.core.multiarray where numpy 2 writes numpy._core.
    data = pickle.dumps({"w": np.arange(3.0), "s": np.float32(2)}, protocol=2)
    path = tmp_path / "old.pkl"
    path.write_bytes(data.replace(b"numpy._core.", b"numpy.core."))
    loaded = load_pkl_checkpoint(str(path))["model"]
    np.testing.assert_array_equal(loaded["w"], np.arange(3.0))
    assert loaded["s"] == np.float32(2)


@pytest.mark.parametrize("protocol", [2, 5])
def test_a_pkl_naming_other_code_is_refused_before_it_runs(tmp_path, protocol):
    marker = tmp_path / "created_by_unpickling"
    path = write(tmp_path / "model.pkl", {"model": {"w": CreatesAFile(marker)}}, protocol)
    with pytest.raises(CheckpointError, match=r"model\.pkl is refused: it names io\.open"):
        load_pkl_checkpoint(path)
    assert not marker.exists()


def test_a_pkl_that_is_not_a_pickle_is_named_as_unreadable(tmp_path):
    path = tmp_path / "model.pkl"
    path.write_bytes(b"not a pickle")
    with pytest.raises(CheckpointError, match="cannot be read; it is truncated, damaged"):
        load_pkl_checkpoint(str(path))


def test_a_pth_holding_code_is_refused_as_such_not_as_damaged(tmp_path):
    marker = tmp_path / "created_by_unpickling"
    path = tmp_path / "model.pth"
    torch.save({"model": {"w": CreatesAFile(marker)}}, path)
    with pytest.raises(CheckpointError) as refused:
        read_checkpoint_file(str(path), lambda p: torch.load(p, map_location="cpu"))
    assert "is refused: it holds objects other than tensors" in str(refused.value)
    assert "GLOBAL io.open" in str(refused.value)
    assert "truncated" not in str(refused.value)
    assert not marker.exists()


def test_a_damaged_pth_is_still_named_as_damaged(tmp_path):
    path = tmp_path / "model.pth"
    path.write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(CheckpointError, match="cannot be read; it is truncated, damaged"):
        read_checkpoint_file(str(path), lambda p: torch.load(p, map_location="cpu"))
