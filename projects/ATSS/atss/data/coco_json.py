"""
COCO-format datasets with the input checked first: a missing, empty or corrupt annotation file, an
annotation whose class is not among the file's categories, a box that is not four finite numbers
of positive size overlapping its image, or a listed image that is not on disk, is a ValueError
naming the file, the image, the annotation and the problem, instead of an error deep inside
pycocotools or detectron2, a box silently dropped in training but counted in evaluation, or a run
that stops at its final evaluation.

Boxes with bad values can instead be dropped, from training and evaluation alike, for the datasets
named in :func:`drop_invalid_annotations` (train_net.py: ``train.drop_invalid_annotations=True``
or ``DATASETS.DROP_INVALID_ANNOTATIONS True``).
"""

import contextlib
import io
import json
import logging
import math
import numpy as np
import os
import tempfile
from collections import Counter
from typing import Iterable, List, Optional, Set
from pycocotools.coco import COCO

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import load_coco_json
from detectron2.evaluation import COCOEvaluator
from detectron2.utils.file_io import PathManager

__all__ = [
    "CheckedCOCOEvaluator",
    "check_coco_json",
    "check_dataset_classes",
    "box_problem",
    "check_image_files",
    "drop_invalid_annotations",
    "load_coco_instances",
    "register_coco_instances_checked",
]

logger = logging.getLogger(__name__)

# Datasets whose annotations with bad box values are dropped (with a warning) instead of raising.
_DROP_INVALID: Set[str] = set()


def drop_invalid_annotations(dataset_names: Iterable[str], drop: bool = True) -> None:
    """
    Choose, for datasets loaded through :func:`load_coco_instances`, whether annotations with bad
    box values are dropped with one warning line (``drop=True``) or raise ValueError (default).
    Dropped annotations leave the ground truth of evaluation too (:class:`CheckedCOCOEvaluator`).
    """
    for name in dataset_names:
        (_DROP_INVALID.add if drop else _DROP_INVALID.discard)(name)


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def box_problem(bbox, width, height) -> Optional[str]:
    """What is wrong with a COCO ``bbox`` (x, y, w, h) of an image of the given size, or None."""
    if bbox is None:
        return "bbox is null"
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
        return "bbox is not a list of four numbers"
    if not all(_is_number(v) for v in bbox):
        kinds = sorted({type(v).__name__ for v in bbox if not _is_number(v)})
        return f"bbox holds non-numbers ({', '.join(kinds)})"
    if not all(math.isfinite(v) for v in bbox):
        return "bbox holds NaN or infinity"
    x, y, w, h = bbox
    if w <= 0 or h <= 0:
        return "bbox has a non-positive width or height"
    if (
        _is_number(width)
        and _is_number(height)
        and (x >= width or y >= height or x + w <= 0 or y + h <= 0)
    ):
        return "bbox lies wholly outside its image"
    return None


