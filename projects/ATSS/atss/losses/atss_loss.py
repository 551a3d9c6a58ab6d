"""
The three training losses of ATSS (official ATSSLossComputation), as pure tensor functions.
Normalisers follow the official code: classification and centerness losses are divided by the
number of positives averaged over workers (at least 1), the GIoU loss is weighted by the centerness
targets and divided by their sum averaged over workers, then multiplied by ``reg_loss_weight``.
"""
from typing import Callable, Dict
import torch
from fvcore.nn import giou_loss, sigmoid_focal_loss
from torch import Tensor
from torch.nn import functional as F

__all__ = ["centerness_targets", "atss_losses"]


def centerness_targets(anchor_centers: Tensor, gt_boxes: Tensor) -> Tensor:
    """
    FCOS centerness of anchor centres w.r.t. their matched boxes:
    sqrt(min(l, r) / max(l, r) * min(t, b) / max(t, b)).

    Args:
        anchor_centers: (P, 2) xy.
        gt_boxes: (P, 4) xyxy.

    Returns:
        (P,) in [0, 1]. A centre on or outside the box (possible with the IoU rule without
        "In GT Box", Table 1) gets 0 rather than the NaN of a negative square root.
    """
    x, y = anchor_centers.unbind(dim=1)
    left_right = torch.stack([x - gt_boxes[:, 0], gt_boxes[:, 2] - x], dim=1).clamp(min=0)
    top_bottom = torch.stack([y - gt_boxes[:, 1], gt_boxes[:, 3] - y], dim=1).clamp(min=0)
    ratio = (left_right.min(dim=1).values / left_right.max(dim=1).values.clamp(min=1e-12)) * (
        top_bottom.min(dim=1).values / top_bottom.max(dim=1).values.clamp(min=1e-12)
    )
    return ratio.sqrt()


def _identity(x: Tensor) -> Tensor:
    return x


def atss_losses(
    pred_logits: Tensor,
    pred_centerness: Tensor,
    pred_boxes: Tensor,
    gt_labels: Tensor,
    gt_boxes: Tensor,
    anchor_centers: Tensor,
    *,
    focal_loss_alpha: float = 0.25,
    focal_loss_gamma: float = 2.0,
    reg_loss_weight: float = 2.0,
    reduce_mean: Callable[[Tensor], Tensor] = _identity,
) -> Dict[str, Tensor]:
    """
    Args:
        pred_logits: (N, R, K) class logits of all N images and R anchors.
        pred_centerness: (N, R) centerness logits.
        pred_boxes: (P, 4) decoded xyxy boxes of the P positive anchors, taken in the row-major
            order of ``positives = (gt_labels >= 0) & (gt_labels < K)``.
        gt_labels: (N, R) class of the matched box, ``K`` for negatives, ``-1`` for ignored
            anchors (which contribute to no loss).
        gt_boxes: (P, 4) matched xyxy box of each positive.
        anchor_centers: (P, 2) centre of each positive anchor.
        reduce_mean: averages a scalar tensor over workers (identity on one worker).

    Returns:
        ``loss_cls``, ``loss_box_reg`` and ``loss_centerness``.
    """
    num_classes = pred_logits.shape[-1]
    positives = (gt_labels >= 0) & (gt_labels < num_classes)
    valid = gt_labels >= 0
    num_pos = reduce_mean(positives.sum().to(pred_logits.dtype)).clamp(min=1.0)

    targets = F.one_hot(gt_labels[valid], num_classes + 1)[:, :num_classes]
    loss_cls = sigmoid_focal_loss(
        pred_logits[valid],
        targets.to(pred_logits.dtype),
        alpha=focal_loss_alpha,
        gamma=focal_loss_gamma,
        reduction="sum",
    )

    ctr_targets = centerness_targets(anchor_centers, gt_boxes)
    # A sum of zero happens only when no positive anchor has a positive centerness; the
    # weighted sum above it is then zero too, so the clamp only avoids 0 / 0.
    ctr_sum = reduce_mean(ctr_targets.sum()).clamp(min=1e-6)
    loss_box_reg = (giou_loss(pred_boxes, gt_boxes, reduction="none") * ctr_targets).sum()

    loss_centerness = F.binary_cross_entropy_with_logits(
        pred_centerness[positives], ctr_targets, reduction="sum"
    )
    return {
        "loss_cls": loss_cls / num_pos,
        "loss_box_reg": loss_box_reg / ctr_sum * reg_loss_weight,
        "loss_centerness": loss_centerness / num_pos,
    }
