"""The loss terms of ATSS against a hand-computed example: two anchors, one ground truth."""
import math
import pytest
import torch

from atss.losses import ATSSLossParams, atss_losses, centerness_targets

ALPHA, GAMMA = 0.25, 2.0


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def two_anchor_example(**kwargs):
    """Anchor 0 is positive for the GT [0, 0, 10, 20] (class 0 of 1); anchor 1 is negative."""
    pred_logits = torch.tensor([[[0.5], [-1.0]]], requires_grad=True)
    pred_centerness = torch.tensor([[0.3, 2.0]], requires_grad=True)
    pred_boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0]], requires_grad=True)
    gt_labels = torch.tensor([[0, 1]])
    gt_boxes = torch.tensor([[0.0, 0.0, 10.0, 20.0]])
    centers = torch.tensor([[5.0, 8.0]])
    losses = atss_losses(
        pred_logits, pred_centerness, pred_boxes, gt_labels, gt_boxes, centers, **kwargs
    )
    return losses, (pred_logits, pred_centerness, pred_boxes)


def test_classification_loss_is_focal_loss_over_positives():
    losses, _ = two_anchor_example()
    p_pos, p_neg = sigmoid(0.5), sigmoid(-1.0)
    positive = -ALPHA * (1 - p_pos) ** GAMMA * math.log(p_pos)
    negative = -(1 - ALPHA) * p_neg**GAMMA * math.log(1 - p_neg)
    expected = positive + negative
    assert losses["loss_cls"].item() == pytest.approx(expected, rel=1e-5)


def test_box_loss_is_centerness_weighted_giou_times_two():
    losses, _ = two_anchor_example()
    # IoU 100 / 200; the enclosing box is the GT itself, so GIoU = IoU and the loss is 0.5.
    # One positive: the centerness weight cancels against its own sum.
    assert losses["loss_box_reg"].item() == pytest.approx(0.5 * 2.0, rel=1e-5)


def test_centerness_loss_is_bce_against_centerness_target():
    losses, _ = two_anchor_example()
    target = math.sqrt((5 / 5) * (8 / 12))
    p = sigmoid(0.3)
    expected = -(target * math.log(p) + (1 - target) * math.log(1 - p))
    assert losses["loss_centerness"].item() == pytest.approx(expected, rel=1e-5)


def test_regression_weight_scales_box_loss_only():
    base, _ = two_anchor_example()
    scaled, _ = two_anchor_example(params=ATSSLossParams(reg_loss_weight=1.0))
    assert scaled["loss_box_reg"].item() == pytest.approx(base["loss_box_reg"].item() / 2)
    assert scaled["loss_cls"].item() == pytest.approx(base["loss_cls"].item())


def test_normalisers_use_reduced_positive_count():
    # A fake all-reduce reporting 4 positives on average divides cls and centerness by 4.
    base, _ = two_anchor_example()
    reduced, _ = two_anchor_example(reduce_mean=lambda x: x * 4)
    assert reduced["loss_cls"].item() == pytest.approx(base["loss_cls"].item() / 4, rel=1e-5)
    assert reduced["loss_centerness"].item() == pytest.approx(
        base["loss_centerness"].item() / 4, rel=1e-5
    )
    box_reg = base["loss_box_reg"].item()
    assert reduced["loss_box_reg"].item() == pytest.approx(box_reg / 4, rel=1e-5)


def test_ignored_anchors_contribute_no_loss():
    logits = torch.tensor([[[0.5], [-1.0], [3.0]]], requires_grad=True)
    centerness = torch.zeros(1, 3)
    labels = torch.tensor([[0, 1, -1]])
    with_ignored = atss_losses(
        logits,
        centerness,
        torch.tensor([[0.0, 0.0, 10.0, 10.0]]),
        labels,
        torch.tensor([[0.0, 0.0, 10.0, 20.0]]),
        torch.tensor([[5.0, 8.0]]),
    )
    with_ignored["loss_cls"].backward()
    assert logits.grad[0, 2].abs().item() == 0
    reference, _ = two_anchor_example()
    assert with_ignored["loss_cls"].item() == pytest.approx(reference["loss_cls"].item())


def test_no_positive_gives_zero_box_and_centerness_loss_and_no_nan():
    logits = torch.randn(2, 5, 3, requires_grad=True)
    centerness = torch.randn(2, 5, requires_grad=True)
    labels = torch.full((2, 5), 3)
    losses = atss_losses(
        logits, centerness, torch.zeros(0, 4), labels, torch.zeros(0, 4), torch.zeros(0, 2)
    )
    assert losses["loss_box_reg"].item() == 0
    assert losses["loss_centerness"].item() == 0
    assert torch.isfinite(losses["loss_cls"])
    sum(losses.values()).backward()
    assert torch.isfinite(logits.grad).all()


def test_gradients_reach_every_prediction():
    losses, inputs = two_anchor_example()
    sum(losses.values()).backward()
    for x in inputs:
        assert x.grad is not None and x.grad.abs().sum() > 0


def test_centerness_target_is_one_at_box_centre_and_zero_outside():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 20.0]] * 3)
    centers = torch.tensor([[5.0, 10.0], [2.5, 10.0], [-1.0, 10.0]])
    ctr = centerness_targets(centers, boxes)
    assert ctr[0].item() == pytest.approx(1.0)
    assert ctr[1].item() == pytest.approx(math.sqrt(2.5 / 7.5))
    assert ctr[2].item() == 0


def test_centerness_target_of_degenerate_box_is_finite():
    boxes = torch.tensor([[5.0, 5.0, 5.0, 5.0]])
    assert torch.isfinite(centerness_targets(torch.tensor([[5.0, 5.0]]), boxes)).all()
