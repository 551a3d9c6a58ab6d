"""
The one way to a model with weights, as detectron2 has it (``instantiate(cfg.model)``, then
``DetectionCheckpointer(model).load(...)``): the model zoo, publishing, the demo, the exporter,
the visualizations and ``train_net.py --eval-only`` all call :func:`load_model`.
"""

from typing import Optional
from torch import nn

from ..config import Config, build_model, get_weights
from .resilient import ResilientCheckpointer, require_trained_weights

__all__ = ["load_model"]


def load_model(
    cfg: Config,
    weights: Optional[str] = None,
    *,
    device: Optional[str] = None,
    strict: bool = True,
    resume_dir: str = "",
    allow_unloaded_weights: bool = False,
) -> nn.Module:
    """
    The config's model (:func:`atss.config.build_model`, in training mode as detectron2 builds
    it) with a checkpoint loaded by the project's checkpointer.

    Args:
        weights: a converted official checkpoint, a run's, a published entry's (its checksum
            checked), a path or a detectron2 URL; default the config's own
            (:func:`atss.config.get_weights`); empty for none.
        device: where to build the model; default the config's.
        strict: every tensor of the model must come from the checkpoint and the checkpoint may
            hold no other (CheckpointError naming the keys). Otherwise it may leave out the class
            predictor of another number of classes, or all but the backbone trunk.
        resume_dir: an output directory to take its newest intact checkpoint from, when it has
            one (``train_net.py --resume``).
        allow_unloaded_weights: accept a model without a checkpoint, or one that the checkpoint
            left mostly unloaded; otherwise that is a ConfigError that says how to give weights
            (:func:`.resilient.require_trained_weights`).
    """
    model = build_model(cfg, device)
    weights = get_weights(cfg) if weights is None else weights
    checkpointer = ResilientCheckpointer(model, resume_dir, strict=strict)
    if resume_dir:
        checkpointer.resume_or_load(weights, resume=True)
    elif weights:
        checkpointer.load(weights, checkpointables=[])
    require_trained_weights(checkpointer, allow_unloaded_weights)
    return model
