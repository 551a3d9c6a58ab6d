"""
The evaluation report of each evaluation of ``train_net.py`` (periodic, final or ``--eval-only``):
written to ``<output_dir>/report/`` (:func:`atss.evaluation.write_report`), its table of AP per
class and size logged, and, during training, its recommended threshold put in the run's metrics
(``report/score_threshold``, ``report/f1``, ``report/precision``, ``report/recall``) beside the
AP of the same evaluation.
"""

import logging
import os
from typing import Optional

from detectron2.data import MetadataCatalog
from detectron2.utils import comm
from detectron2.utils.events import get_event_storage

from ..evaluation import REPORT_DIR, EvaluationReport, evaluation_report, write_report

__all__ = ["REPORT_SCALARS", "report_evaluation"]

logger = logging.getLogger(__name__)

REPORT_SCALARS = ("score_threshold", "f1", "precision", "recall")


def _training_storage():
    try:
        return get_event_storage()
    except AssertionError:  # not inside a training loop
        return None


def report_evaluation(evaluator, dataset_name: str, output_dir: str) -> Optional[EvaluationReport]:
    """
    The report of ``evaluator``'s last bbox evaluation (a :class:`atss.data.CheckedCOCOEvaluator`
    that ``inference_on_dataset`` just ran), in the main process; None elsewhere, and when the
    evaluator kept no ``COCOeval`` (no detection, or another evaluator).
    """
    if not comm.is_main_process():
        return None
    # Taken, not read: pycocotools' per-image results are large on COCO.
    coco_eval = getattr(evaluator, "coco_evals", {}).pop("bbox", None)
    if coco_eval is None:
        logger.warning(f"No evaluation report: the model made no detection on {dataset_name}.")
        return None
    storage = _training_storage()
    report = evaluation_report(
        coco_eval,
        MetadataCatalog.get(dataset_name).thing_classes,
        dataset=dataset_name,
        iteration=None if storage is None else storage.iter,
    )
    paths = write_report(report, os.path.join(output_dir, REPORT_DIR))
    best = report.at_recommended()
    logger.info(
        f"AP per category and object size on {dataset_name}:\n{report.ap_table_text()}\n"
        f"Recommended score threshold {report.recommended:.2f} (highest F1 {best['f1']:.3f}, "
        f"precision {best['precision']:.3f}, recall {best['recall']:.3f} at IoU {report.iou}). "
        f"Report: {', '.join(paths)}"
    )
    if storage is not None:
        storage.put_scalars(
            **{f"report/{key}": best[key] for key in REPORT_SCALARS}, smoothing_hint=False
        )
    return report