def check_coco_json(json_file: str, drop_invalid: bool = False) -> dict:
    """
    Raise ValueError when ``json_file`` is not a usable COCO instances file: missing, empty, not
    JSON, without "images"/"annotations"/"categories" lists, with an annotation whose
    ``category_id`` is not a declared category id (a string "1" included) or whose ``image_id``
    names no image, or with a box whose values are unusable (null, not four numbers, NaN or
    infinite, non-positive width or height, wholly outside its image). With ``drop_invalid``,
    annotations with unusable boxes are dropped with one warning line instead.

    Returns:
        The parsed file, without the dropped annotations.
    """
    if not PathManager.isfile(json_file):
        raise ValueError(f"Annotation file {json_file} does not exist.")
    with PathManager.open(json_file, "r") as f:
        text = f.read()
    if not text.strip():
        raise ValueError(f"Annotation file {json_file} is empty.")
    try:
        dataset = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"Annotation file {json_file} is not valid JSON: {e}") from e
    if not isinstance(dataset, dict):
        raise ValueError(
            f"Annotation file {json_file} holds a {type(dataset).__name__}, not a dict."
        )
    for key in ("images", "annotations", "categories"):
        if not isinstance(dataset.get(key), list):
            raise ValueError(f"Annotation file {json_file} has no {key!r} list (COCO format).")
    if not dataset["images"]:
        raise ValueError(f"Annotation file {json_file} lists no images.")
    if not dataset["categories"]:
        raise ValueError(f"Annotation file {json_file} lists no categories.")

    ids = Counter(im.get("id") for im in dataset["images"])
    names = Counter(im.get("file_name") for im in dataset["images"])
    twice = [f"id {i}" for i, n in ids.items() if n > 1] + [
        f"file_name {f!r}" for f, n in names.items() if n > 1
    ]
    if twice:
        raise ValueError(
            f"Annotation file {json_file} lists the same image twice ({twice[0]}; "
            f"{len(twice)} repeated ids or file names): each image must be listed once."
        )

    annotations = dataset["annotations"]
    if not annotations:
        return dataset
    category_ids = np.array([c["id"] for c in dataset["categories"]])
    image_ids = np.array([im["id"] for im in dataset["images"]])
    ann_images = np.array([a.get("image_id", -1) for a in annotations])
    file_names = {im["id"]: im.get("file_name", "?") for im in dataset["images"]}

    bad = np.flatnonzero(~np.isin(ann_images, image_ids))
    if len(bad):
        ann = annotations[bad[0]]
        raise ValueError(
            f"Annotation file {json_file}: annotation {ann.get('id')} refers to image_id "
            f"{ann.get('image_id')}, which is not in its 'images' ({len(bad)} such annotations)."
        )
    # Checked before the ids: in one numpy array, a single string would turn every id into one.
    strings = [i for i, a in enumerate(annotations) if isinstance(a.get("category_id"), str)]
    if strings:
        ann = annotations[strings[0]]
        raise ValueError(
            f"Annotation file {json_file}: image {file_names[ann['image_id']]!r} (id "
            f"{ann['image_id']}), annotation {ann.get('id')}: category_id is the string "
            f"{ann['category_id']!r}, not a number ({len(strings)} such annotations)."
        )
    ann_categories = np.array([a.get("category_id", -1) for a in annotations])
    bad = np.flatnonzero(~np.isin(ann_categories, category_ids))
    if len(bad):
        ann = annotations[bad[0]]
        raise ValueError(
            f"Annotation file {json_file}: image {file_names[ann['image_id']]!r} (id "
            f"{ann['image_id']}) has an object of class {ann.get('category_id')}, which is not one "
            f"of the declared category ids {sorted(category_ids.tolist())} "
            f"({len(bad)} such annotations)."
        )

    sizes = {im["id"]: (im.get("width"), im.get("height")) for im in dataset["images"]}
    problems = [box_problem(a.get("bbox"), *sizes[a["image_id"]]) for a in annotations]
    bad = [i for i, p in enumerate(problems) if p is not None]
    if bad and not drop_invalid:
        ann = annotations[bad[0]]
        raise ValueError(
            f"Annotation file {json_file}: image {file_names[ann['image_id']]!r} (id "
            f"{ann['image_id']}), annotation {ann.get('id')}: {problems[bad[0]]} "
            f"(bbox {ann.get('bbox')!r}; {len(bad)} annotations have unusable boxes). Fix the "
            "file, or drop them with train.drop_invalid_annotations=True (LazyConfig) or "
            "DATASETS.DROP_INVALID_ANNOTATIONS True (YAML)."
        )
    if bad:
        counts = Counter(problems[i] for i in bad)
        logger.warning(
            f"Dropping {len(bad)} of {len(annotations)} annotations of {json_file} with unusable "
            f"boxes, in {len({annotations[i]['image_id'] for i in bad})} images, from training "
            f"and evaluation: " + "; ".join(f"{n} {p}" for p, n in sorted(counts.items())) + "."
        )
        dropped = set(bad)
        dataset["annotations"] = [a for i, a in enumerate(annotations) if i not in dropped]
    return dataset


