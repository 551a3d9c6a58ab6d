"""
The synthetic shapes dataset (atss.data.shapes) and the checks on COCO-format input
(atss.data.coco_json): deterministic, valid, self-repairing caches, clear errors on bad input.
"""

import json
import logging
import numpy as np
import os
import pytest

pytestmark = pytest.mark.detectron2

SMALL = dict(num_images=40, seed=7)


@pytest.fixture(scope="module")
def shapes():
    from atss.data import shapes

    return shapes


@pytest.fixture(scope="module")
def small_split(shapes, tmp_path_factory):
    """A 40-image split and its parsed COCO JSON."""
    out = str(tmp_path_factory.mktemp("shapes") / "split")
    shapes.generate_shapes(out, shapes.ShapesSpec(**SMALL))
    with open(os.path.join(out, shapes.ANNOTATIONS_FILE)) as f:
        return out, json.load(f)


@pytest.fixture
def small_registered_split(shapes, monkeypatch, tmp_path):
    """``shapes_val`` redefined as a 40-image split cached under a temporary root."""
    monkeypatch.setitem(shapes.SHAPES_SPLITS, "shapes_val", shapes.ShapesSpec(**SMALL))
    return str(tmp_path)


def _read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def test_same_seed_gives_byte_identical_dataset(shapes, small_split, tmp_path):
    first, _ = small_split
    second = str(tmp_path / "again")
    shapes.generate_shapes(second, shapes.ShapesSpec(**SMALL))
    for name in [shapes.ANNOTATIONS_FILE, shapes.MANIFEST_FILE, "images/000001.png"]:
        assert _read_bytes(os.path.join(first, name)) == _read_bytes(os.path.join(second, name))


def test_different_seeds_give_different_images(shapes, small_split, tmp_path):
    first, _ = small_split
    other = str(tmp_path / "other")
    shapes.generate_shapes(other, shapes.ShapesSpec(num_images=SMALL["num_images"], seed=8))
    assert _read_bytes(os.path.join(first, shapes.ANNOTATIONS_FILE)) != _read_bytes(
        os.path.join(other, shapes.ANNOTATIONS_FILE)
    )


def test_boxes_lie_inside_their_images_with_positive_size(small_split):
    _, dataset = small_split
    images = {im["id"]: im for im in dataset["images"]}
    for ann in dataset["annotations"]:
        x, y, w, h = ann["bbox"]
        image = images[ann["image_id"]]
        assert w >= 1 and h >= 1 and ann["area"] >= 1
        assert x >= 0 and y >= 0 and x + w <= image["width"] and y + h <= image["height"]


def test_every_class_occurs_and_category_ids_are_declared(shapes, small_split):
    _, dataset = small_split
    declared = {c["id"]: c["name"] for c in dataset["categories"]}
    assert [declared[i] for i in sorted(declared)] == list(shapes.SHAPES_CLASSES)
    assert {ann["category_id"] for ann in dataset["annotations"]} == set(declared)


def test_objects_range_from_a_few_pixels_to_most_of_the_image(small_split):
    _, dataset = small_split
    images = {im["id"]: im for im in dataset["images"]}
    sides = np.array([max(a["bbox"][2:]) for a in dataset["annotations"]])
    fractions = np.array(
        [
            max(a["bbox"][2:])
            / min(images[a["image_id"]]["width"], images[a["image_id"]]["height"])
            for a in dataset["annotations"]
        ]
    )
    assert sides.min() <= 8
    assert fractions.max() >= 0.6


def test_some_images_are_empty_and_some_objects_overlap(small_split):
    _, dataset = small_split
    with_objects = {a["image_id"] for a in dataset["annotations"]}
    assert len(with_objects) < len(dataset["images"])

    def overlaps(a, b):
        ax, ay, aw, ah = a["bbox"]
        bx, by, bw, bh = b["bbox"]
        return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah

    by_image = {}
    for ann in dataset["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    assert any(
        overlaps(a, b)
        for anns in by_image.values()
        for i, a in enumerate(anns)
        for b in anns[i + 1 :]
    )


