"""
Soft box voting: how the official multi-scale test merges the detections of all its passes
(``soft_bbox_vote`` and ``merge_result_from_multi_scales`` in the official
``atss_core/engine/bbox_aug_vote.py``). Pure torch; never imports detectron2.
"""
from typing import Tuple
import torch
from torch import Tensor
from torchvision.ops import box_iou

__all__ = ["MERGE_METHODS", "box_voting"]

# How the detections of several passes over one image are merged: soft box voting, or class-wise
# NMS (test-time augmentation and tiled inference).
MERGE_METHODS = ("soft_vote", "nms")


def box_voting(
    boxes: Tensor,
    scores: Tensor,
    classes: Tensor,
    *,
    iou_threshold: float = 0.66,
    score_threshold: float = 0.05,
    max_detections: int = 1000,
) -> Tuple[Tensor, Tensor, Tensor]:
    """
    Merge overlapping detections of the same class by soft box voting.

    Per class, repeatedly: the highest-scoring remaining box and every remaining box whose IoU
    with it is at least ``iou_threshold`` (itself included) leave the pool as one cluster.
    A cluster of one box is output unchanged. A larger cluster gives one box whose coordinates
    are the score-weighted mean of its members, scored with the cluster's highest score, plus a
    copy of every member scored ``score * (1 - IoU with the top box)``, kept if that is at least
    ``score_threshold``; the copies do not return to the pool. Finally at most
    ``max_detections`` detections are kept by score, ties with the last one kept included.

    IoU is detectron2's continuous one (area ``(x1 - x0) * (y1 - y0)``), not the official
    ``+ 1`` pixel convention. Boxes of equal score are taken in input order.

    All classes are voted at once: each round takes the top remaining box of every class, so
    the rounds number the clusters of the most crowded class, not the clusters of all classes.

    Args:
        boxes: (N, 4) boxes (x0, y0, x1, y1), all in one image frame.
        scores: (N,) detection scores.
        classes: (N,) integer class of each box.
        iou_threshold: IoU with the top box at or above which a box joins its cluster
            (official ``TEST.BBOX_AUG.VOTE_TH``).
        score_threshold: minimum score of a soft copy (official ``INFERENCE_TH``).
        max_detections: detections kept (official ``PRE_NMS_TOP_N``).

    Returns:
        boxes (M, 4), scores (M,) and classes (M,) of the merged detections, by decreasing
        score.
    """
    if boxes.dim() != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4), got {tuple(boxes.shape)}")
    if scores.shape != boxes.shape[:1] or classes.shape != boxes.shape[:1]:
        raise ValueError(
            f"scores {tuple(scores.shape)} and classes {tuple(classes.shape)} must have shape "
            f"({len(boxes)},), one per box"
        )
    if max_detections <= 0:
        raise ValueError(f"max_detections must be positive, got {max_detections}")

    scores, order = scores.sort(descending=True, stable=True)
    boxes, classes = boxes[order], classes[order]
    n = len(boxes)
    positions = torch.arange(n, device=boxes.device)
    # The cluster (position of its top box) of every box, and its IoU with that top box.
    cluster = torch.full((n,), -1, dtype=torch.long, device=boxes.device)
    iou_with_top = boxes.new_zeros(n)

    remaining = torch.ones(n, dtype=torch.bool, device=boxes.device)
    while remaining.any():
        # The top of every class: its first remaining box, boxes being sorted by score.
        rest = positions[remaining]
        present, inverse = torch.unique(classes[rest], return_inverse=True)
        tops = rest.new_full(present.shape, n).scatter_reduce(0, inverse, rest, "amin")
        first_of_class = rest == tops[inverse]
        # IoU of each remaining box with the top of its class.
        iou = box_iou(boxes[tops], boxes[rest]).gather(0, inverse[None]).squeeze(0)
        # A degenerate top box has IoU NaN with itself; it still is its own cluster.
        joins = (iou >= iou_threshold) | first_of_class
        members = rest[joins]
        cluster[members] = tops[inverse[joins]]
        iou_with_top[members] = iou[joins]
        remaining[members] = False

    size = torch.zeros(n, dtype=torch.long, device=boxes.device).index_add_(
        0, cluster, torch.ones_like(cluster)
    )
    is_top = cluster == positions
    single = size[cluster] == 1

    # One voted box per cluster of two or more: score-weighted mean, the top box's score.
    weighted = boxes.new_zeros(n, 4).index_add_(0, cluster, boxes * scores[:, None])
    weight = scores.new_zeros(n).index_add_(0, cluster, scores)
    voted = is_top & ~single
    voted_boxes = weighted[voted] / weight[voted, None]

    soft_scores = scores * (1 - iou_with_top)
    soft = ~single & (soft_scores >= score_threshold)

    out_boxes = torch.cat([boxes[single], voted_boxes, boxes[soft]])
    out_scores = torch.cat([scores[single], scores[voted], soft_scores[soft]])
    out_classes = torch.cat([classes[single], classes[voted], classes[soft]])

    out_scores, order = out_scores.sort(descending=True, stable=True)
    out_boxes, out_classes = out_boxes[order], out_classes[order]
    if len(out_scores) > max_detections:
        keep = out_scores >= out_scores[max_detections - 1]
        out_boxes, out_scores, out_classes = out_boxes[keep], out_scores[keep], out_classes[keep]
    return out_boxes, out_scores, out_classes
