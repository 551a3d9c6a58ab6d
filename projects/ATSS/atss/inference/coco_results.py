"""
Detections as a COCO results file, the list that pycocotools' ``COCO.loadRes`` reads and
COCOEvaluator writes (``coco_instances_results.json``): one record per detection with
``image_id``, ``category_id`` (the dataset's own id), ``bbox`` (x, y, width, height in pixels of
the original image) and ``score``.

Image ids come from a dataset's COCO JSON, matched by file name, or from the file names
themselves; category ids from that JSON, from the model's test set, or 1..K in the order of the
model's classes when neither gives them.
"""

import json
import os
from typing import Dict, List, Optional, Sequence, Union

from detectron2.evaluation.coco_evaluation import instances_to_coco_json
from detectron2.structures import Instances

__all__ = [
    "ImageId",
    "category_ids_from_coco",
    "category_ids_from_metadata",
    "coco_records",
    "image_ids_from_coco",
    "image_ids_from_names",
]

ImageId = Union[int, str]


def _load_json(json_file: str) -> dict:
    try:
        with open(json_file) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise ValueError(f"COCO JSON {json_file} cannot be read: {e}") from None


def image_ids_from_coco(json_file: str, files: Sequence[str]) -> Dict[str, int]:
    """
    The id of each of ``files`` in the COCO JSON ``json_file``, matched by base name (a
    ``file_name`` may hold a folder). ValueError naming the files the JSON does not list, or a
    base name it lists twice.
    """
    images = _load_json(json_file).get("images", [])
    by_name: Dict[str, int] = {}
    for image in images:
        name = os.path.basename(image["file_name"])
        if name in by_name:
            raise ValueError(f"COCO JSON {json_file} lists two images named {name}.")
        by_name[name] = image["id"]
    unknown = [f for f in files if os.path.basename(f) not in by_name]
    if unknown:
        raise ValueError(
            f"{len(unknown)} input image(s) are not in {json_file}, e.g. {unknown[0]}: give the "
            "JSON of these images, or leave it out to take the ids from the file names."
        )
    return {f: by_name[os.path.basename(f)] for f in files}


def image_ids_from_names(files: Sequence[str]) -> Dict[str, ImageId]:
    """
    Image ids from file names: the number a name is made of when every name is one
    (``000000139.jpg`` -> 139, as COCO names its images), the name without its extension
    otherwise. ValueError when two files would get the same id.
    """
    stems = [os.path.splitext(os.path.basename(f))[0] for f in files]
    ids: List[ImageId] = [int(s) for s in stems] if all(s.isdigit() for s in stems) else stems
    seen: Dict[ImageId, str] = {}
    for f, image_id in zip(files, ids):
        if image_id in seen:
            raise ValueError(
                f"{seen[image_id]} and {f} would both be image {image_id!r}: rename one, or give "
                "a COCO JSON that lists them."
            )
        seen[image_id] = f
    return dict(zip(files, ids))


def category_ids_from_coco(json_file: str, classes: Optional[Sequence[str]]) -> List[int]:
    """
    The dataset id of each of the model's classes: the JSON's categories by increasing id, the
    order in which detectron2 numbers them. ValueError when their number, or their names where
    the model has ``classes``, differ from the model's.
    """
    categories = sorted(_load_json(json_file).get("categories", []), key=lambda c: c["id"])
    names = [c["name"] for c in categories]
    if classes is not None and names != list(classes):
        raise ValueError(
            f"The categories of {json_file} ({', '.join(names)}) are not the model's classes "
            f"({', '.join(classes)}), in this order."
        )
    return [c["id"] for c in categories]


def category_ids_from_metadata(metadata, num_classes: int) -> Optional[List[int]]:
    """The dataset id of each class from detectron2 metadata's
    ``thing_dataset_id_to_contiguous_id``, or None when it has none."""
    mapping = metadata.get("thing_dataset_id_to_contiguous_id")
    if not mapping:
        return None
    ids = {contiguous: dataset_id for dataset_id, contiguous in mapping.items()}
    return [ids[k] for k in range(num_classes)]


def coco_records(
    instances: Instances, image_id: ImageId, category_ids: Sequence[int]
) -> List[dict]:
    """The results records of one image's detections (on the CPU, in its original frame)."""
    records = instances_to_coco_json(instances, image_id)
    for record in records:
        record["category_id"] = category_ids[record["category_id"]]
    return records
