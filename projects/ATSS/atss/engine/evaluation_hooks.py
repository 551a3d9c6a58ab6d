"""
The hooks of evaluation during training, for ``train_net.py``'s LazyConfig route, in the order
they must run after each training step: validation loss, detectron2's ``EvalHook`` (whose test
function writes the report, :mod:`.evaluation_report`), the best checkpoint, early stopping.
:func:`check_evaluation_options` refuses their bad options before training starts.

Config keys (``configs/common/train.py``)::

    train.best_checkpoint.metric   # "bbox/AP": kept in model_best.pth when it improves
    train.early_stop.enabled       # False in the paper's configs, True in configs/Custom
    train.early_stop.patience      # evaluations in a row without gain before stopping
    train.early_stop.metric        # "bbox/AP"
    train.early_stop.min_delta     # the gain that counts as one (AP in percent)
    train.validation_loss          # the losses on the test set at each evaluation
"""

from typing import Callable, List, Optional, Sequence
from omegaconf import OmegaConf

from detectron2.engine import HookBase, hooks

from .best_checkpoint import BestCheckpoint
from .data_setup import dataset_names
from .defaults import ConfigError
from .early_stopping import EarlyStopping
from .validation_loss import ValidationLoss, validation_loader

__all__ = ["check_evaluation_options", "evaluation_hooks", "evaluation_metrics"]

# What COCOEvaluator logs for boxes, besides bbox/AP-<class>.
COCO_METRICS = ("bbox/AP", "bbox/AP50", "bbox/AP75", "bbox/APs", "bbox/APm", "bbox/APl")
DEFAULT_METRIC = "bbox/AP"


def evaluation_metrics(class_names: Sequence[str] = ()) -> List[str]:
    """The metrics a best checkpoint or early stopping can follow."""
    return (
        list(COCO_METRICS)
        + [f"bbox/AP-{name}" for name in class_names]
        + ["validation/total_loss"]
    )


def _select(cfg, key: str, default=None):
    return OmegaConf.select(cfg, key, default=default)


def _check_metric(cfg, key: str) -> None:
    metric = _select(cfg, key, DEFAULT_METRIC)
    classes = list(_select(cfg, "dataset.classes", default=None) or [])
    known = evaluation_metrics(classes)
    # Without the classes at hand (a registered dataset), any per-class AP may be right.
    if metric in known or (not classes and str(metric).startswith("bbox/AP-")):
        return
    raise ConfigError(
        f"{key}={metric!r} is not a metric the evaluation logs: use one of "
        f"{', '.join(COCO_METRICS)}, validation/total_loss or bbox/AP-<class>"
        + (f" ({', '.join(classes)})" if classes else "")
        + f", e.g. {key}=bbox/AP50."
    )


def check_evaluation_options(cfg, evaluate: bool = True) -> None:
    """ConfigError, with the fix, for options of evaluation during training that cannot work."""
    if not evaluate:
        return
    _check_metric(cfg, "train.best_checkpoint.metric")
    if not _select(cfg, "train.early_stop.enabled", False):
        return
    _check_metric(cfg, "train.early_stop.metric")
    patience = _select(cfg, "train.early_stop.patience")
    if not isinstance(patience, int) or patience < 1:
        raise ConfigError(
            f"train.early_stop.patience={patience!r}: give the number of evaluations without gain "
            "before stopping, at least 1 (e.g. train.early_stop.patience=3), or "
            "train.early_stop.enabled=False."
        )
    min_delta = _select(cfg, "train.early_stop.min_delta", 0.0)
    if min_delta < 0:
        raise ConfigError(
            f"train.early_stop.min_delta={min_delta}: the gain that counts is at least 0."
        )
    period, max_iter = _select(cfg, "train.eval_period", 0), _select(cfg, "train.max_iter", 0)
    if period <= 0 or period >= max_iter:
        raise ConfigError(
            f"train.eval_period={period} with train.max_iter={max_iter}: early stopping needs "
            f"evaluations before the end of the run; set train.eval_period to less than "
            f"{max_iter} (e.g. train.eval_period={max(max_iter // 10, 1)}), or "
            "train.early_stop.enabled=False."
        )


def evaluation_hooks(
    cfg, model, checkpointer, test: Callable[[], dict], main_process: bool
) -> List[Optional[HookBase]]:
    """The hooks of evaluation during training (None for those off or of another process)."""
    period = cfg.train.eval_period
    test_set = dataset_names(cfg.dataloader.test)[0]
    early_stop = _select(cfg, "train.early_stop", None)
    return [
        ValidationLoss(period, model, lambda: validation_loader(cfg))
        if _select(cfg, "train.validation_loss", False)
        else None,
        hooks.EvalHook(period, test),
        BestCheckpoint(
            period,
            checkpointer,
            _select(cfg, "train.best_checkpoint.metric", DEFAULT_METRIC),
            test_set,
        )
        if main_process
        else None,
        EarlyStopping(
            period, checkpointer, early_stop.metric, early_stop.patience, early_stop.min_delta
        )
        if early_stop is not None and early_stop.enabled
        else None,
    ]
