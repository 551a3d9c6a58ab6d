"""
The three training losses of ATSS (official ATSSLossComputation), as pure tensor functions.
Normalisers follow the official code: classification and centerness losses are divided by the
number of positives averaged over workers (at least 1), the GIoU loss is weighted by the centerness
targets and divided by their sum averaged over workers, then multiplied by ``reg_loss_weight``.

Table 1's RetinaNet steps change two of them: without centerness there is no centerness loss and
each positive's GIoU counts once (divided by the positives); the smooth-L1 box loss is RetinaNet's
(official ``retinanet/loss.py``): summed over the positives' four box-coder deltas and divided by
four times the positives.
"""
from dataclasses import dataclass
from typing import Callable, Dict, Optional
import torch
from fvcore.nn import giou_loss, sigmoid_focal_loss, smooth_l1_loss
from torch import Tensor
from torch.nn import functional as F

from ..distributed import reduce_mean
from .ap_loss import ap_loss
from .precision import at_least_float32

__all__ = ["BOX_LOSSES", "CLS_LOSSES", "ATSSLossParams", "centerness_targets", "atss_losses"]

BOX_LOSSES = ("giou", "smooth_l1")
CLS_LOSSES = ("focal", "ap")


@dataclass(frozen=True)
class ATSSLossParams:
    """
    The losses' kinds and weights (the config group ``model.loss``), given to
    :func:`atss_losses`; unknown kinds are refused here, once.

    Attributes:
        cls_loss: classification loss, "focal" (the paper's) or "ap" (AP-Loss,
            :func:`atss.losses.ap_loss`, ranking the items of this worker's images together).
        focal_loss_alpha, focal_loss_gamma: the focal loss' parameters.
        ap_loss_delta: width of AP-Loss' interpolated step, in logits (official 1.0).
        box_loss: "giou" (official) or "smooth_l1", RetinaNet's loss on the box coder's deltas
            with beta ``smooth_l1_beta`` (Table 1).
        reg_loss_weight: weight of the box loss (official ``REG_LOSS_WEIGHT`` 2.0).
    """

    cls_loss: str = "focal"
    focal_loss_alpha: float = 0.25
    focal_loss_gamma: float = 2.0
    ap_loss_delta: float = 1.0
    box_loss: str = "giou"
    smooth_l1_beta: float = 0.11
    reg_loss_weight: float = 2.0

    def __post_init__(self):
        if self.box_loss not in BOX_LOSSES:
            raise ValueError(f"box_loss must be one of {BOX_LOSSES}, got {self.box_loss!r}")
        if self.cls_loss not in CLS_LOSSES:
            raise ValueError(f"cls_loss must be one of {CLS_LOSSES}, got {self.cls_loss!r}")


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


def atss_losses(
    pred_logits: Tensor,
    pred_centerness: Optional[Tensor],
    pred_boxes: Tensor,
    gt_labels: Tensor,
    gt_boxes: Tensor,
    anchor_centers: Tensor,
    *,
    params: ATSSLossParams = ATSSLossParams(),
    pred_deltas: Optional[Tensor] = None,
    gt_deltas: Optional[Tensor] = None,
    reduce_mean: Callable[[Tensor], Tensor] = reduce_mean,
) -> Dict[str, Tensor]:
    """
    Args:
        pred_logits: (N, R, K) class logits of all N images and R anchors.
        pred_centerness: (N, R) centerness logits, or None for a head without centerness.
        pred_boxes: (P, 4) decoded xyxy boxes of the P positive anchors, taken in the row-major
            order of ``positives = (gt_labels >= 0) & (gt_labels < K)``.
        gt_labels: (N, R) class of the matched box, ``K`` for negatives, ``-1`` for ignored
            anchors (which contribute to no loss).
        gt_boxes: (P, 4) matched xyxy box of each positive.
        anchor_centers: (P, 2) centre of each positive anchor.
        params: the losses' kinds and weights. ``params.box_loss`` "giou" is computed on
            ``pred_boxes``, "smooth_l1" on ``pred_deltas`` against ``gt_deltas`` (both (P, 4),
            the box coder's encoding). ``params.cls_loss`` "ap" is :func:`atss.losses.ap_loss`,
            weight 1 as the official AP-Loss code, ranking the items of this worker's images
            together as its DataParallel replicas do.
        reduce_mean: averages a scalar tensor over workers (identity on one worker).

    Returns:
        ``loss_cls``, ``loss_box_reg`` and, with ``pred_centerness``, ``loss_centerness``;
        float16 and bfloat16 inputs (autocast) are upcast, so the losses are at least float32.
    """
    smooth_l1 = params.box_loss == "smooth_l1"
    if smooth_l1 and (pred_deltas is None or gt_deltas is None):
        raise ValueError("box_loss 'smooth_l1' needs pred_deltas and gt_deltas")
    # Mixed precision: head outputs may arrive in float16 or bfloat16 (autocast); the losses,
    # their normalisers and gradients are computed in float32.
    pred_logits, pred_boxes, gt_boxes, anchor_centers = (
        at_least_float32(x) for x in (pred_logits, pred_boxes, gt_boxes, anchor_centers)
    )
    if pred_centerness is not None:
        pred_centerness = at_least_float32(pred_centerness)
    if smooth_l1:
        pred_deltas, gt_deltas = at_least_float32(pred_deltas), at_least_float32(gt_deltas)
    num_classes = pred_logits.shape[-1]
    positives = (gt_labels >= 0) & (gt_labels < num_classes)
    valid = gt_labels >= 0
    num_pos = reduce_mean(positives.sum().to(pred_logits.dtype)).clamp(min=1.0)

    if params.cls_loss == "ap":
        losses = {"loss_cls": ap_loss(pred_logits, gt_labels, delta=params.ap_loss_delta)}
    else:
        targets = F.one_hot(gt_labels[valid], num_classes + 1)[:, :num_classes]
        loss_cls = sigmoid_focal_loss(
            pred_logits[valid],
            targets.to(pred_logits.dtype),
            alpha=params.focal_loss_alpha,
            gamma=params.focal_loss_gamma,
            reduction="sum",
        )
        losses = {"loss_cls": loss_cls / num_pos}
    use_centerness = pred_centerness is not None
    ctr_targets = centerness_targets(anchor_centers, gt_boxes) if use_centerness else None
    if smooth_l1:
        # Official RetinaNet: beta BBOX_REG_BETA, normalised by BBOX_REG_WEIGHT (4) x positives.
        beta = params.smooth_l1_beta
        loss_box_reg = smooth_l1_loss(pred_deltas, gt_deltas, beta, reduction="sum") / (4 * num_pos)
    elif not use_centerness:
        loss_box_reg = giou_loss(pred_boxes, gt_boxes, reduction="sum") / num_pos
    else:
        # A sum of zero happens only when no positive anchor has a positive centerness; the
        # weighted sum above it is then zero too, so the clamp only avoids 0 / 0.
        ctr_sum = reduce_mean(ctr_targets.sum()).clamp(min=1e-6)
        giou = giou_loss(pred_boxes, gt_boxes, reduction="none")
        loss_box_reg = (giou * ctr_targets).sum() / ctr_sum
    losses["loss_box_reg"] = loss_box_reg * params.reg_loss_weight

    if use_centerness:
        loss_centerness = F.binary_cross_entropy_with_logits(
            pred_centerness[positives], ctr_targets, reduction="sum"
        )
        losses["loss_centerness"] = loss_centerness / num_pos
    return losses
