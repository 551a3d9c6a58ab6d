"""
Training metrics of the objects that the assignment rule gave no positive anchor. Such an
object is trained as background; ATSS legitimately selects none for an object of a few pixels
whose box contains no anchor centre (Algorithm 1, line 12), which tiny inputs make common.
"""

import logging
import math
from typing import Tuple
from torch import Tensor

from detectron2.utils.events import EventStorage
from detectron2.utils.logger import log_first_n

__all__ = ["SIZE_BUCKETS", "WARN_FRACTION", "log_objects_without_positives"]

# COCO's object sizes (area in input pixels): small < 32^2 <= medium < 96^2 <= large.
SIZE_BUCKETS: Tuple[Tuple[str, float, float], ...] = (
    ("small", 0.0, 32.0**2),
    ("medium", 32.0**2, 96.0**2),
    ("large", 96.0**2, math.inf),
)
# Warn once when this fraction of the objects of the last WINDOW iterations had no positive.
WARN_FRACTION = 0.2
WINDOW = 20

METRIC = "objects_without_positives"


def log_objects_without_positives(
    num_pos_per_gt: Tensor, gt_boxes: Tensor, storage: EventStorage
) -> None:
    """
    Put the fraction of objects without positives, overall and per size bucket, in ``storage``
    ("objects_without_positives", "objects_without_positives/small", ...), and log a warning,
    once per process, when its mean over the last WINDOW iterations reaches WARN_FRACTION.

    Args:
        num_pos_per_gt: (G,) positives of each object of the batch.
        gt_boxes: (G, 4) their XYXY boxes, in input pixels.
    """
    if len(num_pos_per_gt) == 0:
        return
    without = (num_pos_per_gt == 0).float()
    sides = (gt_boxes[:, 2:] - gt_boxes[:, :2]).clamp(min=0)
    areas = sides[:, 0] * sides[:, 1]
    storage.put_scalar(METRIC, without.mean().item())
    fractions = {}
    for name, low, high in SIZE_BUCKETS:
        in_bucket = (areas >= low) & (areas < high)
        if in_bucket.any():
            fractions[name] = without[in_bucket].mean().item()
            storage.put_scalar(f"{METRIC}/{name}", fractions[name])
    history = storage.history(METRIC)
    if len(history.values()) >= WINDOW and history.avg(WINDOW) >= WARN_FRACTION:
        log_first_n(
            logging.WARNING,
            f"{history.avg(WINDOW):.0%} of the objects of the last {WINDOW} iterations got no "
            "positive anchor and trained as background (this batch by size: "
            + ", ".join(f"{name} {f:.0%}" for name, f in fractions.items())
            + "). Small objects in small images are the usual cause: larger inputs, smaller "
            "anchors or strides, or another assignment rule assign them.",
            n=1,
            name=__name__,
        )
