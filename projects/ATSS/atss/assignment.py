"""
The label-assignment rules compared in the ATSS paper, in pure torch.

Every rule takes the anchors of one image as ``anchors_per_level``, a list with one ``(A_l, 4)``
tensor of XYXY boxes per pyramid level in the order the detector flattens its predictions, and the
ground-truth boxes ``gt_boxes`` of shape ``(G, 4)``. It returns a LongTensor of length
``A = sum(A_l)`` on the inputs' device: for each anchor the index of its ground truth, ``NEGATIVE``
(-1), or ``IGNORED`` (-2, only :func:`max_iou_assign` ignores anchors).

- :func:`atss_assign`, :func:`atss_assign_batch`: Adaptive Training Sample Selection (Algorithm 1);
  :func:`atss_candidates`, its per-object steps before an anchor claimed twice is resolved.
- :func:`fcos_assign`: FCOS' spatial and scale constraint (Section 3.3), optionally with center
  sampling, the "lite" ATSS of Section 4.2.
- :func:`max_iou_assign`: RetinaNet's IoU thresholds (Section 3.3, Tables 1-2).
- :func:`assignment_stats`: positives per ground truth and level, for Section 4.1's claim of about
  ``0.2 * k * L`` positives per object whatever its size.
- :func:`topk_iou_assign_batch`: the official code's extra "TOPK" rule, in none of the paper's
  tables.

IoU follows detectron2: a box's area is ``(x2 - x1) * (y2 - y1)``, without the "+1".
"""
import math
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple
import torch
from torch import Tensor

from .anchor_grid import grid_topk_candidates

__all__ = [
    "NEGATIVE",
    "IGNORED",
    "CENTER_IN_BOX_MARGIN",
    "FCOS_CENTER_MARGIN",
    "atss_assign",
    "atss_assign_batch",
    "ATSSCandidates",
    "atss_candidates",
    "topk_nearest_candidates",
    "fcos_assign",
    "max_iou_assign",
    "assignment_stats",
    "broadcast_iou",
    "topk_iou_assign_batch",
]

NEGATIVE = -1
IGNORED = -2

# How far inside a box an anchor centre must be, in pixels of detectron2's continuous frame (pixel
# i covers [i, i + 1]). The official code works in maskrcnn-benchmark's index frame, where a box
# [x1, x2] is the continuous [x1, x2 + 1] and a point p the continuous p + 0.5; its test
# "inside by more than 0.01" (atss_core/modeling/rpn/atss/loss.py, for ATSS, SSC and "In GT Box")
# thus asks p - x1 > 0.01 and x2 - p > 0.01, i.e. continuous distances > 0.51 to every side.
# Official FCOS asks > 0 in the index frame: 0.5 px. A margin of 0.01 px in the continuous frame
# would select about 6% more positives than the official code (20-45% more for objects under
# 16 px).
CENTER_IN_BOX_MARGIN = 0.51
FCOS_CENTER_MARGIN = 0.5

# FCOS' scale ranges per level P3-P7 on max(l, t, r, b); the official lower bound of P3 is -1,
# which selects the same anchors as 0 since the distances of an anchor inside a box are positive.
FCOS_SIZE_RANGES = ((0.0, 64.0), (64.0, 128.0), (128.0, 256.0), (256.0, 512.0), (512.0, math.inf))

# Relative tolerance for x2 < x1 or y2 < y1: such boxes are rounding errors of empty boxes and are
# treated as empty; beyond it they are input errors.
_INVERTED_BOX_TOLERANCE = 1e-4


