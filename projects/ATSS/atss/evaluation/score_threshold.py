"""
Precision, recall and F1 of a detector against the score threshold that decides which of its
detections are kept, per class and over all classes, and the recommended threshold: the one that
maximises F1 over all classes (pure numpy, from :class:`~.detection_matches.DetectionMatches`).

At threshold ``t`` the detections with ``score >= t`` are kept. A kept detection that matched an
object is a true positive: pycocotools matches detections in decreasing score order, so the
matches of the kept detections are those of the full evaluation. Precision is 1 where nothing is
kept; a class without ground truth has no recall (NaN) and counts only through its false
detections in the overall curves.
"""

import numpy as np
from dataclasses import dataclass

from .detection_matches import DetectionMatches

__all__ = ["THRESHOLDS", "ThresholdCurves", "recommended_threshold", "threshold_curves"]

# Scores are probabilities: every hundredth.
THRESHOLDS = np.arange(101) / 100


@dataclass(frozen=True)
class ThresholdCurves:
    """
    thresholds (S,); per class (K, S) and overall (S,): true positives ``tp``, false positives
    ``fp``, objects ``num_gt`` (K,) / scalar, ``precision``, ``recall`` and ``f1``.
    """

    thresholds: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    num_gt: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    overall_precision: np.ndarray
    overall_recall: np.ndarray
    overall_f1: np.ndarray


def _rates(tp: np.ndarray, fp: np.ndarray, num_gt: np.ndarray):
    kept = tp + fp
    precision = np.where(kept > 0, tp / np.maximum(kept, 1), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(num_gt > 0, tp / np.maximum(num_gt, 1), np.nan)
        f1 = np.where(
            precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0
        )
    return precision, recall, np.where(np.isnan(recall), np.nan, f1)


def threshold_curves(
    matches: DetectionMatches, thresholds: np.ndarray = THRESHOLDS
) -> ThresholdCurves:
    """The curves of ``matches`` at each of ``thresholds`` (S,), increasing."""
    num_classes, num_thresholds = matches.num_classes, len(thresholds)
    # Detection d is kept at the thresholds[:n_d], n_d = number of thresholds <= its score.
    kept_up_to = np.searchsorted(thresholds, matches.det_scores, side="right")
    bins = matches.det_class * (num_thresholds + 1) + kept_up_to

    def kept_counts(mask: np.ndarray) -> np.ndarray:
        counts = np.bincount(bins[mask], minlength=num_classes * (num_thresholds + 1))
        # Kept at threshold j: the detections with n_d > j.
        above = np.cumsum(counts.reshape(num_classes, -1)[:, ::-1], axis=1)[:, ::-1]
        return above[:, 1:]

    matched = matches.det_match >= 0
    tp, fp = kept_counts(matched), kept_counts(~matched)
    num_gt = np.bincount(matches.gt_class, minlength=num_classes)
    precision, recall, f1 = _rates(tp, fp, num_gt[:, None])
    overall = _rates(tp.sum(0), fp.sum(0), num_gt.sum())
    return ThresholdCurves(
        np.asarray(thresholds), tp, fp, num_gt, precision, recall, f1, *overall
    )


def recommended_threshold(curves: ThresholdCurves) -> float:
    """
    The threshold of the highest overall F1; where several reach it, the median of them, away
    from the edges of the plateau (F1 is constant between detection scores).
    """
    f1 = np.nan_to_num(curves.overall_f1, nan=0.0)
    best = np.flatnonzero(f1 == f1.max())
    return float(curves.thresholds[best[len(best) // 2]])
