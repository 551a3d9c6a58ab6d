"""
Datasets for ATSS. COCO comes from detectron2's builtin registration (``coco_2017_train``,
``coco_2017_val`` under ``$DETECTRON2_DATASETS``); importing this package also registers the
synthetic ``shapes_train`` and ``shapes_val`` (see :mod:`atss.data.shapes`).
"""

from .coco_json import (
    CheckedCOCOEvaluator,
    check_coco_json,
    check_dataset_classes,
    check_image_files,
    drop_invalid_annotations,
    has_fast_coco_eval,
    load_coco_instances,
    register_coco_instances_checked,
)
from .mapper import ImageErrorNamingMapper
from .shapes import (
    SHAPES_CLASSES,
    SHAPES_SPLITS,
    ShapesSpec,
    default_shapes_root,
    ensure_shapes,
    generate_shapes,
    register_shapes,
)

register_shapes()
