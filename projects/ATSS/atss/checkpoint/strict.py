"""
Strict loading of weights: a checkpoint that does not cover the model, or holds tensors the model
does not have, is an error naming the keys, where detectron2's checkpointer only logs them. The
exporter, the demo, the visualizations and the model zoo load this way, so that a model is never
used half random.
"""

import os
from torch import nn

from detectron2.checkpoint import DetectionCheckpointer

from .errors import CheckpointError
from .published import verify_published_checksum
from .safe_pickle import read_checkpoint_file

__all__ = ["load_weights"]


class _CheckedCheckpointer(DetectionCheckpointer):
    """Refuses a published checkpoint whose checksum does not match its name (also after a URL
    was downloaded to a local file)."""

    def _load_file(self, filename: str):
        verify_published_checksum(filename)
        return read_checkpoint_file(filename, super()._load_file)


class _StrictCheckpointer(_CheckedCheckpointer):
    def _log_incompatible_keys(self, incompatible) -> None:
        super()._log_incompatible_keys(incompatible)
        problems = {
            "missing": incompatible.missing_keys,
            "unexpected": incompatible.unexpected_keys,
            "of another shape": [key for key, *_ in incompatible.incorrect_shapes],
        }
        if any(problems.values()):
            listed = "; ".join(f"{kind}: {sorted(keys)}" for kind, keys in problems.items() if keys)
            raise CheckpointError(
                f"{self.weights} does not match the model of this config: {listed}"
            )

    def load(self, path: str, *args, **kwargs):
        self.weights = path
        return super().load(path, *args, **kwargs)


def load_weights(model: nn.Module, weights: str, strict: bool = True) -> None:
    """
    Loads ``weights`` (a path or a detectron2 URL) into ``model`` with ``DetectionCheckpointer``.
    With ``strict``, a checkpoint with missing, unexpected or mis-shaped keys raises a
    :class:`CheckpointError` naming them instead of leaving part of the model at its initial
    values.
    """
    if "://" not in weights and not os.path.isfile(weights):
        raise CheckpointError(f"Checkpoint {weights} does not exist.")
    if not strict:
        _CheckedCheckpointer(model).load(weights)
        return
    _StrictCheckpointer(model).load(weights)