def _checked_boxes(
    boxes: Sequence[Tensor], names: Sequence[str], like: Optional[Tensor] = None
) -> Tensor:
    """
    Check that each of ``boxes`` is a finite float ``(n, 4)`` tensor of XYXY boxes with
    ``x1 <= x2`` and ``y1 <= y2`` (up to rounding) and return them concatenated, ``(sum n, 4)``.
    ``names[i]`` names ``boxes[i]`` in the ValueError. With ``like``, the result is moved to its
    dtype and must be on its device. One host synchronisation whatever ``len(boxes)``.
    """
    for box, name in zip(boxes, names):
        if not isinstance(box, Tensor) or box.dim() != 2 or box.shape[1] != 4:
            shape = tuple(box.shape) if isinstance(box, Tensor) else type(box).__name__
            raise ValueError(f"{name} must be an (N, 4) tensor of XYXY boxes, got {shape}")
        if not box.is_floating_point():
            raise ValueError(f"{name} must be a floating point tensor, got {box.dtype}")
        device = boxes[0].device if like is None else like.device
        if box.device != device:
            raise ValueError(f"{name} is on {box.device}, expected {device}")
    if len(boxes) == 0:
        return torch.zeros(0, 4) if like is None else like.new_zeros(0, 4)
    out = torch.cat(list(boxes))
    if like is not None:
        out = out.to(like.dtype)
    if out.numel() == 0:
        return out
    nonfinite = ~torch.isfinite(out).all(dim=1)
    scale = out.abs().amax(dim=1, keepdim=True).clamp(min=1.0)
    inverted = ((out[:, 2:] - out[:, :2]) < -_INVERTED_BOX_TOLERANCE * scale).any(dim=1)
    problems = {"non-finite coordinates": nonfinite, "x2 < x1 or y2 < y1": inverted}
    found = torch.stack([rows.any() for rows in problems.values()]).tolist()  # the one sync
    for (problem, rows), present in zip(problems.items(), found):
        if present:
            row = int(rows.nonzero()[0])
            item = int((torch.tensor([len(b) for b in boxes]).cumsum(0) <= row).sum())
            raise ValueError(f"{names[item]} has {problem}, e.g. box {out[row].tolist()}")
    return out


def _checked_anchors(anchors_per_level: Sequence[Tensor]) -> Tensor:
    """Check ``anchors_per_level`` (see :func:`_checked_boxes`) and return them concatenated."""
    if not isinstance(anchors_per_level, (list, tuple)) or len(anchors_per_level) == 0:
        raise ValueError("anchors_per_level must be a non-empty list of (A_l, 4) tensors")
    names = [f"anchors_per_level[{i}]" for i in range(len(anchors_per_level))]
    return _checked_boxes(anchors_per_level, names)


def _area(boxes: Tensor) -> Tensor:
    """Areas of (..., 4) XYXY boxes; slightly inverted boxes (accepted as input) count as empty."""
    wh = (boxes[..., 2:] - boxes[..., :2]).clamp(min=0)
    return wh[..., 0] * wh[..., 1]


