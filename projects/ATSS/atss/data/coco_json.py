"""
COCO-format datasets with the input checked first: a missing, empty or corrupt annotation file, or
an annotation whose class is not among the file's categories, is a ValueError naming the file,
the image and the class, instead of an error deep inside pycocotools or a wrong label in training.
"""

import json
import numpy as np
import os
from typing import Iterable, List

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import load_coco_json
from detectron2.utils.file_io import PathManager

__all__ = [
    "check_coco_json",
    "check_dataset_classes",
    "load_coco_instances",
    "register_coco_instances_checked",
]


def check_coco_json(json_file: str) -> None:
    """
    Raise ValueError when ``json_file`` is not a usable COCO instances file: missing, empty, not
    JSON, without "images"/"annotations"/"categories" lists, or with an annotation whose
    ``category_id`` is not declared in "categories" or whose ``image_id`` names no image.
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

    annotations = dataset["annotations"]
    if not annotations:
        return
    category_ids = np.array([c["id"] for c in dataset["categories"]])
    image_ids = np.array([im["id"] for im in dataset["images"]])
    ann_categories = np.array([a.get("category_id", -1) for a in annotations])
    ann_images = np.array([a.get("image_id", -1) for a in annotations])
    file_names = {im["id"]: im.get("file_name", "?") for im in dataset["images"]}

    bad = np.flatnonzero(~np.isin(ann_images, image_ids))
    if len(bad):
        ann = annotations[bad[0]]
        raise ValueError(
            f"Annotation file {json_file}: annotation {ann.get('id')} refers to image_id "
            f"{ann.get('image_id')}, which is not in its 'images' ({len(bad)} such annotations)."
        )
    bad = np.flatnonzero(~np.isin(ann_categories, category_ids))
    if len(bad):
        ann = annotations[bad[0]]
        raise ValueError(
            f"Annotation file {json_file}: image {file_names[ann['image_id']]!r} (id "
            f"{ann['image_id']}) has an object of class {ann.get('category_id')}, which is not one "
            f"of the declared category ids {sorted(category_ids.tolist())} "
            f"({len(bad)} such annotations)."
        )


def load_coco_instances(json_file: str, image_root: str, dataset_name: str) -> List[dict]:
    """:func:`check_coco_json`, then detectron2's ``load_coco_json``."""
    check_coco_json(json_file)
    return load_coco_json(json_file, image_root, dataset_name)


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
