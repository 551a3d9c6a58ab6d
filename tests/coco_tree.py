"""
A tiny COCO 2017 tree for end-to-end tests of the COCO configs: a few painted shapes images per
split, annotated with real COCO category ids and names, laid out as detectron2's builtin
registration reads it (``$DETECTRON2_DATASETS/coco/{train2017,val2017,annotations}``), so that
``coco_2017_train`` and ``coco_2017_val`` load it unchanged.
"""

import json
import shutil
from pathlib import Path
import cv2

from detectron2.data.datasets.builtin_meta import COCO_CATEGORIES

from atss.data import ShapesSpec, generate_shapes

# The five shapes become these COCO classes (person, car, dog, cup, toothbrush): the lowest and
# the highest id, and three from between, so the contiguous id mapping is exercised.
SHAPE_TO_COCO_ID = {1: 1, 2: 3, 3: 18, 4: 47, 5: 90}

SPLITS = {
    "train2017": ShapesSpec(num_images=4, seed=0),
    "val2017": ShapesSpec(num_images=2, seed=1),
}


def _coco_categories() -> list:
    return [
        {"id": c["id"], "name": c["name"], "supercategory": "thing"}
        for c in COCO_CATEGORIES
        if c["isthing"]
    ]


def write_coco_tree(root: Path) -> Path:
    """Write ``root/coco`` (the directory to give as ``DETECTRON2_DATASETS``); returns root."""
    annotations_dir = root / "coco" / "annotations"
    annotations_dir.mkdir(parents=True, exist_ok=True)
    for split, spec in SPLITS.items():
        scratch = root / f"shapes_{split}"
        generate_shapes(str(scratch), spec)
        with open(scratch / "annotations.json") as f:
            dataset = json.load(f)
        images_dir = root / "coco" / split
        images_dir.mkdir(exist_ok=True)
        for image in dataset["images"]:
            # COCO's own file names and format: 12-digit ids, JPEG.
            file_name = f"{image['id']:012d}.jpg"
            png = cv2.imread(str(scratch / "images" / image["file_name"]))
            cv2.imwrite(str(images_dir / file_name), png)
            image["file_name"] = file_name
        for annotation in dataset["annotations"]:
            annotation["category_id"] = SHAPE_TO_COCO_ID[annotation["category_id"]]
        dataset["categories"] = _coco_categories()
        with open(annotations_dir / f"instances_{split}.json", "w") as f:
            json.dump(dataset, f)
        shutil.rmtree(scratch)
    return root
