"""
The assignment rules (which anchors are positives, and of which object) the detector picks by name
(``model.assignment.rule``, YAML ``MODEL.ATSS.ASSIGNMENT``): the paper's ATSS and the rules it
compares against (Tables 1-3), registered so that a project can add its own; also the official
code's "topk", which no table of the paper uses. :class:`AssignmentParams` holds the rule's name
and options (the config group ``model.assignment``).
"""
from dataclasses import dataclass
from functools import partial
from typing import Callable, List, Optional, Sequence, Tuple
import torch
from torch import Tensor

from detectron2.utils.registry import Registry

from ..assignment import (
    CENTER_IN_BOX_MARGIN,
    FCOS_SIZE_RANGES,
    atss_assign_batch,
    fcos_assign,
    max_iou_assign,
    topk_iou_assign_batch,
)

__all__ = [
    "ASSIGNMENT_REGISTRY",
    "AssignmentParams",
    "atss_candidates_per_level",
    "build_assignment",
]

ASSIGNMENT_REGISTRY = Registry("ASSIGNMENT")
ASSIGNMENT_REGISTRY.__doc__ = """
Assignment rules. Each entry takes a :class:`AssignmentParams`, the anchor generator's strides
and its anchors per location, and returns a function
``(anchors_per_level: List[Tensor (A_i, 4)], gt_boxes_per_image: List[Tensor (G_n, 4)]) ->
LongTensor (N, sum A_i)`` holding the matched GT index per anchor, -1 for negatives and -2 for
ignored anchors.
"""

# A rule that matches one image at a time: fn(anchors_per_level, gt_boxes) -> (sum A_i,).
PerImageRule = Callable[[List[Tensor], Tensor], Tensor]
BatchRule = Callable[[List[Tensor], List[Tensor]], Tensor]


@dataclass(frozen=True)
class AssignmentParams:
    """
    The assignment rule and its options (the config group ``model.assignment``); each rule reads
    the options it needs.

    Attributes:
        rule: a name in ``ASSIGNMENT_REGISTRY``: "atss", "max_iou", "fcos", "center_sampling" or
            "topk" (the official code's extra rule).
        topk: candidate locations per level of ATSS (k of Algorithm 1; Table 4); positives per
            object over all levels of "topk".
        iou_thresholds: (background, foreground) IoU thresholds of "max_iou".
        allow_low_quality_matches, require_center_in_gt: options of "max_iou" (Table 1).
        size_ranges: per-level ranges of max(l, t, r, b) for "fcos" and "center_sampling".
        center_sampling_radius: radius in strides of "center_sampling".
        center_margin: pixels a positive's anchor centre must be inside its ground truth, for
            every rule; 0.51 is the official code's "> 0.01" of its "+1" index frame in
            detectron2's continuous frame (``atss.assignment.CENTER_IN_BOX_MARGIN``).
    """

    rule: str = "atss"
    topk: int = 9
    iou_thresholds: Tuple[float, float] = (0.4, 0.5)
    allow_low_quality_matches: bool = True
    require_center_in_gt: bool = False
    size_ranges: Sequence[Tuple[float, float]] = FCOS_SIZE_RANGES
    center_sampling_radius: float = 1.5
    center_margin: float = CENTER_IN_BOX_MARGIN

    def __post_init__(self):
        # Config values arrive as lists; the frozen parameters hold tuples.
        object.__setattr__(self, "iou_thresholds", tuple(self.iou_thresholds))
        object.__setattr__(self, "size_ranges", tuple(tuple(r) for r in self.size_ranges))


def atss_candidates_per_level(params: AssignmentParams, anchors_per_location: int) -> int:
    """ATSS' candidates per level: as the official code, k counts locations, so each level gives
    k times the anchors of a location."""
    return params.topk * anchors_per_location


def _per_image(rule: PerImageRule) -> BatchRule:
    def batch_rule(anchors_per_level: List[Tensor], gt_boxes_per_image: List[Tensor]) -> Tensor:
        return torch.stack([rule(anchors_per_level, gt_boxes) for gt_boxes in gt_boxes_per_image])

    return batch_rule


@ASSIGNMENT_REGISTRY.register()
def atss(params: AssignmentParams, strides: Sequence[int], anchors_per_location: int) -> BatchRule:
    """Algorithm 1 of the paper, batched over the images."""
    return partial(
        atss_assign_batch,
        topk=atss_candidates_per_level(params, anchors_per_location),
        center_margin=params.center_margin,
    )


@ASSIGNMENT_REGISTRY.register()
def max_iou(
    params: AssignmentParams, strides: Sequence[int], anchors_per_location: int
) -> BatchRule:
    """RetinaNet's IoU rule (Table 2, "Intersection over Union"); optional "In GT Box" (Table 1)."""
    bg_iou, fg_iou = params.iou_thresholds
    return _per_image(
        partial(
            max_iou_assign,
            fg_iou=fg_iou,
            bg_iou=bg_iou,
            allow_low_quality_matches=params.allow_low_quality_matches,
            require_center_in_gt=params.require_center_in_gt,
            center_margin=params.center_margin,
        )
    )


def _fcos_rule(
    params: AssignmentParams, strides: Sequence[int], center_sampling_radius: Optional[float]
) -> BatchRule:
    def rule(anchors_per_level: List[Tensor], gt_boxes: Tensor) -> Tensor:
        return fcos_assign(
            anchors_per_level,
            strides,
            gt_boxes,
            size_ranges=params.size_ranges,
            center_sampling_radius=center_sampling_radius,
            center_margin=params.center_margin,
        )

    return _per_image(rule)


@ASSIGNMENT_REGISTRY.register()
def fcos(params: AssignmentParams, strides: Sequence[int], anchors_per_location: int) -> BatchRule:
    """FCOS's spatial and scale constraint (Table 2)."""
    return _fcos_rule(params, strides, center_sampling_radius=None)


@ASSIGNMENT_REGISTRY.register()
def center_sampling(
    params: AssignmentParams, strides: Sequence[int], anchors_per_location: int
) -> BatchRule:
    """FCOS with center sampling, the paper's "lite" ATSS (Table 3)."""
    return _fcos_rule(params, strides, center_sampling_radius=params.center_sampling_radius)


@ASSIGNMENT_REGISTRY.register()
def topk(params: AssignmentParams, strides: Sequence[int], anchors_per_location: int) -> BatchRule:
    """
    The official code's extra "TOPK" rule, in none of the paper's tables: per object the k
    anchors of highest IoU over all levels (nearer centre first at equal IoU) whose centre is
    inside the box (:func:`atss.assignment.topk_iou_assign_batch`).
    """
    return partial(topk_iou_assign_batch, topk=params.topk, center_margin=params.center_margin)


def build_assignment(
    params: AssignmentParams, strides: Sequence[int], anchors_per_location: int = 1
) -> BatchRule:
    """
    The batched rule ``params.rule`` with its options, for anchors of ``strides`` with
    ``anchors_per_location`` anchors at each location: ``(anchors_per_level, gt_boxes_per_image)
    -> (N, sum A_i)`` matched GT indices (see ``ASSIGNMENT_REGISTRY``).
    """
    if params.rule not in ASSIGNMENT_REGISTRY:
        raise ValueError(
            f"Unknown assignment rule {params.rule!r}; registered: "
            f"{sorted(k for k, _ in ASSIGNMENT_REGISTRY)}"
        )
    return ASSIGNMENT_REGISTRY.get(params.rule)(params, list(strides), anchors_per_location)
