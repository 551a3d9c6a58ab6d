"""
Training-loop pieces for train_net.py: a checkpointer that survives interruptions, a training
loader whose data order resumes exactly, DDP on CPUs, checked command-line overrides, and
evaluation with test-time augmentation.
"""

from .checkpoint import CheckpointError, ResilientCheckpointer
from .ddp import create_ddp_model
from .overrides import apply_overrides_checked, take_flags_from_overrides
from .test_time_augmentation import lazy_tta_model, test_with_tta
from .train_loader import ResumableTrainLoader, build_resumable_train_loader

__all__ = [
    "CheckpointError",
    "ResilientCheckpointer",
    "ResumableTrainLoader",
    "apply_overrides_checked",
    "build_resumable_train_loader",
    "create_ddp_model",
    "lazy_tta_model",
    "take_flags_from_overrides",
    "test_with_tta",
]
