"""
What the visualizations show about label assignment, computed with the project's own functions
(:mod:`atss.assignment`, the assignment registry), never re-derived: an image's anchors as
the model makes them, ATSS' candidates and IoU statistics for each object, and the assignment of
any registered rule; over a dataset, the positives of each object against its size.
"""

import numpy as np
from dataclasses import dataclass
from typing import Dict, Iterable, List, Sequence, Tuple
import torch
from torch import Tensor

from detectron2.data.detection_utils import convert_image_to_rgb
from detectron2.structures import Boxes, pairwise_iou

from ..assignment import assignment_stats, topk_nearest_candidates
from ..modeling.assignment_registry import (
    ASSIGNMENT_REGISTRY,
    AssignmentParams,
    atss_candidates_per_level,
)
from ..modeling.meta_arch import ATSS

__all__ = [
    "PAPER_RULES",
    "registered_rules",
    "AssignmentView",
    "view_assignment",
    "SizeStats",
    "positives_vs_size",
]

# ATSS and the rules the paper compares it with (Tables 1-3).
PAPER_RULES = ("atss", "max_iou", "fcos", "center_sampling")


def registered_rules() -> List[str]:
    """Names of the rules in ``ASSIGNMENT_REGISTRY``, any of which can be shown."""
    return sorted(name for name, _ in ASSIGNMENT_REGISTRY)


class _Anchors:
    """The model's anchors for each padded input size, computed once per size."""

    def __init__(self, model: ATSS):
        self.model = model
        self._cache: Dict[Tuple[int, int], List[Tensor]] = {}

    @torch.no_grad()
    def __call__(self, image: Tensor) -> List[Tensor]:
        """``image``: (C, H, W) as the model takes it; returns one (A_l, 4) tensor per level."""
        model = self.model
        padded = model.preprocess_image([{"image": image}]).tensor
        size = tuple(padded.shape[-2:])
        if size not in self._cache:
            # Anchors depend on the feature sizes only: the backbone of a blank input gives them.
            features = model.backbone(torch.zeros_like(padded))
            features = [features[f] for f in model.head_in_features]
            self._cache[size] = [a.tensor for a in model.anchor_generator(features)]
        return self._cache[size]


def _rule(model: ATSS, name: str):
    """A registered rule with the model's options, for one image: (anchors_per_level, gt_boxes
    (G, 4)) -> (A,)."""
    batch_rule = model.assignment_rule(name)
    return lambda anchors_per_level, gt_boxes: batch_rule(anchors_per_level, [gt_boxes])[0]


@dataclass
class AssignmentView:
    """
    One image with its ground truth and anchors, ATSS' candidates and IoU statistics for each
    object (Algorithm 1, lines 3-10), and the assignment of each requested rule.
    """

    image: np.ndarray  # (H, W, 3) uint8 RGB, as the model sees it (after test-time resizing)
    gt_boxes: Tensor  # (G, 4) XYXY
    gt_classes: Tensor  # (G,)
    anchors_per_level: List[Tensor]  # one (A_l, 4) tensor per level
    level_names: List[str]
    params: AssignmentParams
    anchors_per_location: int
    candidates: Tensor  # (G, K) indices into the concatenated anchors, level by level
    candidate_ious: Tensor  # (G, K)
    iou_mean: Tensor  # (G,)
    iou_std: Tensor  # (G,), unbiased, 0 with a single candidate
    assigned: Dict[str, Tensor]  # rule name -> (A,) GT index, NEGATIVE or IGNORED

    @property
    def topk(self) -> int:
        """Candidates per level: k locations times the anchors of a location (as ``atss``)."""
        return atss_candidates_per_level(self.params, self.anchors_per_location)

    @property
    def iou_threshold(self) -> Tensor:
        """(G,) mean + standard deviation of each object's candidate IoUs."""
        return self.iou_mean + self.iou_std

    @property
    def anchors(self) -> Tensor:
        return torch.cat(self.anchors_per_level)

    @property
    def num_anchors_per_level(self) -> List[int]:
        return [len(a) for a in self.anchors_per_level]

    @property
    def level_of_anchor(self) -> Tensor:
        """(A,) level index of each anchor."""
        counts = torch.tensor(self.num_anchors_per_level)
        return torch.repeat_interleave(torch.arange(len(counts)), counts)

    def stats(self, rule: str) -> Dict[str, Tensor]:
        """:func:`atss.assignment.assignment_stats` of ``rule``'s assignment."""
        return assignment_stats(self.assigned[rule], self.gt_boxes, self.num_anchors_per_level)


