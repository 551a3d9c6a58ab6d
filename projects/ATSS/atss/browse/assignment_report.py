"""
The config's assignment run on every object of a dataset, as training runs it (the model's
rule, anchors and parameters), without training: which objects get no positive sample, and for
ATSS why (:mod:`atss.objects_without_positives`), per class, per size and per image.

Each image is padded as the model pads it alone (to the backbone's size divisibility); training
pads a batch to its largest image, which adds anchors beyond the right and bottom edges of the
smaller images and may change the candidates of objects at those edges.
"""

import math
import numpy as np
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple
import torch
from torch import Tensor
from tqdm import tqdm

from detectron2.structures import ImageList

from ..assignment import atss_candidates
from ..modeling.assignment_registry import atss_candidates_per_level
from ..modeling.positives_metrics import SIZE_BUCKETS
from ..objects_without_positives import (
    HAS_POSITIVE,
    REASONS,
    no_positive_reasons,
    positives_per_object,
)
from .objects import ObjectTable

__all__ = [
    "AssignmentResult",
    "anchors_for_size",
    "measure_assignment",
    "summarize_assignment",
    "worst_images",
]


def padded_size(model, height: int, width: int) -> Tuple[int, int]:
    """The size ``DenseDetector.preprocess_image`` pads an input of ``height`` x ``width`` to."""
    backbone = model.backbone
    padded = ImageList.from_tensors(
        [torch.empty(0, height, width)],
        backbone.size_divisibility,
        padding_constraints=backbone.padding_constraints,
    ).tensor.shape[-2:]
    return int(padded[0]), int(padded[1])


def anchors_for_size(model, height: int, width: int) -> List[Tensor]:
    """
    The model's anchors for a padded input of ``height`` x ``width`` (:func:`padded_size`): one
    (A_l, 4) tensor per level, each level's grid the size divided by its stride, rounded up as
    stride-2 convolutions round it.
    """
    shapes = model.backbone.output_shape()
    strides = [shapes[name].stride for name in model.head_in_features]
    features = [torch.empty(1, 0, math.ceil(height / s), math.ceil(width / s)) for s in strides]
    return [boxes.tensor for boxes in model.anchor_generator(features)]


@dataclass
class AssignmentResult:
    """The assignment of every object of an :class:`ObjectTable`."""

    rule: str  # the model's rule, ``model.assignment.rule``
    num_positives: np.ndarray  # (M,) positives of each object
    reasons: Optional[np.ndarray]  # (M,) codes of REASONS for ATSS, None for the other rules

    @property
    def without_positives(self) -> np.ndarray:
        """(M,) bool."""
        return self.num_positives == 0


@torch.no_grad()
def measure_assignment(
    model, table: ObjectTable, batch_size: int = 64, progress: Optional[str] = None
) -> AssignmentResult:
    """
    Run ``model``'s assignment rule on the objects of ``table``, the images of one padded size
    ``batch_size`` at a time (the rules are batched over images sharing their anchors).
    ``progress``: the label of a progress bar, or None for none.
    """
    params = model.assignment
    is_atss = params.rule == "atss"
    topk = atss_candidates_per_level(params, model.anchor_generator.num_cell_anchors[0])
    num_objects = len(table.boxes)
    num_positives = np.zeros(num_objects, np.int64)
    reasons = np.full(num_objects, HAS_POSITIVE, np.int64) if is_atss else None
    counts = table.objects_per_image
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    boxes = torch.from_numpy(table.boxes)

    # Images padded to the same size share their anchors: one batch of them at a time.
    padded = {size: padded_size(model, *size) for size in set(map(tuple, table.image_sizes))}
    by_size: Dict[Tuple[int, int], List[int]] = {}
    for index in np.flatnonzero(counts):
        by_size.setdefault(padded[tuple(table.image_sizes[index])], []).append(index)
    bar = tqdm(total=int((counts > 0).sum()), desc=progress, disable=progress is None)
    for size, images in by_size.items():
        anchors = anchors_for_size(model, *size)
        for first in range(0, len(images), batch_size):
            chunk = images[first : first + batch_size]
            objects = np.concatenate([np.arange(starts[i], starts[i] + counts[i]) for i in chunk])
            gt_boxes = [boxes[starts[i] : starts[i] + counts[i]] for i in chunk]
            positives = positives_per_object(model.assign(anchors, gt_boxes), counts[chunk])
            num_positives[objects] = positives.numpy()
            if is_atss:
                candidates = atss_candidates(
                    anchors,
                    boxes[objects],
                    topk=topk,
                    center_margin=params.center_margin,
                )
                reasons[objects] = no_positive_reasons(candidates, positives).numpy()
            bar.update(len(chunk))
    bar.close()
    return AssignmentResult(params.rule, num_positives, reasons)


def _counts(result: AssignmentResult, mask: np.ndarray) -> dict:
    """Objects, those without positives and their fraction, and the reasons, of ``mask``."""
    objects = int(mask.sum())
    without = int((mask & result.without_positives).sum())
    out = {
        "objects": objects,
        "without_positives": without,
        "fraction_without_positives": without / objects if objects else 0.0,
    }
    if result.reasons is not None:
        reasons = np.bincount(result.reasons[mask], minlength=len(REASONS))
        out["reasons"] = {name: int(n) for name, n in zip(REASONS[1:], reasons[1:])}
    return out


def object_areas(table: ObjectTable) -> np.ndarray:
    """(M,) box areas in input pixels."""
    sides = (table.boxes[:, 2:] - table.boxes[:, :2]).clip(min=0)
    return sides[:, 0] * sides[:, 1]


def worst_images(table: ObjectTable, result: AssignmentResult, count: int) -> List[int]:
    """
    The ``count`` images with the most objects without positives (ties: the larger fraction,
    then the earlier image), among those that have some.
    """
    per_image = np.bincount(
        table.image_of, weights=result.without_positives, minlength=table.num_images
    )
    fraction = per_image / np.maximum(table.objects_per_image, 1)
    order = np.lexsort((np.arange(table.num_images), -fraction, -per_image))
    return [int(i) for i in order[:count] if per_image[i] > 0]


def summarize_assignment(
    table: ObjectTable,
    result: AssignmentResult,
    class_names: Sequence[str],
    num_worst: int = 10,
) -> dict:
    """
    The report of :func:`measure_assignment`, for JSON: overall, per COCO size (area in input
    pixels, ``SIZE_BUCKETS``), per class, and the ``num_worst`` worst images.
    """
    everything = np.ones(len(table.boxes), bool)
    areas = object_areas(table)
    worst = []
    for index in worst_images(table, result, num_worst):
        counts = _counts(result, table.image_of == index)
        worst.append({"image": index, "file_name": table.file_names[index], **counts})
    return {
        "rule": result.rule,
        "all": _counts(result, everything),
        "by_size": {
            name: _counts(result, (areas >= low) & (areas < high))
            for name, low, high in SIZE_BUCKETS
        },
        "by_class": {
            name: _counts(result, table.classes == c) for c, name in enumerate(class_names)
        },
        "worst_images": worst,
    }
