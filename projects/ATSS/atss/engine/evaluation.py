"""
Evaluation with test-time augmentation (:class:`atss.modeling.ATSSWithTTA`) for train_net.py: the
TTA model of the config's ``test.aug`` (``TEST.AUG`` of a YAML config), and the plain and augmented
AP with the seconds per image of each, side by side.
"""
import copy
import logging
import time
from collections import OrderedDict
from typing import Callable, Dict, Tuple
import torch
from tabulate import tabulate
from torch import nn

from detectron2.utils import comm

from ..modeling import ATSSDatasetMapperTTA, ATSSWithTTA
from .data_setup import inner_mapper

__all__ = ["test_with_tta", "tta_model", "tta_test"]

logger = logging.getLogger("detectron2")


class _ForwardTimer(nn.Module):
    """Wraps a model and adds up the seconds it spends per image."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.seconds = 0.0
        self.images = 0

    def forward(self, batched_inputs):
        start = time.perf_counter()
        outputs = self.model(batched_inputs)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.seconds += time.perf_counter() - start
        self.images += len(batched_inputs)
        return outputs


def _timed_test(test: Callable[[nn.Module], dict], model: nn.Module) -> Tuple[dict, float]:
    """Results of ``test(model)`` and the model's seconds per image."""
    timer = _ForwardTimer(model)
    results = test(timer)
    return results, timer.seconds / max(timer.images, 1)


def test_with_tta(
    test: Callable[[nn.Module, bool], dict], model: nn.Module, tta: nn.Module, compare_plain: bool
) -> dict:
    """
    Evaluates ``tta`` (and, with ``compare_plain``, ``model``) by ``test(model, is_tta)`` and
    prints the bbox AP and seconds per image of each side by side. The TTA results come under
    "<task>_TTA" keys, as detectron2's tools/train_net.py names them.
    """
    runs: Dict[str, Tuple[dict, float]] = OrderedDict()
    if compare_plain:
        runs["plain"] = _timed_test(lambda m: test(m, False), model)
    runs[f"TTA ({tta.merge})"] = _timed_test(lambda m: test(m, True), tta)
    if comm.is_main_process():
        metrics = ["AP", "AP50", "AP75", "APs", "APm", "APl"]
        rows = [
            [m] + [f"{r.get('bbox', {}).get(m, float('nan')):.2f}" for r, _ in runs.values()]
            for m in metrics
        ]
        rows.append(["s / image"] + [f"{t:.3f}" for _, t in runs.values()])
        logger.info(
            "Plain and test-time augmented evaluation:\n"
            + tabulate(rows, headers=["bbox"] + list(runs), tablefmt="pipe")
        )
    results = OrderedDict((k + "_TTA", v) for k, v in runs[f"TTA ({tta.merge})"][0].items())
    if compare_plain:
        results.update(runs["plain"][0])
    return results


TTA_KEYS = ("min_sizes", "max_sizes", "flip", "size_ranges", "merge", "vote_iou")


def tta_model(cfg, model: nn.Module) -> ATSSWithTTA:
    """``ATSSWithTTA`` from the config's ``test.aug`` (defaults: configs/common/test.py)."""
    aug = cfg.test.aug
    missing = [k for k in TTA_KEYS if k not in aug]
    if missing:
        raise KeyError(
            f"test.aug lacks {missing}: a config with test-time augmentation starts from "
            "`from ..common.test import test` (configs/common/test.py)"
        )
    mapper = ATSSDatasetMapperTTA(
        min_sizes=aug.min_sizes,
        max_sizes=aug.max_sizes,
        flip=aug.flip,
        size_ranges=aug.size_ranges,
    )
    return ATSSWithTTA(model, mapper, merge=aug.merge, vote_iou=aug.vote_iou)


def tta_test(
    cfg, model: nn.Module, test: Callable[[object, nn.Module], dict], compare_plain: bool
) -> dict:
    """
    Evaluates the TTA model of the config's ``test.aug`` with ``test(cfg, model)`` (and, with
    ``compare_plain``, the plain model beside it). The passes are made from the dataset's image,
    as the official test does, so the TTA loader does not resize it first.
    """
    tta_cfg = copy.deepcopy(cfg)
    mapper = inner_mapper(tta_cfg.dataloader.test)
    if "augmentations" in mapper:
        mapper.augmentations = []
    return test_with_tta(
        lambda m, is_tta: test(tta_cfg if is_tta else cfg, m),
        model,
        tta_model(cfg, model),
        compare_plain,
    )
