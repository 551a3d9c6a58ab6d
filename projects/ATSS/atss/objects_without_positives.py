"""
Which objects an assignment leaves without a positive anchor, and, for ATSS, why, in pure torch.

ATSS (Algorithm 1) makes a candidate positive for an object when its IoU reaches the object's
threshold (mean plus standard deviation of its candidates' IoUs) and its centre lies inside the
box (by the official margin, ``atss.assignment.CENTER_IN_BOX_MARGIN``); an anchor positive for
several objects goes to the one of highest IoU. An object therefore ends without a positive for
exactly one of three reasons, checked in this order:

- ``NO_CENTER_INSIDE``: none of its candidates (the k nearest anchors per level) has its centre
  inside the box, e.g. a box thinner than the finest stride between two rows of anchor centres;
- ``BELOW_THRESHOLD``: some do, but none of those reaches the threshold, e.g. when many
  candidates of similar IoU raise the mean and standard deviation above the best inside one;
- ``TAKEN_BY_OTHERS``: it had positives, and each went to an overlapping object of higher IoU.
"""

from typing import Sequence, Tuple
import torch
from torch import Tensor

from .assignment import ATSSCandidates

__all__ = [
    "HAS_POSITIVE",
    "NO_CENTER_INSIDE",
    "BELOW_THRESHOLD",
    "TAKEN_BY_OTHERS",
    "REASONS",
    "positives_per_object",
    "no_positive_reasons",
]

HAS_POSITIVE = 0
NO_CENTER_INSIDE = 1
BELOW_THRESHOLD = 2
TAKEN_BY_OTHERS = 3
# Names of the codes above, by code.
REASONS: Tuple[str, ...] = (
    "has positives",
    "no candidate centre inside",
    "below its IoU threshold",
    "taken by objects of higher IoU",
)


def positives_per_object(assigned: Tensor, num_objects_per_image: Sequence[int]) -> Tensor:
    """
    Positives of each object of a batch, counted from an assignment.

    Args:
        assigned: (N, A) per image and anchor the index of the object within its image, or a
            negative value (negative or ignored), as the rules of :mod:`atss.assignment` return.
        num_objects_per_image: G_n for each of the N images.

    Returns:
        (sum G_n,) LongTensor, the objects of all images in order.
    """
    counts = torch.tensor(list(num_objects_per_image), device=assigned.device)
    if assigned.dim() != 2 or assigned.shape[0] != len(counts):
        raise ValueError(
            f"assigned must be (N, A) for the {len(counts)} images, got {tuple(assigned.shape)}"
        )
    offsets = (counts.cumsum(0) - counts)[:, None]  # first object of each image
    num_objects = int(counts.sum())
    # Positives land in their object's bin; the others in one extra bin, dropped.
    bins = torch.where(assigned >= 0, assigned + offsets, num_objects)
    return torch.bincount(bins.flatten(), minlength=num_objects + 1)[:num_objects]


def no_positive_reasons(candidates: ATSSCandidates, num_positives: Tensor) -> Tensor:
    """
    Why each object got no positive from ATSS.

    Args:
        candidates: :func:`atss.assignment.atss_candidates` of the G objects, with the anchors
            and parameters of the assignment that gave ``num_positives``.
        num_positives: (G,) positives of each object in that assignment
            (:func:`positives_per_object`).

    Returns:
        (G,) LongTensor of ``HAS_POSITIVE``, ``NO_CENTER_INSIDE``, ``BELOW_THRESHOLD`` or
        ``TAKEN_BY_OTHERS`` (names in ``REASONS``).
    """
    if num_positives.shape != candidates.threshold.shape:
        raise ValueError(
            f"num_positives has shape {tuple(num_positives.shape)} for "
            f"{len(candidates.threshold)} objects"
        )
    inside = candidates.center_inside.any(dim=1)
    selected = candidates.is_positive.any(dim=1)
    reason = torch.full_like(num_positives, TAKEN_BY_OTHERS)
    reason = torch.where(selected, reason, BELOW_THRESHOLD)
    reason = torch.where(inside, reason, NO_CENTER_INSIDE)
    return torch.where(num_positives > 0, HAS_POSITIVE, reason)
