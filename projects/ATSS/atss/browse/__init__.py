"""
A dataset checked against a config before training (``tools/browse_dataset.py``): its images
drawn, its label statistics against the model's anchors, the objects the config's assignment
leaves without a positive sample and why, and what the config's resizing and detection limits will
do to it. Nothing is trained and no checkpoint is read: the assignment depends on the boxes and
the anchors only.
"""

from .assignment_report import (
    AssignmentResult,
    anchors_for_size,
    measure_assignment,
    summarize_assignment,
    worst_images,
)
from .config_checks import COCO_MAX_DETS, config_warnings
from .inputs import BrowseInputs, ConfigError, load_inputs, training_mapper
from .objects import ObjectTable, fixed_resize, resize_scales, transformed_objects
from .statistics import AnchorLevels, anchor_levels, label_statistics

__all__ = [
    "COCO_MAX_DETS",
    "AnchorLevels",
    "AssignmentResult",
    "BrowseInputs",
    "ConfigError",
    "ObjectTable",
    "anchor_levels",
    "anchors_for_size",
    "config_warnings",
    "fixed_resize",
    "label_statistics",
    "load_inputs",
    "measure_assignment",
    "resize_scales",
    "summarize_assignment",
    "training_mapper",
    "transformed_objects",
    "worst_images",
]
