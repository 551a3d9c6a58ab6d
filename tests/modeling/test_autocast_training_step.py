"""
Mixed precision of the shapes models: one training step under ``torch.autocast("cpu",
dtype=torch.bfloat16)`` gives finite float32 losses within 5% of float32 (same weights, same
inputs) and finite gradients, and box decoding of half-precision deltas is float32 with
exp() clamped as detectron2 clamps it.
"""
import copy
import math
from pathlib import Path
import pytest
import torch

pytestmark = pytest.mark.detectron2
pytest.importorskip("detectron2", reason="detectron2 not installed")

from detectron2.config import LazyConfig, instantiate
from detectron2.utils.events import EventStorage

from atss.modeling.meta_arch.atss import decode_boxes
from tiny_model import sample

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "Shapes"
SHAPES_MODELS = [
    "atss_R_18_FPN_shapes.py",
    "autoassign_R_18_FPN_shapes.py",
    "atss_aploss_R_18_FPN_shapes.py",
]
HALF_TYPES = [torch.bfloat16, torch.float16]


def build(config: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = instantiate(LazyConfig.load(str(CONFIGS / config)).model)
    return model.train()


def two_painted_images():
    return [
        sample([[10, 20, 60, 90], [70, 30, 120, 110]], [0, 1], size=128),
        sample([[30, 30, 100, 100], [8, 90, 40, 124]], [2, 0], size=128),
    ]


def training_step(model, inputs, dtype=None):
    """Losses of one training step (forward under CPU autocast when ``dtype`` is given, then
    backward); returns the losses and the gradients of all parameters."""
    model.zero_grad()
    with EventStorage(), torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=bool(dtype)):
        losses = model(inputs)
    sum(losses.values()).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return losses, grads


@pytest.fixture(scope="module")
def models():
    return {config: build(config) for config in SHAPES_MODELS}


@pytest.mark.parametrize("config", SHAPES_MODELS)
def test_bfloat16_training_step_losses_are_float32_finite_and_within_5_percent(models, config):
    model = copy.deepcopy(models[config])
    inputs = two_painted_images()
    expected, _ = training_step(model, inputs)
    losses, grads = training_step(model, inputs, torch.bfloat16)
    assert losses.keys() == expected.keys()
    for key, value in losses.items():
        assert value.dtype == torch.float32, key
        assert torch.isfinite(value), key
        assert value.item() == pytest.approx(expected[key].item(), rel=0.05), key
    assert grads and all(torch.isfinite(g).all() for g in grads.values())


@pytest.mark.parametrize("dtype", HALF_TYPES, ids=str)
@pytest.mark.parametrize("config", SHAPES_MODELS[:2], ids=["box coder", "point coder"])
def test_box_decoding_of_half_deltas_is_float32_and_equals_float32_decoding(models, config, dtype):
    transform = models[config].box2box_transform
    generator = torch.Generator().manual_seed(0)
    deltas = (torch.randn(200, 4, generator=generator) * 2).abs().to(dtype)
    corner = torch.rand(200, 2, generator=generator) * 1300
    anchors = torch.cat([corner, corner + 8 + torch.rand(200, 2, generator=generator) * 500], 1)
    boxes = decode_boxes(transform, deltas, anchors)
    assert boxes.dtype == torch.float32
    assert torch.equal(boxes, decode_boxes(transform, deltas.float(), anchors))


@pytest.mark.parametrize("dtype", HALF_TYPES, ids=str)
@pytest.mark.parametrize("config", SHAPES_MODELS[:2], ids=["box coder", "point coder"])
def test_box_decoding_of_extreme_half_deltas_is_finite(models, config, dtype):
    transform = models[config].box2box_transform
    deltas = torch.tensor([[30.0, -30.0, 30.0, 30.0], [-30.0, 30.0, -30.0, -30.0]]).to(dtype)
    anchors = torch.tensor([[100.0, 100.0, 101.0, 101.0], [0.0, 0.0, 2000.0, 2000.0]])
    boxes = decode_boxes(transform, deltas.repeat(2, 1), anchors.repeat_interleave(2, dim=0))
    assert boxes.dtype == torch.float32
    assert torch.isfinite(boxes).all()


def test_box_coder_clamps_exp_of_size_deltas_at_1000_over_16():
    transform = build(SHAPES_MODELS[0]).box2box_transform
    # dw = dh = 30 / 5 = 6 is clamped at log(1000 / 16): at most 62.5 times the anchor side.
    deltas = torch.tensor([[0.0, 0.0, 30.0, 30.0]], dtype=torch.bfloat16)
    anchors = torch.tensor([[0.0, 0.0, 2000.0, 2000.0]])
    boxes = decode_boxes(transform, deltas, anchors)
    side = boxes[0, 2] - boxes[0, 0]
    assert side.item() == pytest.approx(2000 * 1000 / 16, rel=1e-5)
    assert math.isfinite(side.item())
