"""
The evaluation report of a COCO evaluation: precision-recall curves, AP per class and object
size, precision, recall and F1 against the score threshold with the recommended threshold, and
the confusion matrix at that threshold, all from the ground truth and detections that
COCOEvaluator scored (its ``COCOeval``). :func:`write_report` writes them to a directory as
``report.json`` and PNG figures (docs/evaluation.md).
"""

import json
import logging
import numpy as np
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence
from tabulate import tabulate

from ..checkpoint.atomic import write_atomically
from .coco_precision import APTable, PRCurves, ap_table, pr_curves
from .confusion_matrix import confusion_matrix
from .detection_matches import match_detections
from .score_threshold import ThresholdCurves, recommended_threshold, threshold_curves

__all__ = [
    "MATCH_IOU",
    "REPORT_DIR",
    "REPORT_FILE",
    "EvaluationReport",
    "evaluation_report",
    "write_report",
]

logger = logging.getLogger(__name__)

REPORT_DIR = "report"
REPORT_FILE = "report.json"
# The IoU of the score-threshold curves, the recommended threshold and the confusion matrix.
MATCH_IOU = 0.5


@dataclass(frozen=True)
class EvaluationReport:
    """
    dataset: the evaluated dataset's name; iteration: the training iteration (None outside
    training). ``recommended`` is the score threshold of the highest F1 over all classes, at
    which ``confusion`` (K + 1, K + 1) is counted (rows true, columns predicted, index K
    background), with IoU ``iou``.
    """

    dataset: str
    class_names: List[str]
    iteration: Optional[int]
    ap: APTable
    pr: PRCurves
    thresholds: ThresholdCurves
    recommended: float
    confusion: np.ndarray
    iou: float

    def at_recommended(self) -> Dict[str, float]:
        """Overall F1, precision and recall at the recommended threshold."""
        j = int(np.flatnonzero(self.thresholds.thresholds == self.recommended)[0])
        t = self.thresholds
        return {
            "score_threshold": self.recommended,
            "f1": float(np.nan_to_num(t.overall_f1[j])),
            "precision": float(t.overall_precision[j]),
            "recall": float(np.nan_to_num(t.overall_recall[j])),
        }

    def ap_table_text(self) -> str:
        """AP per class and object size, as a table for the log."""
        rows = [
            [name] + ["-" if np.isnan(v) else f"{v:.1f}" for v in values]
            for name, values in zip(self.ap.class_names, self.ap.values)
        ]
        return tabulate(rows, headers=["category"] + self.ap.columns, tablefmt="pipe")

    def as_json(self) -> dict:
        t = self.thresholds

        def curves(rows: np.ndarray) -> Dict[str, Optional[List[float]]]:
            return {name: _floats(row) for name, row in zip(self.class_names, rows)}

        return {
            "dataset": self.dataset,
            "iteration": self.iteration,
            "classes": self.class_names,
            "ap": self.ap.rows(),
            "pr_curves": {
                "recall": _floats(self.pr.recall),
                "iou_0.5": {"all": _floats(self.pr.all_50), **curves(self.pr.per_class_50)},
                "iou_0.5:0.95": {
                    "all": _floats(self.pr.all_mean),
                    **curves(self.pr.per_class_mean),
                },
            },
            "score_threshold_curves": {
                "iou": self.iou,
                "thresholds": _floats(t.thresholds),
                "all": {
                    "precision": _floats(t.overall_precision),
                    "recall": _floats(t.overall_recall),
                    "f1": _floats(t.overall_f1),
                },
                "per_class": {
                    name: {
                        "objects": int(t.num_gt[k]),
                        "precision": _floats(t.precision[k]),
                        "recall": _floats(t.recall[k]),
                        "f1": _floats(t.f1[k]),
                    }
                    for k, name in enumerate(self.class_names)
                },
            },
            "recommended_threshold": dict(self.at_recommended(), iou=self.iou),
            "confusion_matrix": {
                "iou": self.iou,
                "score_threshold": self.recommended,
                "rows": "true class",
                "columns": "predicted class",
                "labels": self.class_names + ["background"],
                "counts": self.confusion.tolist(),
            },
        }


def _floats(values: np.ndarray) -> Optional[List[Optional[float]]]:
    """JSON has no NaN: None where a value is undefined, None for a row that is all NaN."""
    values = np.asarray(values, dtype=float)
    if np.isnan(values).all():
        return None
    return [None if np.isnan(v) else round(float(v), 6) for v in values]


def evaluation_report(
    coco_eval,
    class_names: Sequence[str],
    dataset: str = "",
    iteration: Optional[int] = None,
    iou: float = MATCH_IOU,
) -> EvaluationReport:
    """
    The report of ``coco_eval``, a bbox ``COCOeval`` (or detectron2's ``COCOeval_opt``) that has
    been evaluated and accumulated; ``class_names`` in the order of its sorted category ids.
    """
    precision = coco_eval.eval["precision"]
    if precision.shape[2] != len(class_names):
        raise ValueError(
            f"The evaluation has {precision.shape[2]} classes, the class names {len(class_names)}."
        )
    matches = match_detections(coco_eval, iou)
    curves = threshold_curves(matches)
    threshold = recommended_threshold(curves)
    return EvaluationReport(
        dataset=dataset,
        class_names=list(class_names),
        iteration=iteration,
        ap=ap_table(precision, coco_eval.params.iouThrs, class_names),
        pr=pr_curves(precision, coco_eval.params.recThrs),
        thresholds=curves,
        recommended=threshold,
        confusion=confusion_matrix(matches, threshold),
        iou=iou,
    )


def write_report(report: EvaluationReport, directory: str) -> List[str]:
    """``report.json`` and the figures of ``report`` in ``directory``; the paths written."""
    from .figures import save_report_figures

    os.makedirs(directory, exist_ok=True)
    text = json.dumps(report.as_json(), indent=1).encode()
    path = os.path.join(directory, REPORT_FILE)
    write_atomically(path, lambda f: f.write(text))
    return [path] + save_report_figures(report, directory)
