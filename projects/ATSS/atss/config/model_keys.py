"""
The model keys of ATSS and AutoAssign that live in a group: ``model.assignment`` (the rule and its
options), ``model.loss`` (the losses' kinds and weights) and ``model.inference`` (the
post-processing). A config or an override that sets one of them at the top of ``model``, as the
flat keyword arguments of RetinaNet and FCOS would, is refused with the key that holds it.
"""
from dataclasses import fields
from typing import Dict, Optional
from omegaconf import DictConfig

from detectron2.utils.registry import locate

from ..losses import ATSSLossParams
from ..modeling import ATSS, AssignmentParams, AutoAssign
from .errors import ConfigError

__all__ = ["check_model_keys", "grouped_key"]

_INFERENCE_KEYS = {
    "test_score_thresh": "inference.score_thresh",
    "test_topk_candidates": "inference.topk_candidates",
    "test_nms_thresh": "inference.nms_thresh",
    "max_detections_per_image": "inference.max_detections_per_image",
}
# The assignment's options and the losses' keep their names inside their groups; a flat config
# names the rule by model.assignment itself.
_ATSS_KEYS = {
    **{f.name: f"assignment.{f.name}" for f in fields(AssignmentParams) if f.name != "rule"},
    "assignment": "assignment.rule",
    **{f.name: f"loss.{f.name}" for f in fields(ATSSLossParams)},
    **_INFERENCE_KEYS,
}


def _grouped_keys(model: DictConfig) -> Dict[str, str]:
    """Top-level key -> its key in a group, for the meta-architecture of ``model``."""
    target = model.get("_target_") if isinstance(model, DictConfig) else None
    if isinstance(target, str):
        try:
            target = locate(target)
        except ImportError:
            return {}
    if not isinstance(target, type):
        return {}
    if issubclass(target, ATSS):
        return _ATSS_KEYS
    if issubclass(target, AutoAssign):
        return _INFERENCE_KEYS
    return {}


def grouped_key(cfg: DictConfig, key: str) -> Optional[str]:
    """The key that holds ``key`` (``"model.topk"`` -> ``"model.assignment.topk"``), or None."""
    if not key.startswith("model.") or not isinstance(cfg.get("model"), DictConfig):
        return None
    new = _grouped_keys(cfg.model).get(key[len("model.") :])
    return None if new is None else f"model.{new}"


def check_model_keys(cfg: DictConfig) -> None:
    """Refuse, naming the key that holds it, a grouped key set at the top of ``cfg.model``."""
    model = cfg.get("model")
    if not isinstance(model, DictConfig):
        return
    for key, new in _grouped_keys(model).items():
        # model.assignment is the group itself when it is a node.
        if key in model and not (key == "assignment" and isinstance(model[key], DictConfig)):
            raise ConfigError(
                f"model.{key} is set in the config, but ATSS and AutoAssign read it as "
                f"model.{new} (docs/configs.md): write model.{new}={model[key]!r}."
            )
