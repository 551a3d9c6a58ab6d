"""
What ``train_net.py`` wires together: loading configs, models and weights (:mod:`.defaults`, the
one place that does), the LazyConfig data setup and its checks, a training loader whose data order
resumes exactly, DDP on CPUs, the YAML route's trainer, and evaluation with test-time
augmentation.
"""

from .ddp import create_ddp_model
from .defaults import (
    ConfigError,
    apply_lazy_overrides,
    build_model,
    get_weights,
    is_lazy,
    load_config,
    load_model,
    set_weights,
)
from .evaluation import lazy_tta_model, lazy_tta_test, test_with_tta, yaml_tta_test
from .train_loader import ResumableTrainLoader, build_resumable_train_loader
from .trainer import Trainer

__all__ = [
    "ConfigError",
    "ResumableTrainLoader",
    "Trainer",
    "apply_lazy_overrides",
    "build_model",
    "build_resumable_train_loader",
    "create_ddp_model",
    "get_weights",
    "is_lazy",
    "lazy_tta_model",
    "lazy_tta_test",
    "load_config",
    "load_model",
    "set_weights",
    "test_with_tta",
    "yaml_tta_test",
]
