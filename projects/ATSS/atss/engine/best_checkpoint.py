"""
``model_best.pth``: detectron2's ``hooks.BestCheckpointer``, which saves the model whenever an
evaluation improves a metric (``train.best_checkpoint.metric``, ``bbox/AP`` by default), made fit
for long runs: its best survives ``--resume`` (recorded in ``model_best.json``, as the trainer
state of a checkpoint predates the evaluation of its own iteration and the final evaluation
follows the last checkpoint), ``last_checkpoint`` keeps naming the newest periodic checkpoint,
the best value and iteration go to the run's metrics (``best/<metric>``, ``best/iteration``),
and the recommended score threshold of the best evaluation is saved beside the run's config
(:mod:`atss.evaluation.recommended_threshold`).
"""

import json
import logging
import os

from detectron2.engine import hooks

from ..checkpoint.atomic import write_atomically
from ..evaluation import MATCH_IOU, RecommendedThreshold, write_recommended_threshold
from .evaluation_report import REPORT_SCALARS

__all__ = ["BEST_CHECKPOINT", "BestCheckpoint", "metric_mode"]

logger = logging.getLogger(__name__)

BEST_CHECKPOINT = "model_best"


def metric_mode(metric: str) -> str:
    """Losses are minimised, everything else (AP) maximised."""
    return "min" if "loss" in metric else "max"


class BestCheckpoint(hooks.BestCheckpointer):
    """
    Register it after the ``EvalHook`` whose results it reads, with the checkpointer of the
    periodic checkpoints; ``dataset_name`` is the evaluated set, named in the saved threshold.
    """

    def __init__(self, eval_period: int, checkpointer, metric: str, dataset_name: str):
        super().__init__(
            eval_period, checkpointer, metric, metric_mode(metric), file_prefix=BEST_CHECKPOINT
        )
        self._dataset_name = dataset_name

    def _best_checking(self):
        previous_iter = self.best_iter
        tagged = self._checkpointer.get_checkpoint_file()
        super()._best_checking()
        if self.best_iter is None:
            return
        if self.best_iter != previous_iter:
            if tagged:  # --resume continues from the newest checkpoint, not from the best one
                self._checkpointer.tag_last_checkpoint(os.path.basename(tagged))
            record = {
                "metric": self._val_metric,
                "value": self.best_metric,
                "iteration": self.best_iter,
            }
            text = json.dumps(record).encode()
            write_atomically(self._record_path(), lambda f: f.write(text))
            self._save_threshold()
        self.trainer.storage.put_scalars(
            **{f"best/{self._val_metric}": self.best_metric, "best/iteration": self.best_iter},
            smoothing_hint=False,
        )

    def _save_threshold(self) -> None:
        latest = self.trainer.storage.latest()
        values = {key: latest.get(f"report/{key}") for key in REPORT_SCALARS}
        if any(v is None or v[1] != self.best_iter for v in values.values()):
            return  # the evaluation wrote no report (no detection)
        threshold = RecommendedThreshold(
            **{key: float(v[0]) for key, v in values.items()},
            iou=MATCH_IOU,
            dataset=self._dataset_name,
            iteration=self.best_iter,
            checkpoint=f"{BEST_CHECKPOINT}.pth",
        )
        path = write_recommended_threshold(self._checkpointer.save_dir, threshold)
        logger.info(f"Recommended score threshold {threshold.score_threshold:.2f} saved to {path}")

    def _record_path(self) -> str:
        return os.path.join(self._checkpointer.save_dir, f"{BEST_CHECKPOINT}.json")

    def before_train(self):
        if self.trainer.start_iter == 0 or not os.path.isfile(self._record_path()):
            return
        with open(self._record_path()) as f:
            record = json.load(f)
        if record.get("metric") != self._val_metric:
            return  # another metric's best: the first evaluation replaces it
        self.best_metric, self.best_iter = record["value"], record["iteration"]
        logger.info(
            f"Resumed with the best {self._val_metric} so far: {self.best_metric:.4f} at "
            f"iteration {self.best_iter} ({BEST_CHECKPOINT}.pth)."
        )
