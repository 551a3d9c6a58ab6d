"""
The project's one checkpointer: detectron2's DetectionCheckpointer that survives interruptions
(atomic writes, resume from the newest intact checkpoint), reads files without running their code,
checks published checksums, and either fine-tunes across class counts or loads strictly.
"""

import glob
import logging
import os
import re
from typing import Any, Dict, List, Optional
import torch

from detectron2.checkpoint import DetectionCheckpointer

from ..config import ConfigError
from .atomic import write_atomically
from .errors import CheckpointError
from .finetune import check_fine_tuning_fit
from .published import verify_published_checksum
from .safe_pickle import read_checkpoint_file

__all__ = [
    "BEST_CHECKPOINT",
    "CheckpointError",
    "MIN_EVAL_LOADED_FRACTION",
    "ResilientCheckpointer",
    "check_checkpoint_fits",
    "require_trained_weights",
]

logger = logging.getLogger(__name__)

_ITERATION = re.compile(r"_(\d+)\.pth$")
# The best evaluation's model (engine/best_checkpoint.py), never a point to resume from.
BEST_CHECKPOINT = "model_best"


class ResilientCheckpointer(DetectionCheckpointer):
    """
    detectron2's DetectionCheckpointer, with these differences:

    * :meth:`save` and the ``last_checkpoint`` tag write a temporary file and rename it, so a
      kill during a write never leaves a partial ``model_XXXX.pth`` under its final name.
    * ``resume_or_load(..., resume=True)`` tries the tagged checkpoint, then the other
      ``*.pth`` of the output directory from the newest, warning about each damaged one.
    * Files are read without running code (:mod:`.safe_pickle`); a file that cannot be read, or
      holds code, raises :class:`CheckpointError` naming it; a published checkpoint must match
      its checksum (:mod:`.published`).
    * A checkpoint may differ from the model in its class predictor alone (fine-tuning for
      another number of classes, :mod:`.finetune`). With ``strict=True``, a checkpoint that
      leaves any tensor of the model unloaded, or holds tensors the model does not have, is a
      CheckpointError naming them, so that a model is never used half random.

    After a load, :attr:`loaded_fraction` is the fraction of the model's parameter elements that
    the checkpoint provided (1.0 when every weight was loaded) and :attr:`skipped` the class
    predictor's keys that were not loaded.
    """

    def __init__(self, model, save_dir: str = "", *, strict: bool = False, **kwargs):
        super().__init__(model, save_dir, **kwargs)
        self.strict = strict
        self.loaded_fraction: Optional[float] = None
        self.skipped: List[str] = []
        self._source = ""

    def save(self, name: str, **kwargs: Any) -> None:
        if not self.save_dir or not self.save_to_disk:
            return
        data = {"model": self.model.state_dict()}
        data.update({key: obj.state_dict() for key, obj in self.checkpointables.items()})
        data.update(kwargs)
        basename = f"{name}.pth"
        path = os.path.join(self.save_dir, basename)
        self.logger.info(f"Saving checkpoint to {path}")
        write_atomically(path, lambda f: torch.save(data, f))
        self.tag_last_checkpoint(basename)

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        write_atomically(
            os.path.join(self.save_dir, "last_checkpoint"),
            lambda f: f.write(last_filename_basename.encode()),
        )

    def load(self, path: str, *args, **kwargs) -> Dict[str, Any]:
        if path and "://" not in path and not os.path.isfile(path):
            raise CheckpointError(f"Checkpoint {path} does not exist.")
        self._source = path
        try:
            return super().load(path, *args, **kwargs)
        except CheckpointError:
            # DetectionCheckpointer.load clears this only when it succeeds; the next load asserts.
            self._parsed_url_during_load = None
            raise

    def _load_file(self, filename: str) -> Dict[str, Any]:
        if os.path.isfile(filename) and os.path.getsize(filename) == 0:
            raise CheckpointError(f"Checkpoint {filename} is empty (0 bytes).")
        verify_published_checksum(filename)
        return read_checkpoint_file(filename, super()._load_file)

    def _load_model(self, checkpoint: Any):
        incompatible = super()._load_model(checkpoint)
        params = dict(self.model.named_parameters())
        total = sum(p.numel() for p in params.values())
        missing = set(incompatible.missing_keys) | {k for k, *_ in incompatible.incorrect_shapes}
        unloaded = sum(p.numel() for k, p in params.items() if k in missing)
        self.loaded_fraction = 1.0 - unloaded / max(total, 1)
        if self.strict:
            problems = {
                "missing": incompatible.missing_keys,
                "unexpected": incompatible.unexpected_keys,
                "of another shape": [key for key, *_ in incompatible.incorrect_shapes],
            }
            if any(problems.values()):
                listed = "; ".join(f"{k}: {sorted(keys)}" for k, keys in problems.items() if keys)
                raise CheckpointError(
                    f"{self._source} does not match the model of this config: {listed}"
                )
        # Kernels only: pretrained trunks need not hold every normalisation buffer.
        kernels = [k for k, v in self.model.state_dict().items() if v.dim() > 1]
        self.skipped = check_fine_tuning_fit(
            self._source,
            incompatible.incorrect_shapes,
            [k for k in kernels if k in missing],
            [k for k in kernels if k not in missing],
        )
        return incompatible

    def _resume_candidates(self) -> List[str]:
        """The tagged checkpoint, then the others of the directory from the newest iteration."""
        tagged = self.get_checkpoint_file()
        best = os.path.join(self.save_dir, f"{BEST_CHECKPOINT}.pth")
        others = [
            p for p in glob.glob(os.path.join(self.save_dir, "*.pth")) if p not in (tagged, best)
        ]

        def newest_first(path):
            match = _ITERATION.search(path)
            # model_final.pth has no number: it follows the last iteration.
            return (int(match.group(1)) if match else float("inf"), os.path.getmtime(path))

        return [tagged] + sorted(others, key=newest_first, reverse=True)

    def resume_or_load(self, path: str, *, resume: bool = True) -> Dict[str, Any]:
        if not (resume and self.has_checkpoint()):
            return self.load(path, checkpointables=[])
        damaged = []
        for candidate in self._resume_candidates():
            if not os.path.isfile(candidate):
                damaged.append(f"{candidate} (missing)")
                continue
            try:
                checkpoint = self.load(candidate)
            except CheckpointError as e:
                damaged.append(str(candidate))
                logger.warning(f"Skipping a damaged checkpoint when resuming: {e}")
                continue
            if damaged:
                logger.warning(
                    f"Resumed from {candidate}, the newest intact checkpoint of {self.save_dir}, "
                    f"instead of: {', '.join(damaged)}."
                )
            return checkpoint
        raise CheckpointError(
            f"No intact checkpoint to resume from in {self.save_dir}: {', '.join(damaged)}. "
            "Remove the output directory's last_checkpoint to start over."
        )