def _inputs(model: ATSS, mapper, dataset_dict: dict) -> Tuple[dict, np.ndarray]:
    inputs = mapper(dataset_dict)
    if "instances" not in inputs:
        raise ValueError(f"Image {dataset_dict.get('file_name')} has no annotations")
    image = convert_image_to_rgb(inputs["image"].permute(1, 2, 0).numpy(), model.input_format)
    return inputs, np.ascontiguousarray(image)


@torch.no_grad()
def view_assignment(
    model: ATSS,
    mapper,
    dataset_dict: dict,
    rules: Sequence[str] = PAPER_RULES,
) -> AssignmentView:
    """
    Assign one dataset image's anchors with each of ``rules`` (names in the registry), with the
    model's anchors and the parameters its rule was built with.

    Args:
        model: an ATSS model (its weights do not matter); every rule takes the parameters of
            the model's own (``model.assignment``).
        mapper: turns ``dataset_dict`` into the model's input with ``instances``
            (:func:`atss.visualization.annotated_mapper`).
        dataset_dict: one image of a detectron2 dataset.
        rules: rule names; unknown names raise a ValueError listing the registered ones.
            "atss" is always computed, as the candidates and IoU statistics are its own.
    """
    params = model.assignment
    anchors_per_location = model.anchor_generator.num_cell_anchors[0]
    inputs, image = _inputs(model, mapper, dataset_dict)
    anchors_per_level = _Anchors(model)(inputs["image"])
    instances = inputs["instances"]
    gt_boxes = instances.gt_boxes.tensor
    anchors = torch.cat(anchors_per_level)

    topk = atss_candidates_per_level(params, anchors_per_location)
    candidates = topk_nearest_candidates(
        anchors_per_level, instances.gt_boxes.get_centers(), topk=topk
    )
    # IoU of every anchor with every object, read at the candidates: (G, K).
    ious = pairwise_iou(instances.gt_boxes, Boxes(anchors)).gather(1, candidates)
    std = ious.std(dim=1) if ious.shape[1] > 1 and len(ious) else torch.zeros(len(ious))
    names = dict.fromkeys(["atss", *rules])
    assigned = {name: _rule(model, name)(anchors_per_level, gt_boxes) for name in names}
    return AssignmentView(
        image=image,
        gt_boxes=gt_boxes,
        gt_classes=instances.gt_classes,
        anchors_per_level=anchors_per_level,
        level_names=list(model.head_in_features),
        params=params,
        anchors_per_location=anchors_per_location,
        candidates=candidates,
        candidate_ious=ious,
        iou_mean=ious.mean(dim=1),
        iou_std=std,
        assigned=assigned,
    )


@dataclass
class SizeStats:
    """Per object of a dataset: its size and its positives under each rule."""

    sizes: np.ndarray  # (N,) sqrt(area) of the box in input pixels
    num_pos: Dict[str, np.ndarray]  # rule -> (N,)
    num_pos_per_level: Dict[str, np.ndarray]  # rule -> (N, L)
    level_names: List[str]
    num_images: int


@torch.no_grad()
def positives_vs_size(
    model: ATSS,
    mapper,
    dataset_dicts: Iterable[dict],
    rules: Sequence[str] = PAPER_RULES,
) -> SizeStats:
    """
    Section 4.1's measurement: the positives each object gets from each rule, with
    :func:`atss.assignment.assignment_stats`, over the annotated images of ``dataset_dicts``
    (images without objects are skipped).
    """
    apply = {name: _rule(model, name) for name in rules}
    anchors_for = _Anchors(model)
    sizes, num_pos = [], {r: [] for r in rules}
    per_level = {r: [] for r in rules}
    num_images = 0
    for dataset_dict in dataset_dicts:
        if not dataset_dict.get("annotations"):
            continue
        inputs, _ = _inputs(model, mapper, dataset_dict)
        gt_boxes = inputs["instances"].gt_boxes
        if len(gt_boxes) == 0:
            continue
        num_images += 1
        anchors_per_level = anchors_for(inputs["image"])
        sizes.append(gt_boxes.area().sqrt())
        for name, rule in apply.items():
            stats = assignment_stats(
                rule(anchors_per_level, gt_boxes.tensor),
                gt_boxes.tensor,
                [len(a) for a in anchors_per_level],
            )
            num_pos[name].append(stats["num_pos_per_gt"])
            per_level[name].append(stats["num_pos_per_gt_per_level"])
    if num_images == 0:
        raise ValueError("The dataset has no annotated image")
    return SizeStats(
        sizes=torch.cat(sizes).numpy(),
        num_pos={r: torch.cat(v).numpy() for r, v in num_pos.items()},
        num_pos_per_level={r: torch.cat(v).numpy() for r, v in per_level.items()},
        level_names=list(model.head_in_features),
        num_images=num_images,
    )
