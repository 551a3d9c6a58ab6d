"""
Checkpoints: the authors' ATSS checkpoints converted to this project's model (:mod:`.official`,
pure torch), atomic writes (:mod:`.atomic`), reading files without running their code
(:mod:`.safe_pickle`), the project's one checkpointer (:mod:`.resilient`) and the one way to a
model with weights (:mod:`.loading`); the last two need detectron2 and are imported from their
modules.
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
