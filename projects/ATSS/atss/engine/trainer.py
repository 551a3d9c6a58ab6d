"""
detectron2's training loop for a precision (:mod:`atss.config.precision`): one loop, whatever the
number type.
"""

from torch import nn

from detectron2.engine import AMPTrainer, SimpleTrainer

from ..config.precision import Precision

__all__ = ["build_trainer"]


def build_trainer(model: nn.Module, data_loader, optimizer, precision: Precision):
    """
    detectron2's trainer for ``precision``: ``AMPTrainer`` (autocast and a gradient scaler) for
    mixed precision on CUDA, else ``SimpleTrainer``, whose forward runs in the autocast that
    :func:`apply_precision` attached to the model.
    """
    if precision.mixed and precision.device_type == "cuda":
        return AMPTrainer(model, data_loader, optimizer, precision=precision.dtype)
    return SimpleTrainer(model, data_loader, optimizer)
