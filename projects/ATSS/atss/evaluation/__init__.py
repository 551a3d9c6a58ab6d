"""
The evaluation report of a COCO evaluation (docs/evaluation.md): precision-recall curves, AP per
class and size, precision, recall and F1 against the score threshold, the recommended threshold
and the confusion matrix, computed from the detections COCOEvaluator scored; and the recommended
threshold saved beside a model's config.
"""

from .coco_precision import APTable, PRCurves, ap_table, pr_curves
from .confusion_matrix import confusion_matrix
from .detection_matches import DetectionMatches, match_detections
from .recommended_threshold import (
    DEFAULT_SCORE_THRESHOLD,
    THRESHOLD_FILE,
    RecommendedThreshold,
    read_recommended_threshold,
    resolve_score_threshold,
    write_deployment_threshold,
    write_recommended_threshold,
)
from .report import (
    MATCH_IOU,
    REPORT_DIR,
    REPORT_FILE,
    EvaluationReport,
    evaluation_report,
    write_report,
)
from .score_threshold import THRESHOLDS, ThresholdCurves, recommended_threshold, threshold_curves
