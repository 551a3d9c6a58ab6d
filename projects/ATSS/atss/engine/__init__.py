"""
Training-loop pieces for train_net.py: a checkpointer that survives interruptions, a training
loader whose data order resumes exactly, DDP on CPUs, and checked command-line overrides.
"""

from .checkpoint import CheckpointError, ResilientCheckpointer
from .ddp import create_ddp_model
from .overrides import apply_overrides_checked, take_flags_from_overrides
from .train_loader import ResumableTrainLoader, build_resumable_train_loader

__all__ = [
    "CheckpointError",
    "ResilientCheckpointer",
    "ResumableTrainLoader",
    "apply_overrides_checked",
    "build_resumable_train_loader",
    "create_ddp_model",
    "take_flags_from_overrides",
]
