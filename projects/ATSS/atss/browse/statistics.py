"""
Label statistics of a dataset as the model receives it (boxes in input pixels after the training
resize), and the model's anchors to read them against.
"""

import numpy as np
from dataclasses import dataclass
from typing import Dict, List, Sequence

from .objects import ObjectTable

__all__ = ["AnchorLevels", "anchor_levels", "box_dimensions", "label_statistics"]

# Percentiles reported for widths, heights and aspect ratios.
PERCENTILES = (1, 5, 50, 95, 99)


@dataclass
class AnchorLevels:
    """The anchors of each pyramid level: its name, stride and cell anchors' widths and heights."""

    names: List[str]
    strides: List[int]
    widths: List[np.ndarray]  # per level, (anchors per location,)
    heights: List[np.ndarray]

    def as_dict(self) -> Dict[str, dict]:
        return {
            name: {"stride": stride, "widths": w.round(2).tolist(), "heights": h.round(2).tolist()}
            for name, stride, w, h in zip(self.names, self.strides, self.widths, self.heights)
        }


def anchor_levels(model) -> AnchorLevels:
    """The cell anchors of ``model``'s anchor generator, one level per head input feature."""
    generator = model.anchor_generator
    sides = [(c[:, 2:] - c[:, :2]).numpy() for c in generator.cell_anchors]
    return AnchorLevels(
        names=list(model.head_in_features),
        strides=[int(s) for s in generator.strides],
        widths=[s[:, 0] for s in sides],
        heights=[s[:, 1] for s in sides],
    )


def box_dimensions(table: ObjectTable) -> Dict[str, np.ndarray]:
    """(M,) widths, heights and aspect ratios (height / width) of the boxes, input pixels."""
    sides = table.boxes[:, 2:] - table.boxes[:, :2]
    return {"width": sides[:, 0], "height": sides[:, 1], "aspect_ratio": sides[:, 1] / sides[:, 0]}


def _percentiles(values: np.ndarray) -> Dict[str, float]:
    if len(values) == 0:
        return {}
    return {f"p{p}": float(v) for p, v in zip(PERCENTILES, np.percentile(values, PERCENTILES))}


def label_statistics(table: ObjectTable, class_names: Sequence[str]) -> dict:
    """
    For JSON: images and objects, objects and images per class, boxes per image, and the
    percentiles of box width, height and aspect ratio (height / width) in input pixels.
    """
    num_classes = len(class_names)
    objects_per_class = np.bincount(table.classes, minlength=num_classes)
    # Images holding a class: each (image, class) pair counted once.
    pairs = np.unique(table.image_of * num_classes + table.classes)
    images_per_class = np.bincount(pairs % num_classes, minlength=num_classes)
    per_image = table.objects_per_image
    return {
        "images": table.num_images,
        "images_without_objects": int((per_image == 0).sum()),
        "objects": len(table.boxes),
        "objects_dropped_as_empty": table.num_dropped,
        "per_class": {
            name: {"objects": int(objects_per_class[c]), "images": int(images_per_class[c])}
            for c, name in enumerate(class_names)
        },
        "boxes_per_image": {
            "mean": float(per_image.mean()) if len(per_image) else 0.0,
            "max": int(per_image.max()) if len(per_image) else 0,
            **_percentiles(per_image),
        },
        **{name: _percentiles(values) for name, values in box_dimensions(table).items()},
    }