def check_image_files(dataset_dicts: List[dict], dataset_name: str) -> None:
    """Raise ValueError naming the dataset and its first missing image when some are missing."""
    missing = [d["file_name"] for d in dataset_dicts if not PathManager.isfile(d["file_name"])]
    if missing:
        raise ValueError(
            f"Dataset {dataset_name!r}: image {missing[0]} does not exist ({len(missing)} of "
            f"{len(dataset_dicts)} listed images are missing)."
        )


def load_coco_instances(json_file: str, image_root: str, dataset_name: str) -> List[dict]:
    """
    :func:`check_coco_json`, detectron2's ``load_coco_json`` (of the checked annotations, without
    those dropped), then :func:`check_image_files`.
    """
    dataset = check_coco_json(json_file, drop_invalid=dataset_name in _DROP_INVALID)
    if dataset_name not in _DROP_INVALID:
        dicts = load_coco_json(json_file, image_root, dataset_name)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            checked = os.path.join(tmp, os.path.basename(json_file))
            with open(checked, "w") as f:
                json.dump(dataset, f)
            dicts = load_coco_json(checked, image_root, dataset_name)
    check_image_files(dicts, dataset_name)
    return dicts


def has_fast_coco_eval() -> bool:
    """Whether detectron2 was built with its C++ extension, which COCOEvaluator's fast path uses."""
    try:
        from detectron2 import _C  # noqa: F401
    except ImportError:
        return False
    return True


class CheckedCOCOEvaluator(COCOEvaluator):
    """
    detectron2's COCOEvaluator, whose ground truth leaves out the annotations that
    :func:`load_coco_instances` dropped from the dataset (see :func:`drop_invalid_annotations`),
    so that evaluation counts the objects training saw. It keeps the ``COCOeval`` of each task
    of its last evaluation in ``coco_evals`` (None where there was no detection), from which
    :mod:`atss.evaluation` computes its report.
    """

    def __init__(self, dataset_name: str, *args, **kwargs):
        super().__init__(dataset_name, *args, **kwargs)
        self.coco_evals = {}
        if dataset_name in _DROP_INVALID:
            json_file = PathManager.get_local_path(self._metadata.json_file)
            coco = COCO()
            coco.dataset = check_coco_json(json_file, drop_invalid=True)
            with contextlib.redirect_stdout(io.StringIO()):
                coco.createIndex()
            self._coco_api = coco

    def reset(self):
        super().reset()
        self.coco_evals = {}

    def _derive_coco_results(self, coco_eval, iou_type, class_names=None):
        self.coco_evals[iou_type] = coco_eval
        return super()._derive_coco_results(coco_eval, iou_type, class_names)


def register_coco_instances_checked(
    name: str, metadata: dict, json_file: str, image_root: str
) -> None:
    """
    detectron2's ``register_coco_instances``, loading through :func:`load_coco_instances` so that
    bad input is reported clearly when the dataset is first used.
    """
    DatasetCatalog.register(name, lambda: load_coco_instances(json_file, image_root, name))
    MetadataCatalog.get(name).set(
        json_file=os.fspath(json_file),
        image_root=os.fspath(image_root),
        evaluator_type="coco",
        **metadata,
    )


def check_dataset_classes(dataset_names: Iterable[str], num_classes: int) -> None:
    """
    Raise ValueError unless every dataset has exactly ``num_classes`` classes: more would give
    labels the classifier cannot output, fewer would give predictions the evaluator cannot map
    back to a category. Call it after the datasets were loaded (loading sets their classes).
    """
    for name in dataset_names:
        classes = MetadataCatalog.get(name).get("thing_classes")
        if classes is not None and len(classes) != num_classes:
            raise ValueError(
                f"Dataset {name!r} has {len(classes)} classes ({', '.join(classes[:10])}"
                f"{', ...' if len(classes) > 10 else ''}) but the model predicts {num_classes}; "
                f"set model.num_classes={len(classes)} (LazyConfig) or "
                f"MODEL.ATSS.NUM_CLASSES {len(classes)} (YAML)."
            )
