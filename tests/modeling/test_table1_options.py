"""
Table 1's switches on the model: each changes exactly what it names (GroupNorm in the towers, the
centerness branch, the per-level scalar, the box loss), in the LazyConfig and YAML routes alike.
"""
import math
import pytest
import torch

pytestmark = pytest.mark.detectron2
pytest.importorskip("detectron2", reason="detectron2 not installed")

from detectron2.layers import ShapeSpec
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage

import atss.losses.atss_loss as atss_loss
from atss import ATSS, ATSSAnchorGenerator, ATSSHead
from atss.losses import ATSSLossParams
from atss.modeling import AssignmentParams
from tiny_model import CHANNELS, STRIDES, TinyBackbone

SIZE = 128


def make_head(**kwargs) -> ATSSHead:
    shapes = [ShapeSpec(channels=CHANNELS, stride=s) for s in STRIDES]
    return ATSSHead(input_shape=shapes, num_classes=2, num_anchors=1, **kwargs)


def make_model(use_centerness=True, norm="GN", use_scale=True, **kwargs) -> ATSS:
    torch.manual_seed(0)
    return ATSS(
        backbone=TinyBackbone(),
        head=make_head(use_centerness=use_centerness, norm=norm, use_scale=use_scale),
        anchor_generator=ATSSAnchorGenerator(strides=STRIDES),
        num_classes=2,
        use_centerness=use_centerness,
        pixel_mean=[128.0, 128.0, 128.0],
        pixel_std=[64.0, 64.0, 64.0],
        **kwargs,
    )


def features(batch=1):
    torch.manual_seed(1)
    return [torch.randn(batch, CHANNELS, math.ceil(SIZE / s), math.ceil(SIZE / s)) for s in STRIDES]


def parameter_shapes(module):
    return {k: v.shape for k, v in module.state_dict().items()}


def training_losses(model):
    image = torch.full((3, SIZE, SIZE), 30.0)
    image[:, 12:70, 10:60] = 220.0
    instances = Instances((SIZE, SIZE))
    instances.gt_boxes = Boxes(torch.tensor([[10.0, 12.0, 60.0, 70.0]]))
    instances.gt_classes = torch.tensor([1])
    model.train()
    with EventStorage():
        return model([{"image": image, "instances": instances}])


# Head ---------------------------------------------------------------------------------------


def test_empty_norm_leaves_groupnorm_out_of_the_towers_and_nothing_else():
    plain, default = make_head(norm=""), make_head()
    for tower in (plain.cls_subnet, plain.bbox_subnet):
        assert [type(m).__name__ for m in tower] == ["Conv2d", "Identity", "ReLU"] * 4
    # The GroupNorm of layer i sits at index 3 * i + 1 of its tower.
    groupnorms = {
        f"{tower}.{3 * i + 1}.{p}"
        for tower in ("cls_subnet", "bbox_subnet")
        for i in range(4)
        for p in ("weight", "bias")
    }
    assert set(parameter_shapes(default)) - set(parameter_shapes(plain)) == groupnorms
    assert set(parameter_shapes(plain)) < set(parameter_shapes(default))


def test_without_centerness_the_head_has_no_centerness_layer_and_returns_no_centerness():
    head, default = make_head(use_centerness=False), make_head()
    assert head.centerness is None
    removed = set(parameter_shapes(default)) - set(parameter_shapes(head))
    assert removed == {"centerness.weight", "centerness.bias"}
    logits, deltas, centerness = head(features())
    assert len(logits) == len(deltas) == len(STRIDES)
    assert centerness == []


def test_without_scale_the_head_has_no_scalars_and_regresses_unscaled():
    head, default = make_head(use_scale=False), make_head()
    assert set(parameter_shapes(default)) - set(parameter_shapes(head)) == {"scales"}
    head.load_state_dict({k: v for k, v in default.state_dict().items() if k != "scales"})
    with torch.no_grad():
        default.scales.fill_(3.0)
        _, scaled, _ = default(features())
        logits, unscaled, _ = head(features())
    for s, u in zip(scaled, unscaled):
        assert torch.allclose(s, 3.0 * u)
    assert torch.equal(logits[0], default(features())[0][0])


# Meta-architecture --------------------------------------------------------------------------


def test_head_and_model_must_agree_on_centerness():
    with pytest.raises(ValueError, match="use_centerness is True but the head's is False"):
        ATSS(
            backbone=TinyBackbone(),
            head=make_head(use_centerness=False),
            anchor_generator=ATSSAnchorGenerator(strides=STRIDES),
            num_classes=2,
            pixel_mean=[0.0] * 3,
            pixel_std=[1.0] * 3,
        )


def test_unknown_box_loss_is_rejected_when_building():
    with pytest.raises(ValueError, match="box_loss must be one of"):
        make_model(loss=ATSSLossParams(box_loss="l1"))


def constant_predictions(model, probability, centerness):
    """Make every location predict ``probability`` for every class and the given centerness."""
    head = model.head
    with torch.no_grad():
        head.cls_score.weight.zero_()
        head.cls_score.bias.fill_(math.log(probability / (1 - probability)))
        if head.centerness is not None:
            head.centerness.weight.zero_()
            head.centerness.bias.fill_(math.log(centerness / (1 - centerness)))