def test_ensure_generates_once_then_reuses_the_cache(shapes, small_registered_split):
    json_file, image_root = shapes.ensure_shapes("shapes_val", small_registered_split)
    stamp = os.path.getmtime(json_file)
    assert shapes.ensure_shapes("shapes_val", small_registered_split) == (json_file, image_root)
    assert os.path.getmtime(json_file) == stamp
    assert len(os.listdir(image_root)) == SMALL["num_images"]


@pytest.mark.parametrize(
    "damage",
    ["corrupt image", "missing image", "truncated annotations", "missing manifest"],
)
def test_damaged_cache_is_detected_and_regenerated(shapes, small_registered_split, caplog, damage):
    json_file, image_root = shapes.ensure_shapes("shapes_val", small_registered_split)
    split_dir = os.path.dirname(json_file)
    image = os.path.join(image_root, "000003.png")
    good_image, good_json = _read_bytes(image), _read_bytes(json_file)
    if damage == "corrupt image":
        with open(image, "r+b") as f:
            f.seek(100)
            f.write(b"\x00" * 16)
    elif damage == "missing image":
        os.remove(image)
    elif damage == "truncated annotations":
        with open(json_file, "wb") as f:
            f.write(good_json[: len(good_json) // 2])
    else:
        os.remove(os.path.join(split_dir, shapes.MANIFEST_FILE))

    with caplog.at_level(logging.WARNING, logger=shapes.__name__):
        shapes.ensure_shapes("shapes_val", small_registered_split)
    assert "Regenerating the shapes_val dataset" in caplog.text
    assert _read_bytes(image) == good_image
    assert _read_bytes(json_file) == good_json


def test_loading_gives_detectron2_dicts_with_contiguous_classes(shapes, small_registered_split):
    from detectron2.structures import BoxMode

    from atss.data import load_coco_instances

    json_file, image_root = shapes.ensure_shapes("shapes_val", small_registered_split)
    dicts = load_coco_instances(json_file, image_root, "shapes_val")
    assert len(dicts) == SMALL["num_images"]
    annotations = [a for d in dicts for a in d["annotations"]]
    assert {a["category_id"] for a in annotations} == set(range(len(shapes.SHAPES_CLASSES)))
    assert all(a["bbox_mode"] == BoxMode.XYWH_ABS for a in annotations)
    assert all(os.path.isfile(d["file_name"]) for d in dicts)


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return str(path)


def _coco(category_ids=(1, 2), annotation_category=1):
    return {
        "images": [{"id": 1, "file_name": "a.png", "height": 10, "width": 10}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": annotation_category,
                "bbox": [0, 0, 5, 5],
                "area": 25,
                "iscrowd": 0,
            }
        ],
        "categories": [{"id": i, "name": f"c{i}"} for i in category_ids],
    }


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "does not exist"),
        ("", "is empty"),
        ('{"images": [', "is not valid JSON"),
        ("[]", "not a dict"),
        ('{"images": []}', "no 'annotations' list"),
    ],
)
def test_unusable_annotation_file_raises_value_error_naming_it(tmp_path, content, message):
    from atss.data import check_coco_json

    path = str(tmp_path / "instances.json")
    if content is not None:
        _write(path, content)
    with pytest.raises(ValueError, match=message) as error:
        check_coco_json(path)
    assert path in str(error.value)


def test_undeclared_class_raises_value_error_naming_image_and_class(tmp_path):
    from atss.data import check_coco_json

    path = _write(tmp_path / "instances.json", json.dumps(_coco(annotation_category=7)))
    with pytest.raises(ValueError, match=r"'a.png'.*class 7"):
        check_coco_json(path)


def test_dataset_and_model_class_counts_must_agree():
    from detectron2.data import MetadataCatalog

    from atss.data import SHAPES_CLASSES, check_dataset_classes

    check_dataset_classes(["shapes_val"], len(SHAPES_CLASSES))
    assert MetadataCatalog.get("shapes_val").thing_classes == list(SHAPES_CLASSES)
    with pytest.raises(ValueError, match="'shapes_val' has 5 classes .* model predicts 80"):
        check_dataset_classes(["shapes_val"], 80)
