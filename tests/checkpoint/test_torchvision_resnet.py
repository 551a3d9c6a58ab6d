"""
torchvision's ImageNet ResNets as detectron2 checkpoints (atss/checkpoint/torchvision_resnet.py):
the conversion to detectron2's ResNet names, and ``torchvision://resnet18``, fetched into
torch.hub's cache and loaded into the Custom CPU config's trunk. The tests run offline: a
torchvision ResNet-18 of random weights, saved under the ImageNet file's name in a temporary
cache, stands in for the download.
"""

import logging
import subprocess
import sys
import urllib.error
from pathlib import Path
from typing import Dict
import pytest

pytestmark = pytest.mark.detectron2
pytest.importorskip("detectron2", reason="detectron2 not installed")

import torch  # noqa: E402
import torchvision  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from detectron2.modeling.backbone import BasicStem, ResNet  # noqa: E402
from detectron2.utils.file_io import PathManager  # noqa: E402

from atss.checkpoint.errors import CheckpointError  # noqa: E402
from atss.checkpoint.resilient import ResilientCheckpointer  # noqa: E402
from atss.checkpoint.torchvision_resnet import convert_torchvision_resnet  # noqa: E402
from atss.engine.defaults import build_model, load_config  # noqa: E402
from tiny_run import ROOT  # noqa: E402

CPU_CONFIG = str(ROOT / "configs/Custom/atss_R_18_FPN_cpu.py")
WEIGHTS = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
WEIGHTS_FILE = Path(WEIGHTS.url).name  # resnet18-f37072fd.pth
TRUNK = "backbone.bottom_up."


def detectron2_resnet(depth: int) -> ResNet:
    # torchvision's ResNets put a bottleneck's stride in its 3x3 convolution.
    options = {} if depth < 50 else {"stride_in_1x1": False}
    stages = ResNet.make_default_stages(depth, norm="BN", **options)
    return ResNet(BasicStem(3, 64, norm="BN"), stages, out_features=["res5"]).eval()


def torchvision_trunk(model: torchvision.models.ResNet) -> torch.nn.Module:
    return torch.nn.Sequential(*list(model.children())[:-2]).eval()  # without pooling and fc


@pytest.mark.parametrize("depth", [18, 50])
def test_the_converted_weights_give_torchvision_features_in_detectron2s_resnet(depth):
    source = getattr(torchvision.models, f"resnet{depth}")()
    for module in source.modules():  # statistics other than the defaults, so that they count
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
    target = detectron2_resnet(depth)
    target.load_state_dict(convert_torchvision_resnet(source.state_dict()), strict=True)
    image = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(target(image)["res5"], torchvision_trunk(source)(image))


def test_a_state_dict_of_another_model_is_refused_naming_the_key():
    with pytest.raises(ValueError, match="'features.0.weight' is not a tensor of a torchvision"):
        convert_torchvision_resnet({"features.0.weight": torch.zeros(64, 3, 3, 3)})


@pytest.fixture
def torch_home(tmp_path, monkeypatch) -> Path:
    """An empty torch.hub cache, where TORCH_HOME puts it for torchvision."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def cached_weights(torch_home) -> Dict[str, torch.Tensor]:
    """A torchvision ResNet-18 of random weights, in the cache as the ImageNet file."""
    state_dict = torchvision.models.resnet18().state_dict()
    path = torch_home / "hub" / "checkpoints" / WEIGHTS_FILE
    path.parent.mkdir(parents=True)
    torch.save(state_dict, path)
    return state_dict


def load_into_the_custom_cpu_model(weights: str):
    """The Custom CPU config's model with ``weights`` loaded; the keys its checkpointer reports."""
    model = build_model(load_config(CPU_CONFIG, ["model.num_classes=3"]), device="cpu")
    checkpointer = ResilientCheckpointer(model, save_to_disk=False)
    reported = []
    checkpointer._log_incompatible_keys = reported.append
    checkpointer.load(weights, checkpointables=[])
    return model, reported[0]


def test_every_trunk_tensor_lands_and_only_the_fpn_and_head_are_missing(cached_weights):
    model, reported = load_into_the_custom_cpu_model("torchvision://resnet18")
    trunk = model.backbone.bottom_up.state_dict()
    for name, tensor in convert_torchvision_resnet(cached_weights).items():
        assert torch.equal(trunk[name], tensor), name
    assert reported.missing_keys
    fpn_and_head = ("backbone.fpn_", "backbone.top_block.", "head.")
    assert all(key.startswith(fpn_and_head) for key in reported.missing_keys)
    assert not reported.unexpected_keys and not reported.incorrect_shapes


def test_the_log_names_the_source_and_the_number_of_tensors(cached_weights, torch_home, caplog):
    with caplog.at_level(logging.INFO, logger="atss"):
        load_into_the_custom_cpu_model("torchvision://resnet18")
    source = torch_home / "hub" / "checkpoints" / WEIGHTS_FILE
    expected = f"torchvision://resnet18: torchvision's {WEIGHTS} from {source}, 100 tensors"
    assert expected in caplog.text


def test_offline_without_the_file_the_error_names_it_and_the_override(torch_home, monkeypatch):
    def offline(url, *args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(CheckpointError) as error:
        PathManager.get_local_path("torchvision://resnet18")
    message = str(error.value)
    cache = torch_home / "hub" / "checkpoints"
    assert f"Place {WEIGHTS_FILE}, from {WEIGHTS.url}, in {cache}" in message
    assert 'train.init_checkpoint=""' in message


def test_a_damaged_file_in_the_cache_is_named_with_the_fix(torch_home):
    path = torch_home / "hub" / "checkpoints" / WEIGHTS_FILE
    path.parent.mkdir(parents=True)
    path.write_bytes(b"cut short")
    with pytest.raises(CheckpointError, match=f"{path} could not be loaded .*delete the file"):
        PathManager.get_local_path("torchvision://resnet18")


def test_import_atss_registers_the_scheme_with_detectron2s_path_manager():
    code = (
        "import atss\n"
        "from detectron2.utils.file_io import PathManager\n"
        "PathManager.get_local_path('torchvision://vgg16')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "CheckpointError: torchvision://vgg16: no such torchvision ResNet" in result.stderr


def test_an_unknown_model_is_refused_with_the_known_names():
    with pytest.raises(CheckpointError, match="torchvision://resnet18, torchvision://resnet34"):
        PathManager.get_local_path("torchvision://vgg16")


def test_the_custom_cpu_config_starts_from_the_pretrained_trunk_with_its_input():
    cfg = load_config(CPU_CONFIG)
    assert cfg.train.init_checkpoint == "torchvision://resnet18"
    preset = WEIGHTS.transforms()  # torchvision's normalisation of 0-1 RGB values
    assert cfg.model.pixel_mean == pytest.approx([255 * m for m in preset.mean])
    assert cfg.model.pixel_std == pytest.approx([255 * s for s in preset.std])
    assert cfg.model.input_format == "RGB"
    for loader in ("train", "test"):
        assert OmegaConf.select(cfg, f"dataloader.{loader}.mapper.image_format") == "RGB"
