"""
"Shapes": a small synthetic detection dataset that needs no download, so that training and COCO
evaluation can be exercised end to end on a CPU.

Each image shows coloured rectangles, ellipses, triangles, crosses and rings on a noisy
background, from a few pixels to most of the image, overlapping (each object stays at least 60%
visible) and with some images left empty. A split is generated once from its seed, written as a
COCO-format JSON plus PNG images, and cached under ``$ATSS_DATASETS/shapes/<split>`` (default
``~/.cache/atss/shapes/<split>``). A manifest with the size and SHA-256 of every file is written
last and checked on every load: a missing or damaged cache is regenerated, never used.
"""

import hashlib
import json
import logging
import numpy as np
import os
import shutil
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Tuple
import cv2
from iopath.common.file_io import file_lock

from detectron2.data import DatasetCatalog, MetadataCatalog

from .coco_json import load_coco_instances

__all__ = [
    "SHAPES_CLASSES",
    "SHAPES_SPLITS",
    "ShapesSpec",
    "default_shapes_root",
    "ensure_shapes",
    "generate_shapes",
    "register_shapes",
]

logger = logging.getLogger(__name__)

SHAPES_CLASSES = ("rectangle", "ellipse", "triangle", "cross", "ring")

ANNOTATIONS_FILE = "annotations.json"
IMAGES_DIR = "images"
MANIFEST_FILE = "manifest.json"
MANIFEST_VERSION = 1

# An object may be covered by later ones, but keeps at least this fraction of its pixels, so
# that its (full, amodal) box stays inferable from the image.
MIN_VISIBLE_FRACTION = 0.6
# Shape colours differ from the background by at least this L1 distance (0-765).
MIN_COLOR_CONTRAST = 150
# Placement attempts per object before the image gets one object fewer.
MAX_PLACEMENT_TRIES = 20


@dataclass(frozen=True)
class ShapesSpec:
    """
    What one split contains. Everything is drawn from ``seed``, so equal specs give
    byte-identical files.
    """

    num_images: int
    seed: int
    min_image_side: int = 96
    max_image_side: int = 128
    max_objects: int = 6
    empty_fraction: float = 0.1
    min_object_size: int = 4
    max_object_fraction: float = 0.9  # of the shorter image side


SHAPES_SPLITS: Dict[str, ShapesSpec] = {
    "shapes_train": ShapesSpec(num_images=2000, seed=0),
    "shapes_val": ShapesSpec(num_images=200, seed=1),
}


def default_shapes_root() -> str:
    """``$ATSS_DATASETS/shapes``, or ``~/.cache/atss/shapes`` when the variable is unset."""
    return os.path.join(
        os.path.expanduser(os.environ.get("ATSS_DATASETS", "~/.cache/atss")), "shapes"
    )


