"""
Visualizations of ATSS (detectron2 needed): detections drawn with detectron2's ``Visualizer``,
each step of the label assignment (candidates per level, their IoU statistics, the positives of
any registered rule), positives against object size over a dataset, training curves and the
figures of the evaluation report (docs/evaluation.md). Used by the notebooks in ``notebooks/``,
by ``tools/visualize_assignment.py`` and by ``atss.evaluation.write_report``.
"""

from .curves import curve_panels, load_metrics, metric_series, plot_training_curves
from .draw import (
    draw_ground_truth,
    draw_positives,
    draw_predictions,
    level_colors,
    plot_candidates,
    plot_iou_histogram,
    plot_positives,
    plot_positives_per_level,
    plot_positives_vs_size,
    score_threshold_control,
    show_images,
    size_bins,
)
from .inputs import (
    SHAPES_CHECKPOINT,
    SHAPES_CONFIG,
    SHORT_RUN_OVERRIDES,
    ShapesModel,
    annotated_mapper,
    model_and_config,
    shapes_model,
    short_run_command,
    short_run_dir,
)
from .predictions import matched_objects, predict
from .selection import (
    PAPER_RULES,
    AssignmentView,
    SizeStats,
    positives_vs_size,
    registered_rules,
    view_assignment,
)
