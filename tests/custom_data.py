"""
Tiny datasets of the user's own kind for the tests, from generated shapes images: a COCO JSON
file and a folder of Pascal-VOC XML files beside their images, with category ids 3, 7 and 11, a
class name with a space, an image without objects and a "difficult" VOC object.
"""

import json
import numpy as np
import shutil
from pathlib import Path
from typing import Dict
from xml.sax.saxutils import escape
import cv2

from atss.data import ShapesSpec, generate_shapes

# Shapes classes 1-3 (rectangle, ellipse, triangle) under ids that are not 1..K.
CATEGORIES = [
    {"id": 3, "name": "box", "supercategory": "thing"},
    {"id": 7, "name": "traffic cone", "supercategory": "thing"},
    {"id": 11, "name": "ellipse", "supercategory": "thing"},
]
SHAPE_TO_CATEGORY = {1: 3, 3: 7, 2: 11}
EMPTY_IMAGE = "empty.png"


def write_coco_split(root: Path, split: str, num_images: int, seed: int) -> Path:
    """``root/split/annotations.json`` and its images (one of them without objects)."""
    folder = root / split
    spec = ShapesSpec(num_images=num_images, seed=seed, min_image_side=64, max_image_side=80)
    generate_shapes(str(folder), spec)
    with open(folder / "annotations.json") as f:
        dataset = json.load(f)
    dataset["annotations"] = [
        dict(a, category_id=SHAPE_TO_CATEGORY[a["category_id"]])
        for a in dataset["annotations"]
        if a["category_id"] in SHAPE_TO_CATEGORY
    ]
    cv2.imwrite(str(folder / "images" / EMPTY_IMAGE), np.full((64, 64, 3), 90, np.uint8))
    next_id = max(im["id"] for im in dataset["images"]) + 1
    dataset["images"].append({"id": next_id, "file_name": EMPTY_IMAGE, "width": 64, "height": 64})
    # Relative to the JSON file's folder, where the images are looked for by default.
    for image in dataset["images"]:
        image["file_name"] = "images/" + image["file_name"]
    dataset["categories"] = CATEGORIES
    with open(folder / "annotations.json", "w") as f:
        json.dump(dataset, f)
    return folder / "annotations.json"


def voc_xml(file_name: str, size, objects) -> str:
    """A Pascal-VOC XML; ``objects`` are (name, (xmin, ymin, xmax, ymax), difficult)."""
    width, height = size
    parts = [
        f"<annotation><folder>images</folder><filename>{escape(file_name)}</filename>",
        f"<size><width>{width}</width><height>{height}</height><depth>3</depth></size>",
    ]
    for name, (x0, y0, x1, y1), difficult in objects:
        parts.append(
            f"<object><name>{escape(name)}</name><difficult>{int(difficult)}</difficult>"
            f"<bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax>"
            "</bndbox></object>"
        )
    return "".join(parts) + "</annotation>"


def coco_to_voc(json_file: Path, folder: Path, difficult_first: bool = True) -> Path:
    """The images and annotations of a COCO file as a VOC folder (XML beside the images)."""
    with open(json_file) as f:
        dataset = json.load(f)
    names = {c["id"]: c["name"] for c in dataset["categories"]}
    folder.mkdir(parents=True, exist_ok=True)
    by_image = {im["id"]: [] for im in dataset["images"]}
    for a in dataset["annotations"]:
        by_image[a["image_id"]].append(a)
    marked = not difficult_first
    for image in dataset["images"]:
        file_name = Path(image["file_name"]).name
        shutil.copy(json_file.parent / image["file_name"], folder / file_name)
        objects = []
        for a in by_image[image["id"]]:
            x, y, w, h = a["bbox"]
            box = (round(x) + 1, round(y) + 1, round(x + w), round(y + h))
            objects.append((names[a["category_id"]], box, not marked))
            marked = True
        xml = voc_xml(file_name, (image["width"], image["height"]), objects)
        (folder / (Path(file_name).stem + ".xml")).write_text(xml)
    return folder


def write_custom_data(root: Path) -> Dict[str, Path]:
    """COCO JSON and VOC train/test sets under ``root``; their paths by name."""
    train = write_coco_split(root / "coco", "train", 8, seed=0)
    test = write_coco_split(root / "coco", "test", 3, seed=1)
    return {
        "coco_train": train,
        "coco_test": test,
        "voc_train": coco_to_voc(train, root / "voc" / "train"),
        "voc_test": coco_to_voc(test, root / "voc" / "test", difficult_first=False),
    }