def _draw_object(shape: str, box: np.ndarray, height: int, width: int, rng) -> np.ndarray:
    """
    Rasterise one object whose extent is ``box`` = (x0, y0, x1, y1), inclusive integer pixels.

    Returns:
        (height, width) bool mask of the object.
    """
    mask = np.zeros((height, width), np.uint8)
    x0, y0, x1, y1 = (int(v) for v in box)
    w, h = x1 - x0 + 1, y1 - y0 + 1
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    if shape == "rectangle":
        cv2.rectangle(mask, (x0, y0), (x1, y1), 1, thickness=-1)
    elif shape == "ellipse":
        cv2.ellipse(mask, (cx, cy), ((w - 1) // 2, (h - 1) // 2), 0, 0, 360, 1, thickness=-1)
    elif shape == "triangle":
        apex_x = int(rng.integers(x0, x1 + 1))
        apex_y, base_y = (y0, y1) if rng.random() < 0.5 else (y1, y0)
        points = np.array([[apex_x, apex_y], [x0, base_y], [x1, base_y]], np.int32)
        cv2.fillPoly(mask, [points], 1)
    elif shape == "cross":
        bar_h, bar_w = max(1, round(0.3 * h)), max(1, round(0.3 * w))
        cv2.rectangle(mask, (x0, cy - bar_h // 2), (x1, cy + (bar_h - 1) // 2), 1, thickness=-1)
        cv2.rectangle(mask, (cx - bar_w // 2, y0), (cx + (bar_w - 1) // 2, y1), 1, thickness=-1)
    elif shape == "ring":
        # cv2 centres the stroke on the ellipse, so shrink the axes by half the thickness.
        thickness = max(1, round(0.2 * min(w, h)))
        axes = (max(0, (w - thickness) // 2), max(0, (h - thickness) // 2))
        cv2.ellipse(mask, (cx, cy), axes, 0, 0, 360, 1, thickness=thickness)
    else:
        raise ValueError(f"Unknown shape {shape!r}; expected one of {SHAPES_CLASSES}")
    return mask.astype(bool)


def _random_color(rng, background: np.ndarray) -> np.ndarray:
    while True:
        color = rng.integers(0, 256, size=3)
        if np.abs(color - background).sum() >= MIN_COLOR_CONTRAST:
            return color


def _render_image(spec: ShapesSpec, rng) -> Tuple[np.ndarray, List[dict]]:
    """
    Draw one image and its objects.

    Returns:
        image: (H, W, 3) uint8 BGR image.
        objects: dicts with "category" (index into SHAPES_CLASSES), "bbox" (x, y, w, h in
            pixels, tight around the object's full mask) and "area" (pixels of the full mask).
    """
    height, width = (int(v) for v in rng.integers(spec.min_image_side, spec.max_image_side + 1, 2))
    background = rng.integers(0, 256, size=3)
    image = np.empty((height, width, 3), np.float32)
    image[:] = background
    # A linear shading across the image, so the background is not a constant.
    ramp = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :, None]
    image += ramp * rng.uniform(-30, 30, size=3).astype(np.float32)

    num_objects = (
        0 if rng.random() < spec.empty_fraction else int(rng.integers(1, spec.max_objects + 1))
    )
    owner = np.full((height, width), -1, np.int64)  # index of the object seen at each pixel
    areas: List[int] = []
    objects: List[dict] = []
    max_size = spec.max_object_fraction * min(height, width)
    for _ in range(num_objects):
        for _ in range(MAX_PLACEMENT_TRIES):
            category = int(rng.integers(len(SHAPES_CLASSES)))
            # Log-uniform sizes: every scale, so every pyramid level, is equally frequent.
            size = np.exp(rng.uniform(np.log(spec.min_object_size), np.log(max_size)))
            aspect = np.exp(rng.uniform(np.log(0.5), np.log(2.0)))
            w = int(np.clip(round(size * np.sqrt(aspect)), spec.min_object_size, width))
            h = int(np.clip(round(size / np.sqrt(aspect)), spec.min_object_size, height))
            x0, y0 = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
            box = np.array([x0, y0, x0 + w - 1, y0 + h - 1])
            mask = _draw_object(SHAPES_CLASSES[category], box, height, width, rng)
            covered = np.bincount(owner[mask & (owner >= 0)], minlength=len(areas))
            visible = np.bincount(owner[owner >= 0], minlength=len(areas))
            if mask.sum() >= spec.min_object_size and np.all(
                visible - covered >= MIN_VISIBLE_FRACTION * np.asarray(areas, np.float64)
            ):
                break
        else:
            continue
        image[mask] = _random_color(rng, background)
        owner[mask] = len(areas)
        ys, xs = np.nonzero(mask)
        x_min, y_min = int(xs.min()), int(ys.min())
        bbox = [x_min, y_min, int(xs.max()) - x_min + 1, int(ys.max()) - y_min + 1]
        areas.append(int(mask.sum()))
        objects.append({"category": category, "bbox": bbox, "area": areas[-1]})

    image += 6.0 * rng.standard_normal(size=image.shape, dtype=np.float32)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), objects


def _sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def generate_shapes(output_dir: str, spec: ShapesSpec) -> None:
    """
    Write a split into ``output_dir`` (replacing what is there): ``annotations.json`` (COCO
    format, category ids 1..5 in the order of SHAPES_CLASSES), ``images/*.png`` and, last,
    ``manifest.json`` listing every file's size and SHA-256.
    """
    if os.path.exists(output_dir):
        shutil.rmtree(output_dir)
    os.makedirs(os.path.join(output_dir, IMAGES_DIR))
    rng = np.random.default_rng(spec.seed)
    images, annotations = [], []
    for image_id in range(1, spec.num_images + 1):
        image, objects = _render_image(spec, rng)
        file_name = f"{image_id:06d}.png"
        if not cv2.imwrite(os.path.join(output_dir, IMAGES_DIR, file_name), image):
            raise OSError(f"Could not write {os.path.join(output_dir, IMAGES_DIR, file_name)}")
        images.append(
            {
                "id": image_id,
                "file_name": file_name,
                "height": image.shape[0],
                "width": image.shape[1],
            }
        )
        for obj in objects:
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": obj["category"] + 1,
                    "bbox": obj["bbox"],
                    "area": obj["area"],
                    "iscrowd": 0,
                }
            )
    dataset = {
        "info": {"description": "ATSS synthetic shapes", "spec": asdict(spec)},
        "images": images,
        "annotations": annotations,
        "categories": [
            {"id": i + 1, "name": name, "supercategory": "shape"}
            for i, name in enumerate(SHAPES_CLASSES)
        ],
    }
    with open(os.path.join(output_dir, ANNOTATIONS_FILE), "w") as f:
        json.dump(dataset, f, sort_keys=True)

    files = [ANNOTATIONS_FILE] + [os.path.join(IMAGES_DIR, im["file_name"]) for im in images]
    manifest = {
        "version": MANIFEST_VERSION,
        "spec": asdict(spec),
        "files": {
            name: {
                "size": os.path.getsize(os.path.join(output_dir, name)),
                "sha256": _sha256(os.path.join(output_dir, name)),
            }
            for name in files
        },
    }
    # Written last: a generation that was interrupted leaves no manifest and is redone.
    with open(os.path.join(output_dir, MANIFEST_FILE), "w") as f:
        json.dump(manifest, f, sort_keys=True, indent=1)


def _cache_problem(split_dir: str, spec: ShapesSpec) -> Optional[str]:
    """Why the cached split in ``split_dir`` cannot be used, or None when it can."""
    manifest_path = os.path.join(split_dir, MANIFEST_FILE)
    if not os.path.isfile(manifest_path):
        return f"{manifest_path} is missing"
    try:
        with open(manifest_path) as f:
            manifest = json.load(f)
        files = manifest["files"]
        if manifest["version"] != MANIFEST_VERSION or manifest["spec"] != asdict(spec):
            return f"{manifest_path} describes another version or spec of the dataset"
    except (ValueError, KeyError, TypeError) as e:
        return f"{manifest_path} is unreadable ({e})"
    for name, expected in files.items():
        path = os.path.join(split_dir, name)
        if not os.path.isfile(path):
            return f"{path} is missing"
        if os.path.getsize(path) != expected["size"] or _sha256(path) != expected["sha256"]:
            return f"{path} does not match its checksum in {manifest_path}"
    return None


def ensure_shapes(name: str, root: Optional[str] = None) -> Tuple[str, str]:
    """
    Make sure the split ``name`` (a key of SHAPES_SPLITS) is cached and intact under ``root``
    (default :func:`default_shapes_root`), generating it when missing or damaged. Safe to call
    from several processes at once (a file lock serialises them).

    Returns:
        The split's COCO JSON file and image directory.
    """
    if name not in SHAPES_SPLITS:
        raise ValueError(f"Unknown shapes split {name!r}; expected one of {sorted(SHAPES_SPLITS)}")
    split_dir = os.path.join(root or default_shapes_root(), name)
    # An intact cache is only read, so it may be on a read-only path: lock only to write.
    if _cache_problem(split_dir, SHAPES_SPLITS[name]) is not None:
        _generate_locked(name, split_dir)
    return os.path.join(split_dir, ANNOTATIONS_FILE), os.path.join(split_dir, IMAGES_DIR)


def _generate_locked(name: str, split_dir: str) -> None:
    """(Re)generate the split unless another process did while this one waited for the lock."""
    with file_lock(split_dir):
        problem = _cache_problem(split_dir, SHAPES_SPLITS[name])
        if problem is not None:
            if os.path.exists(split_dir):
                logger.warning(f"Regenerating the {name} dataset: {problem}.")
            else:
                logger.info(f"Generating the {name} dataset in {split_dir} ...")
            generate_shapes(split_dir, SHAPES_SPLITS[name])


def _load_shapes(name: str, root: Optional[str]) -> List[dict]:
    json_file, image_root = ensure_shapes(name, root)
    return load_coco_instances(json_file, image_root, name)


def register_shapes(root: Optional[str] = None) -> None:
    """
    Register ``shapes_train`` and ``shapes_val`` with detectron2's catalogs. Nothing is written
    until a split is first loaded; ``root`` defaults to :func:`default_shapes_root` (read now).
    """
    root = root or default_shapes_root()
    for name in SHAPES_SPLITS:
        DatasetCatalog.register(name, lambda name=name: _load_shapes(name, root))
        MetadataCatalog.get(name).set(
            thing_classes=list(SHAPES_CLASSES),
            thing_dataset_id_to_contiguous_id={i + 1: i for i in range(len(SHAPES_CLASSES))},
            # COCOEvaluator reads the JSON itself; the test loader, built first, creates it.
            json_file=os.path.join(root, name, ANNOTATIONS_FILE),
            image_root=os.path.join(root, name, IMAGES_DIR),
            evaluator_type="coco",
        )
