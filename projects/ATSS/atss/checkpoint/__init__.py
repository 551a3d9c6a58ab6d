"""
Checkpoints: the authors' ATSS checkpoints converted to this project's model (:mod:`.official`,
pure torch), atomic writes (:mod:`.atomic`), the training checkpointer that survives
interruptions (:mod:`.resilient`) and strict loading (:mod:`.strict`); the last two need
detectron2 and are imported from their modules.
"""
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
