"""
What pycocotools' accumulated ``COCOeval.eval["precision"]`` says beyond the summary: the
precision-recall curves per class and over all classes (at IoU 0.5 and averaged over
0.5:0.95), and the AP of each class at each IoU and object size. They are read from the array
COCOeval computed AP from, so a curve's mean is its AP (pure numpy).

The array is indexed ``[T, R, K, A, M]``: IoU thresholds (0.5:0.05:0.95), recall thresholds
(0:0.01:1), classes, areas (all, small, medium, large) and maximum detections (1, 10, 100); a
class without ground truth holds -1.
"""

import numpy as np
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

__all__ = ["APTable", "PRCurves", "ap_table", "pr_curves"]

AREAS = ("all", "small", "medium", "large")


@dataclass(frozen=True)
class PRCurves:
    """
    recall (R,): COCO's recall thresholds.
    per_class_50, per_class_mean (K, R): precision at IoU 0.5 and averaged over 0.5:0.95; NaN
        rows for classes without ground truth.
    all_50, all_mean (R,): the mean over the classes that have ground truth.
    """

    recall: np.ndarray
    per_class_50: np.ndarray
    per_class_mean: np.ndarray
    all_50: np.ndarray
    all_mean: np.ndarray


@dataclass(frozen=True)
class APTable:
    """AP (percent) per class: ``columns`` are AP, AP50, AP75, APs, APm, APl; NaN where a class
    has no ground truth (of that size)."""

    class_names: List[str]
    columns: List[str]
    values: np.ndarray  # (K, 6)

    def rows(self) -> Dict[str, Dict[str, Optional[float]]]:
        return {
            name: {c: (None if np.isnan(v) else float(v)) for c, v in zip(self.columns, row)}
            for name, row in zip(self.class_names, self.values)
        }


def _mean_valid(precision: np.ndarray, axis) -> np.ndarray:
    """The mean over ``axis`` of the entries that are not -1; NaN where none is."""
    valid = precision > -1
    total = np.where(valid, precision, 0.0).sum(axis=axis)
    count = valid.sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def pr_curves(precision: np.ndarray, recall_thresholds: Sequence[float]) -> PRCurves:
    """The curves of ``precision`` (T, R, K, A, M) for all areas and the most detections."""
    p = precision[:, :, :, 0, -1]  # (T, R, K)
    per_class_50 = np.where(p[0] > -1, p[0], np.nan).T
    per_class_mean = _mean_valid(p, axis=0).T
    return PRCurves(
        recall=np.asarray(recall_thresholds, dtype=float),
        per_class_50=per_class_50,
        per_class_mean=per_class_mean,
        all_50=_mean_valid(p[0], axis=1),
        all_mean=_mean_valid(per_class_mean, axis=0),  # NaN rows are not > -1
    )


def ap_table(
    precision: np.ndarray, iou_thresholds: Sequence[float], class_names: Sequence[str]
) -> APTable:
    """AP per class over IoU 0.5:0.95, at 0.5 and 0.75, and per object size (all IoUs)."""
    iou = np.round(np.asarray(iou_thresholds, dtype=float), 2)
    p = precision[..., -1]  # (T, R, K, A)
    columns = {
        "AP": _mean_valid(p[:, :, :, 0], axis=(0, 1)),
        "AP50": _mean_valid(p[iou == 0.5][:, :, :, 0], axis=(0, 1)),
        "AP75": _mean_valid(p[iou == 0.75][:, :, :, 0], axis=(0, 1)),
        "APs": _mean_valid(p[:, :, :, 1], axis=(0, 1)),
        "APm": _mean_valid(p[:, :, :, 2], axis=(0, 1)),
        "APl": _mean_valid(p[:, :, :, 3], axis=(0, 1)),
    }
    return APTable(
        list(class_names), list(columns), np.stack(list(columns.values()), axis=1) * 100
    )