def broadcast_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """
    IoU of broadcastable (..., 4) XYXY boxes, as detectron2's ``pairwise_iou``: 0 where the boxes
    do not intersect, so empty boxes give 0 and never 0 / 0.
    """
    lt = torch.maximum(boxes1[..., :2], boxes2[..., :2])
    rb = torch.minimum(boxes1[..., 2:], boxes2[..., 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = _area(boxes1) + _area(boxes2) - inter
    return torch.where(inter > 0, inter / union, torch.zeros_like(inter))


def _centers(boxes: Tensor) -> Tensor:
    """(..., 4) XYXY boxes -> (..., 2) centres (x, y)."""
    return (boxes[..., :2] + boxes[..., 2:]) / 2


def _distances_to_sides(points: Tensor, boxes: Tensor) -> Tensor:
    """(l, t, r, b) from broadcastable (..., 2) points to the sides of (..., 4) boxes."""
    return torch.cat([points - boxes[..., :2], boxes[..., 2:] - points], dim=-1)


def topk_nearest_candidates(anchors_per_level: List[Tensor], centers: Tensor, topk: int) -> Tensor:
    """
    Algorithm 1, lines 3-6, dense: on each level the ``min(topk, A_l)`` anchors whose centres are
    closest (L2) to each ground-truth centre. ``topk`` counts anchors, not locations: with several
    anchors per location, candidates share locations, as in the official code.

    Args:
        anchors_per_level: one (A_l, 4) tensor of XYXY anchors per level.
        centers: (G, 2) ground-truth centres.
        topk: candidates per level (k in the paper).

    Returns:
        (G, sum_l min(topk, A_l)) LongTensor of indices into the concatenated anchors, level by
        level. Within a level candidates are ordered by (distance, anchor index): the distance is
        ``sqrt((ax - gx) ** 2 + (ay - gy) ** 2)`` in the inputs' dtype, from the anchor centre
        ``((x1 + x2) / 2, (y1 + y2) / 2)``; equal distances go to the lower anchor index. A faster
        selection (``atss.anchor_grid``) must reproduce this order exactly.
    """
    candidates = []
    start = 0
    for anchors in anchors_per_level:
        num_anchors = anchors.shape[0]
        k = min(topk, num_anchors)
        anchor_centers = _centers(anchors)
        dx = anchor_centers[None, :, 0] - centers[:, None, 0]
        dy = anchor_centers[None, :, 1] - centers[:, None, 1]
        distances = (dx * dx + dy * dy).sqrt()  # (G, A_l)
        if distances.dtype == torch.float64:
            nearest = distances.sort(dim=1, stable=True).indices[:, :k]
        else:
            # Exact in float32; the bit pattern of a non-negative float32 orders like its value,
            # so (distance, index) packs into one int64 key and one topk (much cheaper than a
            # stable sort) returns the candidates in key order.
            index = torch.arange(num_anchors, device=anchors.device)
            bits = distances.float().view(torch.int32).to(torch.int64)
            nearest = ((bits << 32) | index).topk(k, dim=1, largest=False).indices
        candidates.append(nearest + start)
        start += num_anchors
    return torch.cat(candidates, dim=1)


def _gts_by_image(gt_boxes_per_image: Sequence[Tensor], device) -> Tuple[Tensor, Tensor]:
    """
    For the G ground truths of all images concatenated: (G,) the image of each, and (G,) its
    index within its image, without a loop over images.
    """
    counts = torch.tensor([len(b) for b in gt_boxes_per_image], device=device)
    num_gt = int(counts.sum())
    image_of_gt = torch.repeat_interleave(
        torch.arange(len(gt_boxes_per_image), device=device), counts, output_size=num_gt
    )
    index_in_image = torch.arange(num_gt, device=device) - (counts.cumsum(0) - counts)[image_of_gt]
    return image_of_gt, index_in_image


def _resolve_winners(
    candidates: Tensor,
    is_pos: Tensor,
    ious: Tensor,
    image_of_gt: Tensor,
    index_in_image: Tensor,
    num_images: int,
    num_anchors: int,
) -> Tensor:
    """
    An anchor positive for several ground truths goes to the one with the highest IoU
    (Section 4.1), ties to the lower index: the (G, K) candidates are scattered into one slot per
    (image, anchor), first the highest IoU, then the lowest index among the ground truths
    reaching it.

    Args:
        candidates: (G, K) anchor indices; is_pos, ious: (G, K) their test and IoU.
        image_of_gt, index_in_image: (G,) from :func:`_gts_by_image`.

    Returns:
        (num_images, num_anchors) index of the winning ground truth within its image, or NEGATIVE.
    """
    slot = (image_of_gt * num_anchors)[:, None] + candidates  # (G, K)
    best_iou = ious.new_full((num_images * num_anchors,), -1.0)
    best_iou.scatter_reduce_(0, slot.flatten(), torch.where(is_pos, ious, -1.0).flatten(), "amax")
    is_winner = is_pos & (ious == best_iou[slot])
    no_winner = len(image_of_gt)  # larger than any index in an image
    winner = torch.full_like(best_iou, no_winner, dtype=torch.long)
    winner_values = torch.where(is_winner, index_in_image[:, None], no_winner)
    winner.scatter_reduce_(0, slot.flatten(), winner_values.flatten(), "amin")
    return torch.where(winner == no_winner, NEGATIVE, winner).view(num_images, num_anchors)


class ATSSCandidates(NamedTuple):
    """
    Algorithm 1, lines 3-12, for G objects: what ATSS decides about each object's candidates
    before the anchors claimed by several objects are resolved.
    """

    indices: Tensor  # (G, K) candidate anchors, indices into the concatenated anchors
    ious: Tensor  # (G, K) their IoU with the object
    threshold: Tensor  # (G,) mean + unbiased std of the candidates' IoUs (mean alone if K = 1)
    center_inside: Tensor  # (G, K) bool: the candidate's centre is inside by the margin

    @property
    def is_positive(self) -> Tensor:
        """(G, K) bool: line 12, IoU >= threshold and centre inside."""
        return (self.ious >= self.threshold[:, None]) & self.center_inside


def _candidates(
    anchors_per_level: Sequence[Tensor],
    anchors: Tensor,
    gt_boxes: Tensor,
    topk: int,
    use_grid: bool,
    center_margin: float,
) -> ATSSCandidates:
    """:func:`atss_candidates` on checked inputs (``anchors`` concatenated), G > 0."""
    # Lines 3-6: candidates, only (G, k * L) of them; no (A, G) matrix on regular grids.
    anchors_per_level, centers = list(anchors_per_level), _centers(gt_boxes)
    candidates = grid_topk_candidates(anchors_per_level, centers, topk) if use_grid else None
    if candidates is None:
        candidates = topk_nearest_candidates(anchors_per_level, centers, topk)
    candidate_boxes = anchors[candidates]  # (G, K, 4)

    # Lines 7-10: per ground truth threshold = mean + std of the candidates' IoU. The standard
    # deviation is the unbiased one (torch's default, as the official code); a single candidate
    # has none and uses 0.
    ious = broadcast_iou(candidate_boxes, gt_boxes[:, None, :])  # (G, K)
    threshold = ious.mean(dim=1)
    if ious.shape[1] > 1:
        threshold = threshold + ious.std(dim=1)

    # Line 12's other test: the anchor centre inside the ground truth.
    sides = _distances_to_sides(_centers(candidate_boxes), gt_boxes[:, None, :])
    return ATSSCandidates(candidates, ious, threshold, sides.amin(dim=-1) > center_margin)


def atss_candidates(
    anchors_per_level: List[Tensor],
    gt_boxes: Tensor,
    *,
    topk: int = 9,
    use_grid: bool = True,
    center_margin: float = CENTER_IN_BOX_MARGIN,
) -> ATSSCandidates:
    """
    The per-object steps of ATSS (Algorithm 1, lines 3-12) that :func:`atss_assign_batch`
    resolves into an assignment: each object's candidates, their IoUs, its threshold and which
    candidates have their centre inside it. Arguments as :func:`atss_assign`; ``gt_boxes``
    (G, 4) with G > 0 and at least one anchor.
    """
    if isinstance(topk, bool) or not isinstance(topk, int) or topk < 1:
        raise ValueError(f"topk must be a positive int, got {topk!r}")
    anchors = _checked_anchors(anchors_per_level)
    gt_boxes = _checked_boxes([gt_boxes], ["gt_boxes"], like=anchors)
    if gt_boxes.shape[0] == 0 or anchors.shape[0] == 0:
        raise ValueError("atss_candidates needs at least one ground truth and one anchor")
    return _candidates(anchors_per_level, anchors, gt_boxes, topk, use_grid, center_margin)


def _atss_assign(
    anchors_per_level: Sequence[Tensor],
    gt_boxes_per_image: Sequence[Tensor],
    gt_names: Sequence[str],
    topk: int,
    use_grid: bool,
    center_margin: float,
) -> Tensor:
    if isinstance(topk, bool) or not isinstance(topk, int) or topk < 1:
        raise ValueError(f"topk must be a positive int, got {topk!r}")
    anchors = _checked_anchors(anchors_per_level)
    gt_boxes = _checked_boxes(gt_boxes_per_image, gt_names, like=anchors)
    num_images, num_anchors, num_gt = len(gt_boxes_per_image), anchors.shape[0], gt_boxes.shape[0]
    device = anchors.device
    if num_gt == 0 or num_anchors == 0:
        return torch.full((num_images, num_anchors), NEGATIVE, dtype=torch.long, device=device)

    image_of_gt, index_in_image = _gts_by_image(gt_boxes_per_image, device)
    selected = _candidates(anchors_per_level, anchors, gt_boxes, topk, use_grid, center_margin)
    return _resolve_winners(
        selected.indices,
        selected.is_positive,
        selected.ious,
        image_of_gt,
        index_in_image,
        num_images,
        num_anchors,
    )


def atss_assign_batch(
    anchors_per_level: List[Tensor],
    gt_boxes_per_image: List[Tensor],
    *,
    topk: int = 9,
    use_grid: bool = True,
    center_margin: float = CENTER_IN_BOX_MARGIN,
) -> Tensor:
    """
    ATSS (Algorithm 1) for a batch of images sharing their anchors, in a number of kernels that
    does not grow with the batch: the ground truths of all images are processed together and
    each anchor's winner is resolved by scattering the (G, k * L) candidates.

    Args:
        anchors_per_level: one (A_l, 4) tensor of XYXY anchors per level, shared by the images.
        gt_boxes_per_image: N tensors of shape (G_i, 4), XYXY ground-truth boxes.
        topk: candidates per level, k in the paper (9; Table 4 finds 7-17 equally good).
        use_grid: select the candidates with :func:`atss.anchor_grid.grid_topk_candidates` when
            the anchors are a regular grid (same result, O(A + G * k * L)); False forces the
            dense :func:`topk_nearest_candidates`.
        center_margin: how far (pixels) inside the ground truth a positive's centre must be:
            0.51 is the official test in the continuous frame (see ``CENTER_IN_BOX_MARGIN``).

    Returns:
        (N, A) LongTensor: per image and anchor the index of the matched ground truth within that
        image, or NEGATIVE. An anchor is positive for a ground truth when it is one of its
        candidates (:func:`topk_nearest_candidates`), its IoU is at least the mean plus the
        unbiased standard deviation of the candidates' IoUs, and its centre lies inside the box
        by more than ``center_margin``; an anchor positive for several goes to the highest IoU,
        ties to the lower index.
    """
    if not isinstance(gt_boxes_per_image, (list, tuple)):
        raise ValueError("gt_boxes_per_image must be a list of (G_i, 4) tensors")
    names = [f"gt_boxes_per_image[{i}]" for i in range(len(gt_boxes_per_image))]
    return _atss_assign(
        anchors_per_level, gt_boxes_per_image, names, topk, use_grid, center_margin
    )


def atss_assign(
    anchors_per_level: List[Tensor],
    gt_boxes: Tensor,
    *,
    topk: int = 9,
    use_grid: bool = True,
    center_margin: float = CENTER_IN_BOX_MARGIN,
) -> Tensor:
    """
    ATSS (Algorithm 1) for one image: :func:`atss_assign_batch` with a batch of one.

    Args:
        anchors_per_level: one (A_l, 4) tensor of XYXY anchors per level.
        gt_boxes: (G, 4) XYXY ground-truth boxes.
        topk: candidates per level.
        use_grid, center_margin: as in :func:`atss_assign_batch`.

    Returns:
        (A,) LongTensor: index of the matched ground truth or NEGATIVE.
    """
    return _atss_assign(
        anchors_per_level, [gt_boxes], ["gt_boxes"], topk, use_grid, center_margin
    )[0]


def fcos_assign(
    anchors_per_level: List[Tensor],
    strides: Sequence[float],
    gt_boxes: Tensor,
    *,
    size_ranges: Sequence[Tuple[float, float]] = FCOS_SIZE_RANGES,
    center_sampling_radius: Optional[float] = None,
    center_margin: float = FCOS_CENTER_MARGIN,
) -> Tensor:
    """
    FCOS' spatial and scale constraint (the official ATSS "SSC" rule, Table 2): an anchor is
    positive for a ground truth when its centre is inside the box by more than ``center_margin``
    (0.5 px is official FCOS' "> 0" in the continuous frame, 0.51 px the ATSS code's copy of the
    rule; see ``CENTER_IN_BOX_MARGIN``) and the largest of its distances
    (l, t, r, b) to the sides lies in its level's range, ``lo <= max <= hi`` (both ends closed, as
    official FCOS); among several, the smallest-area box wins, ties to the lower index.

    With ``center_sampling_radius`` r (FCOS' center sampling, the "lite" ATSS of Section 4.2) the
    centre must also be strictly inside the square of half-side ``r * stride`` around the box
    centre, as official FCOS' ``get_sample_region`` (whose clipping to the box is the test
    above).

    Args:
        anchors_per_level: one (A_l, 4) tensor of XYXY anchors per level; only their centres count.
        strides: the stride of each level.
        gt_boxes: (G, 4) XYXY ground-truth boxes.
        size_ranges: (lo, hi) per level for max(l, t, r, b).
        center_sampling_radius: r in strides, or None for no center sampling.
        center_margin: how far (pixels) inside the box a positive's centre must be.

    Returns:
        (A,) LongTensor: index of the matched ground truth or NEGATIVE.
    """
    anchors = _checked_anchors(anchors_per_level)
    gt_boxes = _checked_boxes([gt_boxes], ["gt_boxes"], like=anchors)
    num_levels = len(anchors_per_level)
    if len(strides) != num_levels:
        raise ValueError(f"strides has {len(strides)} entries for {num_levels} levels")
    if len(size_ranges) != num_levels:
        raise ValueError(f"size_ranges has {len(size_ranges)} entries for {num_levels} levels")
    if center_sampling_radius is not None and not center_sampling_radius > 0:
        raise ValueError(f"center_sampling_radius must be positive, got {center_sampling_radius}")
    if gt_boxes.shape[0] == 0:
        return torch.full((anchors.shape[0],), NEGATIVE, dtype=torch.long, device=anchors.device)

    areas = _area(gt_boxes)
    gt_centers = _centers(gt_boxes)
    assigned = []
    for level_anchors, stride, (lo, hi) in zip(anchors_per_level, strides, size_ranges):
        points = _centers(level_anchors.to(anchors.dtype))[None]  # (1, A_l, 2)
        sides = _distances_to_sides(points, gt_boxes[:, None, :])  # (G, A_l, 4)
        inside = sides.amin(dim=-1) > center_margin
        if center_sampling_radius is not None:
            half = center_sampling_radius * stride
            region = torch.cat([gt_centers - half, gt_centers + half], dim=1)
            inside &= _distances_to_sides(points, region[:, None, :]).amin(dim=-1) > 0
        max_side = sides.amax(dim=-1)
        ok = inside & (max_side >= lo) & (max_side <= hi)
        # min() returns the first of equal minima: ties go to the lower index.
        gt_index = torch.where(ok, areas[:, None], math.inf).min(dim=0).indices
        assigned.append(torch.where(ok.any(dim=0), gt_index, NEGATIVE))
    return torch.cat(assigned)


def max_iou_assign(
    anchors_per_level: List[Tensor],
    gt_boxes: Tensor,
    *,
    fg_iou: float = 0.5,
    bg_iou: float = 0.4,
    allow_low_quality_matches: bool = True,
    require_center_in_gt: bool = False,
    center_margin: float = CENTER_IN_BOX_MARGIN,
) -> Tensor:
    """
    RetinaNet's IoU rule (official ATSS "IoU"): each anchor is matched to the ground truth of its
    highest IoU (ties to the lower index); positive when that IoU >= ``fg_iou``, negative when it
    is < ``bg_iou``, ignored in between.

    Args:
        anchors_per_level: one (A_l, 4) tensor of XYXY anchors per level.
        gt_boxes: (G, 4) XYXY ground-truth boxes.
        fg_iou, bg_iou: the thresholds, ``bg_iou <= fg_iou``.
        allow_low_quality_matches: as detectron2's Matcher, for each ground truth the anchors
            tying its highest IoU become positive, where that IoU is > 0. Such an anchor keeps its
            own best ground truth, which may be another one (detectron2 and official code alike).
        require_center_in_gt: Table 1's "In GT Box": positives whose centre is not inside their
            ground truth by more than ``center_margin`` pixels are ignored.
        center_margin: as in :func:`atss_assign_batch` (0.51 is the official test).

    Returns:
        (A,) LongTensor: index of the matched ground truth, NEGATIVE or IGNORED.
    """
    if not 0 <= bg_iou <= fg_iou:
        raise ValueError(f"need 0 <= bg_iou <= fg_iou, got bg_iou={bg_iou}, fg_iou={fg_iou}")
    anchors = _checked_anchors(anchors_per_level)
    gt_boxes = _checked_boxes([gt_boxes], ["gt_boxes"], like=anchors)
    if gt_boxes.shape[0] == 0:
        return torch.full((anchors.shape[0],), NEGATIVE, dtype=torch.long, device=anchors.device)

    ious = broadcast_iou(gt_boxes[:, None, :], anchors[None, :, :])  # (G, A)
    best_iou, matched = ious.max(dim=0)  # max() returns the first of equal maxima
    assigned = torch.where(best_iou >= fg_iou, matched, NEGATIVE)
    assigned = torch.where((best_iou >= bg_iou) & (best_iou < fg_iou), IGNORED, assigned)
    if allow_low_quality_matches:
        best_per_gt = ious.amax(dim=1, keepdim=True)
        low_quality = ((ious == best_per_gt) & (best_per_gt > 0)).any(dim=0)
        assigned = torch.where(low_quality, matched, assigned)
    if require_center_in_gt:
        sides = _distances_to_sides(_centers(anchors), gt_boxes[matched])
        outside = sides.amin(dim=-1) <= center_margin
        assigned = torch.where((assigned >= 0) & outside, IGNORED, assigned)
    return assigned


def assignment_stats(
    assigned: Tensor, gt_boxes: Tensor, num_anchors_per_level: Sequence[int]
) -> Dict[str, Tensor]:
    """
    Count the positives of one image's assignment, e.g. to check Section 4.1's claim that ATSS
    gives each object about ``0.2 * k * L`` positives whatever its size.

    Args:
        assigned: (A,) output of one of the rules for one image (take row i of a batch).
        gt_boxes: (G, 4) the ground truths it was computed for.
        num_anchors_per_level: A_l for each level, summing to A.

    Returns:
        dict with LongTensors "num_pos_per_gt" (G,), "num_pos_per_level" (L,),
        "num_pos_per_gt_per_level" (G, L), and the float scalar "mean_pos_per_gt" (0 when G = 0).
    """
    num_anchors = sum(num_anchors_per_level)
    if not isinstance(assigned, Tensor) or assigned.shape != (num_anchors,):
        shape = tuple(assigned.shape) if isinstance(assigned, Tensor) else type(assigned).__name__
        raise ValueError(f"assigned must have shape ({num_anchors},) for the levels, got {shape}")
    if not isinstance(gt_boxes, Tensor) or gt_boxes.dim() != 2 or gt_boxes.shape[1] != 4:
        raise ValueError("gt_boxes must be an (N, 4) tensor of XYXY boxes")
    num_gt, num_levels = gt_boxes.shape[0], len(num_anchors_per_level)
    if ((assigned < IGNORED) | (assigned >= num_gt)).any():
        raise ValueError(f"assigned has values outside [{IGNORED}, {num_gt - 1}]")

    level = torch.repeat_interleave(
        torch.arange(num_levels, device=assigned.device),
        torch.tensor(list(num_anchors_per_level), device=assigned.device),
        output_size=num_anchors,
    )
    # Positives counted in bin (gt, level); the rest in one extra bin, dropped.
    not_counted = num_gt * num_levels
    bins = torch.where(assigned >= 0, assigned * num_levels + level, not_counted)
    counts = torch.bincount(bins, minlength=not_counted + 1)[:not_counted]
    per_gt_per_level = counts.view(num_gt, num_levels)
    per_gt = per_gt_per_level.sum(dim=1)
    return {
        "num_pos_per_gt": per_gt,
        "num_pos_per_level": per_gt_per_level.sum(dim=0),
        "num_pos_per_gt_per_level": per_gt_per_level,
        "mean_pos_per_gt": per_gt.sum().float() / max(num_gt, 1),
    }


def topk_iou_assign_batch(
    anchors_per_level: List[Tensor],
    gt_boxes_per_image: List[Tensor],
    *,
    topk: int = 9,
    center_margin: float = CENTER_IN_BOX_MARGIN,
) -> Tensor:
    """
    The official code's "TOPK" positive type (``POSITIVE_TYPE: 'TOPK'`` in its ``loss.py``), in
    none of the paper's tables: per ground truth, the ``topk`` anchors of all levels together
    with the highest IoU minus a tiny centre-distance term (the distance divided by the largest
    anchor-to-GT centre distance in the image, then by 1000, so that it only orders anchors of
    equal IoU, nearer first) are positive when their centre is inside the box by more than
    ``center_margin``; an anchor positive for several goes to the highest IoU, ties to the lower
    index. Batched over images sharing their anchors; it builds (G, A) matrices, as the official
    rule does.

    Args:
        anchors_per_level: one (A_l, 4) tensor of XYXY anchors per level, shared by the images.
        gt_boxes_per_image: N tensors of shape (G_i, 4), XYXY ground-truth boxes.
        topk: positives per ground truth before the centre test (official TOPK, 9). Unlike ATSS
            it counts anchors over all levels and is not multiplied by the anchors per location.
        center_margin: distance the anchor centre must keep from every side. 0.51 in
            detectron2's continuous frame equals the official "> 0.01" in its "+1" index frame.
            Equal scores go to the lower anchor index.

    Returns:
        (N, A) LongTensor: per image and anchor the index of the matched ground truth within that
        image, or NEGATIVE.
    """
    if isinstance(topk, bool) or not isinstance(topk, int) or topk < 1:
        raise ValueError(f"topk must be a positive int, got {topk!r}")
    if not isinstance(gt_boxes_per_image, (list, tuple)):
        raise ValueError("gt_boxes_per_image must be a list of (G_i, 4) tensors")
    anchors = _checked_anchors(anchors_per_level)
    names = [f"gt_boxes_per_image[{i}]" for i in range(len(gt_boxes_per_image))]
    gt_boxes = _checked_boxes(gt_boxes_per_image, names, like=anchors)
    num_images, num_anchors, num_gt = len(gt_boxes_per_image), anchors.shape[0], gt_boxes.shape[0]
    device = anchors.device
    if num_gt == 0 or num_anchors == 0:
        return torch.full((num_images, num_anchors), NEGATIVE, dtype=torch.long, device=device)

    image_of_gt, index_in_image = _gts_by_image(gt_boxes_per_image, device)

    anchor_centers = _centers(anchors)
    ious = broadcast_iou(gt_boxes[:, None, :], anchors[None, :, :])  # (G, A)
    distances = (anchor_centers[None, :, :] - _centers(gt_boxes)[:, None, :]).norm(dim=-1)
    # Official: divided by the largest distance of the image (all its anchors and GTs), / 1000.
    image_max = distances.new_zeros(num_images)
    image_max.scatter_reduce_(0, image_of_gt, distances.amax(dim=1), "amax")
    scale = image_max[image_of_gt].clamp(min=torch.finfo(distances.dtype).tiny) * 1000
    score = ious - distances / scale[:, None]
    order = score.sort(dim=1, descending=True, stable=True).indices
    candidates = order[:, : min(topk, num_anchors)]  # (G, k)

    sides = _distances_to_sides(anchor_centers[candidates], gt_boxes[:, None, :])
    is_pos = sides.amin(dim=-1) > center_margin  # (G, k)
    candidate_ious = ious.gather(1, candidates)

    return _resolve_winners(
        candidates, is_pos, candidate_ious, image_of_gt, index_in_image, num_images, num_anchors
    )
