"""
The validation loss: at each evaluation, the training losses of the model on the test set (its
annotations read as training reads them, its test-time resizing, no flip), without gradients and
with BatchNorm on its running statistics, averaged over the images of all processes. Logged
beside AP as ``validation/<loss>`` and ``validation/total_loss`` (metrics.json, TensorBoard).
"""

import copy
import logging
from typing import Callable, Dict, Iterable
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.parallel import DistributedDataParallel

from detectron2.config import instantiate
from detectron2.engine import HookBase
from detectron2.utils import comm
from detectron2.utils.events import EventStorage

from .data_setup import inner_mapper

__all__ = ["ValidationLoss", "validation_loader", "validation_losses"]

logger = logging.getLogger(__name__)


def validation_loader(cfg):
    """The test loader of a LazyConfig, its mapper keeping the annotations (``is_train``)."""
    loader_cfg = copy.deepcopy(cfg.dataloader.test)
    inner_mapper(loader_cfg).is_train = True
    return instantiate(loader_cfg)


def validation_losses(model: nn.Module, loader: Iterable) -> Dict[str, float]:
    """The model's losses averaged over the images of ``loader`` and of all processes."""
    module = model.module if isinstance(model, DistributedDataParallel) else model
    was_training = module.training
    module.train()
    for m in module.modules():
        if isinstance(m, _BatchNorm):
            m.eval()  # running statistics, untouched
    totals: Dict[str, float] = {}
    images = 0
    # The model's own training metrics (positives per level, ...) go to a storage of their own.
    with torch.no_grad(), EventStorage():
        for batch in loader:
            for name, value in module(batch).items():
                totals[name] = totals.get(name, 0.0) + float(value) * len(batch)
            images += len(batch)
    module.train(was_training)
    gathered = comm.all_gather((totals, images))
    images = sum(n for _, n in gathered)
    losses = {name: sum(t[name] for t, _ in gathered) / max(images, 1) for name in totals}
    losses["total_loss"] = sum(losses.values())
    return losses


class ValidationLoss(HookBase):
    """Runs at the iterations detectron2's ``EvalHook`` evaluates at; register it before."""

    def __init__(self, eval_period: int, model: nn.Module, build_loader: Callable[[], Iterable]):
        self._period = eval_period
        self._model = model
        self._build_loader = build_loader

    def _compute(self) -> None:
        losses = validation_losses(self._model, self._build_loader())
        self.trainer.storage.put_scalars(
            **{f"validation/{k}": v for k, v in losses.items()}, smoothing_hint=False
        )
        logger.info(
            "Validation loss: " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(losses.items()))
        )

    def after_step(self):
        next_iter = self.trainer.iter + 1
        if self._period > 0 and next_iter % self._period == 0 and next_iter < self.trainer.max_iter:
            self._compute()

    def after_train(self):
        if self.trainer.iter + 1 >= self.trainer.max_iter:
            self._compute()
