"""
What a config will do to a dataset at test time and in evaluation: images whose objects the test
resize shrinks far below their training size, and images holding more objects than the model
keeps per image or than COCO evaluation counts.
"""

import numpy as np
from typing import List, Optional

from .objects import ObjectTable

__all__ = ["COCO_MAX_DETS", "SHRINK_LIMIT", "config_warnings"]

# COCO evaluation counts at most this many detections per image (COCOeval's largest maxDets,
# and detectron2's COCOEvaluator default).
COCO_MAX_DETS = 100
# A test resize that gives objects less than this fraction of their training size.
SHRINK_LIMIT = 0.5


def _examples(table: ObjectTable, images: np.ndarray, count: int = 3) -> str:
    return ", ".join(table.file_names[i] for i in images[:count])


def config_warnings(
    train: ObjectTable,
    test_scales: np.ndarray,
    max_detections_per_image: Optional[int],
    num_model_classes: int,
    num_dataset_classes: int,
) -> List[dict]:
    """
    Warnings about the config on this data, for JSON and the console: each a dict with a
    one-line ``message`` and the ``images`` (indices) it concerns.

    Args:
        train: the objects after the (fixed) training resize.
        test_scales: (N,) the test resize's factor on the lengths of each image
            (:func:`atss.browse.objects.resize_scales`).
        max_detections_per_image: detections the model keeps per image (None: no limit).
        num_model_classes, num_dataset_classes: the classes the model predicts and the data has.
    """
    warnings = []
    shrink = test_scales / train.scales
    shrunk = np.flatnonzero(shrink < SHRINK_LIMIT)
    if len(shrunk):
        warnings.append(
            {
                "message": f"{len(shrunk)} images are resized at test time to less than "
                f"{SHRINK_LIMIT:.0%} of their training scale (down to {shrink.min():.0%}): their "
                "objects are smaller than any trained on, e.g. "
                + _examples(train, shrunk[np.argsort(shrink[shrunk])]),
                "images": shrunk.tolist(),
            }
        )
    limits = {"COCO evaluation (maxDets)": COCO_MAX_DETS}
    if max_detections_per_image is not None:
        limits["the model (detections per image)"] = max_detections_per_image
    for who, limit in limits.items():
        crowded = np.flatnonzero(train.num_annotated > limit)
        if len(crowded):
            most = int(train.num_annotated.max())
            warnings.append(
                {
                    "message": f"{len(crowded)} images hold more objects than {who} keeps, "
                    f"{limit} (up to {most}): recall on them is capped, e.g. "
                    + _examples(train, crowded[np.argsort(-train.num_annotated[crowded])]),
                    "images": crowded.tolist(),
                }
            )
    if train.num_dropped:
        warnings.append(
            {
                "message": f"{train.num_dropped} objects become empty boxes after the training "
                "resize and are dropped by the mapper",
                "images": [],
            }
        )
    if num_model_classes != num_dataset_classes:
        warnings.append(
            {
                "message": f"The model predicts {num_model_classes} classes but the dataset has "
                f"{num_dataset_classes}: training stops on this; set model.num_classes "
                f"(YAML MODEL.ATSS.NUM_CLASSES) to {num_dataset_classes}",
                "images": [],
            }
        )
    return warnings
