"""
The loss side of Table 1's switches in ``atss.losses.atss_losses``: RetinaNet's smooth-L1 box loss
on box-coder deltas, and the losses without a centerness branch.
"""
import pytest
import torch

from atss.losses import ATSSLossParams, atss_losses

NUM_CLASSES = 2


def one_positive(**kwargs):
    """One image, three anchors: anchor 1 is a positive of class 0, anchor 2 is ignored."""
    gt_labels = torch.tensor([[NUM_CLASSES, 0, -1]])
    defaults = dict(
        pred_logits=torch.zeros(1, 3, NUM_CLASSES),
        pred_centerness=torch.zeros(1, 3),
        pred_boxes=torch.tensor([[0.0, 0.0, 10.0, 10.0]]),
        gt_labels=gt_labels,
        gt_boxes=torch.tensor([[0.0, 0.0, 10.0, 20.0]]),
        anchor_centers=torch.tensor([[5.0, 5.0]]),
    )
    defaults.update(kwargs)
    return atss_losses(**defaults)


def test_smooth_l1_is_retinanets_loss_on_deltas_divided_by_four_times_the_positives():
    # Errors (0.5, 0, 0, 2) with beta 0.11: 0.5 - 0.055 + 2 - 0.055 = 2.39, over 4 x 1 positive.
    losses = one_positive(
        params=ATSSLossParams(box_loss="smooth_l1", smooth_l1_beta=0.11, reg_loss_weight=1.0),
        pred_deltas=torch.tensor([[0.5, 0.0, 0.0, 0.0]]),
        gt_deltas=torch.tensor([[0.0, 0.0, 0.0, 2.0]]),
    )
    assert losses["loss_box_reg"].item() == pytest.approx(2.39 / 4)


def test_smooth_l1_is_quadratic_below_beta():
    losses = one_positive(
        params=ATSSLossParams(box_loss="smooth_l1", smooth_l1_beta=0.11, reg_loss_weight=2.0),
        pred_deltas=torch.tensor([[0.05, 0.0, 0.0, 0.0]]),
        gt_deltas=torch.zeros(1, 4),
    )
    assert losses["loss_box_reg"].item() == pytest.approx(0.5 * 0.05**2 / 0.11 / 4 * 2.0)


def test_smooth_l1_leaves_the_other_losses_unchanged():
    giou = one_positive()
    smooth_l1 = one_positive(
        params=ATSSLossParams(box_loss="smooth_l1"),
        pred_deltas=torch.ones(1, 4),
        gt_deltas=torch.zeros(1, 4),
    )
    assert smooth_l1["loss_box_reg"] != giou["loss_box_reg"]
    for name in ("loss_cls", "loss_centerness"):
        assert smooth_l1[name] == giou[name]


def test_without_centerness_there_is_no_centerness_loss():
    losses = one_positive(pred_centerness=None)
    assert set(losses) == {"loss_cls", "loss_box_reg"}
    assert losses["loss_cls"] == one_positive()["loss_cls"]


def test_without_centerness_each_positive_giou_counts_once():
    # Two positives with GIoU losses 0.5 and 0: the mean, where weighting by the centerness
    # targets (1/3 and 1) would give 0.125.
    gt_boxes = torch.tensor([[0.0, 0.0, 10.0, 20.0], [0.0, 0.0, 10.0, 10.0]])
    losses = atss_losses(
        torch.zeros(1, 2, NUM_CLASSES),
        None,
        torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]]),
        torch.tensor([[0, 1]]),
        gt_boxes,
        torch.tensor([[5.0, 2.0], [5.0, 5.0]]),
        params=ATSSLossParams(reg_loss_weight=1.0),
    )
    assert losses["loss_box_reg"].item() == pytest.approx(0.25)


def test_unknown_box_loss_is_rejected():
    with pytest.raises(ValueError, match="box_loss must be one of"):
        one_positive(params=ATSSLossParams(box_loss="l1"))


def test_smooth_l1_without_deltas_is_rejected():
    with pytest.raises(ValueError, match="needs pred_deltas and gt_deltas"):
        one_positive(params=ATSSLossParams(box_loss="smooth_l1"))