@pytest.mark.parametrize("use_centerness, expected", [(True, math.sqrt(0.3 * 0.5)), (False, 0.3)])
def test_inference_scores_are_class_probabilities_without_centerness(use_centerness, expected):
    model = make_model(use_centerness=use_centerness).eval()
    constant_predictions(model, probability=0.3, centerness=0.5)
    with torch.no_grad():
        result = model([{"image": torch.zeros(3, SIZE, SIZE)}])[0]["instances"]
    assert len(result) > 0
    assert result.scores.tolist() == pytest.approx([expected] * len(result), rel=1e-5)


def test_without_centerness_training_has_no_centerness_loss():
    losses = training_losses(make_model(use_centerness=False))
    assert set(losses) == {"loss_cls", "loss_box_reg"}
    assert all(torch.isfinite(v) for v in losses.values()) and losses["loss_box_reg"] > 0


def test_smooth_l1_replaces_giou_with_retinanets_weighting(monkeypatch):
    calls = []
    real_smooth_l1 = atss_loss.smooth_l1_loss

    def spy(pred, target, beta, reduction):
        calls.append((pred.detach().clone(), target.clone(), beta))
        return real_smooth_l1(pred, target, beta, reduction=reduction)

    def no_giou(*args, **kwargs):
        raise AssertionError("GIoU loss used with box_loss='smooth_l1'")

    monkeypatch.setattr(atss_loss, "smooth_l1_loss", spy)
    monkeypatch.setattr(atss_loss, "giou_loss", no_giou)
    model = make_model(
        loss=ATSSLossParams(box_loss="smooth_l1", smooth_l1_beta=0.2, reg_loss_weight=1.0)
    )
    losses = training_losses(model)
    ((pred, target, beta),) = calls
    assert beta == 0.2 and len(pred) > 0
    expected = real_smooth_l1(pred, target, 0.2, reduction="sum") / (4 * len(pred))
    assert losses["loss_box_reg"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert set(losses) == {"loss_cls", "loss_box_reg", "loss_centerness"}


def test_smooth_l1_targets_are_the_box_coder_encoding_of_the_matched_box(monkeypatch):
    targets = []
    real_smooth_l1 = atss_loss.smooth_l1_loss

    def spy(pred, target, beta, reduction):
        targets.append(target)
        return real_smooth_l1(pred, target, beta, reduction=reduction)

    monkeypatch.setattr(atss_loss, "smooth_l1_loss", spy)
    model = make_model(loss=ATSSLossParams(box_loss="smooth_l1"))
    image = torch.zeros(1, 3, SIZE, SIZE)
    anchors = model.anchor_generator(model.backbone(image).values())
    gt = Instances((SIZE, SIZE))
    gt.gt_boxes = Boxes(torch.tensor([[10.0, 12.0, 60.0, 70.0]]))
    gt.gt_classes = torch.tensor([1])
    with EventStorage():
        gt_labels, _ = model.label_anchors(anchors, [gt])
    positives = (gt_labels[0] >= 0) & (gt_labels[0] < 2)
    training_losses(model)
    (target,) = targets
    decoded = model.box2box_transform.apply_deltas(target, Boxes.cat(anchors).tensor[positives])
    assert torch.allclose(decoded, gt.gt_boxes.tensor.expand_as(decoded), atol=1e-3)


def test_giou_is_the_default_box_loss(monkeypatch):
    def no_smooth_l1(*args, **kwargs):
        raise AssertionError("smooth-L1 used by default")

    monkeypatch.setattr(atss_loss, "smooth_l1_loss", no_smooth_l1)
    losses = training_losses(make_model())
    assert set(losses) == {"loss_cls", "loss_box_reg", "loss_centerness"}


def test_topk_rule_trains_through_the_registry():
    losses = training_losses(make_model(assignment=AssignmentParams(rule="topk")))
    assert all(torch.isfinite(v) for v in losses.values()) and losses["loss_box_reg"] > 0


def test_retinanet_with_groupnorm_only_learns_two_images():
    # Table 1's second column. Without GroupNorm too, the tiny backbone and the head's std-0.01
    # init learn too slowly for a unit test.
    from detectron2.structures import pairwise_iou

    model = make_model(
        use_centerness=False,
        use_scale=False,
        loss=ATSSLossParams(box_loss="smooth_l1", reg_loss_weight=1.0),
        assignment=AssignmentParams(rule="max_iou"),
    )
    image = torch.full((3, SIZE, SIZE), 30.0)
    image[0, 12:70, 10:60] = 220.0
    image[1, 80:110, 70:120] = 220.0
    gt = Instances((SIZE, SIZE))
    gt.gt_boxes = Boxes(torch.tensor([[10.0, 12.0, 60.0, 70.0], [70.0, 80.0, 120.0, 110.0]]))
    gt.gt_classes = torch.tensor([0, 1])
    data = [{"image": image, "instances": gt}]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    history = []
    model.train()
    for _ in range(40):
        with EventStorage():
            losses = model(data)
        history.append(sum(losses.values()).item())
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()
    assert history[-1] < history[0] / 10

    model.eval()
    with torch.no_grad():
        pred = model([{"image": image}])[0]["instances"]
    for box, cls in zip(gt.gt_boxes, gt.gt_classes):
        same_class = pred[pred.pred_classes == cls]
        assert pairwise_iou(Boxes(box[None]), same_class.pred_boxes).max() > 0.7