# A checkpoint of the same model with another number of classes still loads over 99%; ImageNet
# weights of the trunk alone are 73% of ATSS R-50's parameters and leave its FPN and head random.
MIN_EVAL_LOADED_FRACTION = 0.9


def require_trained_weights(checkpointer: ResilientCheckpointer, allow_unloaded: bool) -> None:
    """
    A model to evaluate, export or show must have trained weights: without a checkpoint, with one
    that leaves more than ``1 - MIN_EVAL_LOADED_FRACTION`` of the model's weights unloaded
    (another model's, or backbone-only ImageNet weights), or with one whose class predictor was
    skipped (another number of classes), raise a ConfigError unless ``allow_unloaded``.
    """
    fraction = checkpointer.loaded_fraction
    if allow_unloaded or (
        fraction is not None and fraction >= MIN_EVAL_LOADED_FRACTION and not checkpointer.skipped
    ):
        return
    if checkpointer.skipped:
        problem = (
            f"The class predictor ({', '.join(checkpointer.skipped)}) was not loaded: the "
            "checkpoint predicts another number of classes"
        )
    elif fraction is None:
        problem = "No checkpoint was loaded, so the model has random weights"
    else:
        problem = f"The checkpoint provided only {fraction:.0%} of the model's weights"
    raise ConfigError(
        f"{problem}. Give the weights (train.init_checkpoint=/path/to/model.pth, MODEL.WEIGHTS "
        "/path/to/model.pth for a YAML config, or train_net.py's --resume for the last checkpoint "
        "of the output directory), or pass --allow-unloaded-weights to use them anyway."
    )


def check_checkpoint_fits(model, weights: str) -> None:
    """
    Load ``weights`` into ``model`` (the model to train) as training will, so that a checkpoint
    that cannot be read, is altered, or does not fit the model up to its class predictor raises
    CheckpointError before the run writes anything.
    """
    if not weights:
        return
    logging.disable(logging.WARNING)  # the training run logs what it skips, once
    try:
        ResilientCheckpointer(model, save_to_disk=False).load(weights, checkpointables=[])
    finally:
        logging.disable(logging.NOTSET)
