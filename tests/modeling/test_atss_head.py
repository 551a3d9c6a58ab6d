"""ATSSHead: output shapes, initialisation and the options of the paper's ablations."""
import math
import pytest
import torch

pytestmark = pytest.mark.detectron2
pytest.importorskip("detectron2", reason="detectron2 not installed")

from detectron2.layers import ShapeSpec

from atss import ATSSHead

STRIDES = [8, 16, 32, 64, 128]


def make_head(num_anchors=1, num_classes=3, channels=32, **kwargs):
    shapes = [ShapeSpec(channels=channels, stride=s) for s in STRIDES]
    return ATSSHead(
        input_shape=shapes, num_classes=num_classes, num_anchors=num_anchors, **kwargs
    )


def features_for(height, width, channels=32, batch=2):
    return [
        torch.randn(batch, channels, math.ceil(height / s), math.ceil(width / s)) for s in STRIDES
    ]


@pytest.mark.parametrize("num_anchors", [1, 9])
@pytest.mark.parametrize("size", [(64, 64), (100, 160), (257, 129)])
def test_output_shapes_per_level(num_anchors, size):
    head = make_head(num_anchors=num_anchors, num_classes=3)
    features = features_for(*size)
    logits, deltas, centerness = head(features)
    for f, lg, dl, ct in zip(features, logits, deltas, centerness):
        n, _, h, w = f.shape
        assert lg.shape == (n, num_anchors * 3, h, w)
        assert dl.shape == (n, num_anchors * 4, h, w)
        assert ct.shape == (n, num_anchors, h, w)


@pytest.mark.parametrize("kwargs", [{}, {"use_dcn_in_tower": True}, {"regression_type": "point"}])
def test_gradients_reach_every_parameter(kwargs):
    head = make_head(**kwargs)
    outputs = head(features_for(64, 96))
    sum(x.sum() for level_outputs in outputs for x in level_outputs).backward()
    missing = [n for n, p in head.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing


def test_towers_are_four_conv_gn_relu_layers():
    head = make_head()
    for tower in (head.cls_subnet, head.bbox_subnet):
        kinds = [type(m).__name__ for m in tower]
        assert kinds == ["Conv2d", "GroupNorm", "ReLU"] * 4
        assert all(m.num_groups == 32 for m in tower if isinstance(m, torch.nn.GroupNorm))


def test_classification_bias_starts_at_prior_probability():
    head = make_head(prior_prob=0.01)
    assert torch.sigmoid(head.cls_score.bias).allclose(torch.tensor(0.01))


def test_convolutions_start_from_normal_001_and_zero_bias():
    torch.manual_seed(0)
    head = make_head(channels=64)
    for conv in (head.cls_subnet[0], head.bbox_pred, head.centerness):
        assert conv.weight.std().item() == pytest.approx(0.01, rel=0.1)
        assert conv.bias.abs().max().item() == 0


def test_one_learnable_scalar_per_level_starts_at_one():
    head = make_head()
    assert head.scales.shape == (len(STRIDES),) and torch.equal(head.scales.data, torch.ones(5))
    features = features_for(64, 64)
    _, before, _ = head(features)
    with torch.no_grad():
        head.scales[2] = 2.0
    _, after, _ = head(features)
    assert torch.allclose(after[2], 2 * before[2])
    assert torch.allclose(after[1], before[1])


def test_point_regression_starts_at_four_strides_and_is_non_negative():
    head = make_head(regression_type="point")
    assert torch.equal(head.bbox_pred.bias.data, torch.full((4,), 4.0))
    with torch.no_grad():
        head.scales.fill_(-1.0)
    _, deltas, _ = head(features_for(64, 64))
    assert all((d >= 0).all() for d in deltas)


def test_dcn_replaces_only_the_last_tower_layer():
    head = make_head(use_dcn_in_tower=True)
    for tower in (head.cls_subnet, head.bbox_subnet):
        convs = [type(m).__name__ for m in tower if "Conv" in type(m).__name__]
        assert convs == ["Conv2d", "Conv2d", "Conv2d", "ModulatedDeformConv2d"]


def test_wrong_number_of_levels_is_rejected():
    head = make_head()
    with pytest.raises(ValueError, match="5 levels, got 4"):
        head(features_for(64, 64)[:4])


def test_point_regression_with_several_anchors_is_rejected():
    with pytest.raises(ValueError, match="one anchor per location"):
        make_head(num_anchors=9, regression_type="point")
