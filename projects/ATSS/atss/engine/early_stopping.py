"""
Early stopping (``train.early_stop``): the run ends when ``patience`` evaluations in a row have
not improved ``metric`` by more than ``min_delta`` over its best. A stopped run ends as a finished
one does: ``model_final.pth`` is saved, the other hooks' ``after_train`` run (metrics written),
``model_best.pth`` and the last evaluation's report are there, and ``train_net.py`` exits 0 after
a log line saying why it stopped.
"""

import logging
import math

from detectron2.engine import HookBase
from detectron2.utils import comm

from .best_checkpoint import metric_mode

__all__ = ["EarlyStop", "EarlyStopping"]

logger = logging.getLogger(__name__)


class EarlyStop(BaseException):
    """
    Leaves detectron2's training loop, which turns an ``Exception`` into an error: as a
    ``BaseException`` (like ``KeyboardInterrupt``) it passes that handler, and the loop's
    ``finally`` still runs the hooks' ``after_train``. ``train_net.py`` catches it.
    """


class EarlyStopping(HookBase):
    """Register it after the ``EvalHook`` (and ``BestCheckpoint``), with the same period."""

    def __init__(self, eval_period: int, checkpointer, metric: str, patience: int, min_delta):
        self._period = eval_period
        self._checkpointer = checkpointer
        self._metric = metric
        self._patience = patience
        self._min_delta = float(min_delta)
        self._maximise = metric_mode(metric) == "max"
        self.best = None
        self.best_iter = None
        self.evaluations_without_gain = 0

    def _improves(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.best is None:
            return True
        gain = value - self.best if self._maximise else self.best - value
        return gain > self._min_delta

    def _should_stop(self) -> bool:
        """The main process's decision, from the metric its EvalHook just stored."""
        latest = self.trainer.storage.latest().get(self._metric)
        if latest is None or latest[1] != self.trainer.iter:
            return False
        value = float(latest[0])
        if self._improves(value):
            self.best, self.best_iter, self.evaluations_without_gain = value, self.trainer.iter, 0
        else:
            self.evaluations_without_gain += 1
        return self.evaluations_without_gain >= self._patience

    def after_step(self):
        next_iter = self.trainer.iter + 1
        if self._period <= 0 or next_iter % self._period or next_iter == self.trainer.max_iter:
            return
        stop = comm.is_main_process() and self._should_stop()
        if not comm.all_gather(stop)[0]:  # every process stops with the main one
            return
        reason = "Early stopping with the main process."
        if comm.is_main_process():
            reason = (
                f"Early stopping at iteration {next_iter} of {self.trainer.max_iter}: "
                f"{self._metric} has not improved by more than {self._min_delta:g} on its best "
                f"{self.best:.4f} (iteration {self.best_iter + 1}) for {self._patience} "
                "evaluations (train.early_stop.patience)."
            )
        self._checkpointer.save("model_final", iteration=self.trainer.iter)
        logger.info(reason)
        raise EarlyStop(reason)

    def state_dict(self):
        if self.best is None:
            return {}
        return {
            "best": self.best,
            "best_iter": self.best_iter,
            "evaluations_without_gain": self.evaluations_without_gain,
        }

    def load_state_dict(self, state_dict):
        self.best = state_dict["best"]
        self.best_iter = state_dict["best_iter"]
        self.evaluations_without_gain = state_dict["evaluations_without_gain"]
