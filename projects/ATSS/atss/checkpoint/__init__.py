"""Checkpoint conversion (pure torch): the authors' ATSS checkpoints to this project's model."""
from .official import (
    OfficialArchitecture,
    anchor_center_shift,
    convert_official_state_dict,
    detect_architecture,
    strip_module_prefix,
)

__all__ = [
    "OfficialArchitecture",
    "anchor_center_shift",
    "convert_official_state_dict",
    "detect_architecture",
    "strip_module_prefix",
]
