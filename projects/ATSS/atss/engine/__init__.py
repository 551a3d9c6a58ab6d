"""
What ``train_net.py`` wires together, above :mod:`atss.config` and :mod:`atss.checkpoint`: the
data setup and its checks, a training loader whose data order resumes exactly, DDP on CPUs and
evaluation with test-time augmentation.
"""

from .ddp import create_ddp_model
from .evaluation import test_with_tta, tta_model, tta_test
from .train_loader import ResumableTrainLoader, build_resumable_train_loader

__all__ = [
    "ResumableTrainLoader",
    "build_resumable_train_loader",
    "create_ddp_model",
    "test_with_tta",
    "tta_model",
    "tta_test",
]
