"""
Bad datasets as users bring them: every problem is named (file, image, annotation, count) when the
dataset is loaded, before training; dropping bad boxes is explicit and reaches evaluation too.
"""

import json
import logging
import os
import pytest

pytestmark = pytest.mark.detectron2
pytest.importorskip("detectron2", reason="detectron2 not installed")

import numpy as np  # noqa: E402
import cv2  # noqa: E402

from detectron2.data import DatasetMapper  # noqa: E402

from atss.data import (  # noqa: E402
    CheckedCOCOEvaluator,
    ImageErrorNamingMapper,
    check_coco_json,
    drop_invalid_annotations,
    load_coco_instances,
    register_coco_instances_checked,
)

GOOD_BOX = [2, 2, 10, 8]


def write_dataset(root, boxes, category_ids=None, images=2):
    """Two 32x24 PNG images; the annotations of ``boxes`` on image 1, one good box on image 2."""
    os.makedirs(root / "images", exist_ok=True)
    for i in range(1, images + 1):
        cv2.imwrite(str(root / "images" / f"{i}.png"), np.full((24, 32, 3), 100 * i, np.uint8))
    category_ids = category_ids or [1] * len(boxes)
    annotations = [
        {"id": 10 + k, "image_id": 1, "category_id": c, "bbox": b, "area": 1.0, "iscrowd": 0}
        for k, (b, c) in enumerate(zip(boxes, category_ids))
    ]
    annotations.append(
        {"id": 99, "image_id": 2, "category_id": 1, "bbox": GOOD_BOX, "area": 80, "iscrowd": 0}
    )
    dataset = {
        "images": [
            {"id": i, "file_name": f"{i}.png", "width": 32, "height": 24}
            for i in range(1, images + 1)
        ],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "thing"}],
    }
    path = root / "instances.json"
    # json writes float("nan") and float("inf") as NaN and Infinity, as many tools do.
    path.write_text(json.dumps(dataset))
    return str(path), str(root / "images")


@pytest.mark.parametrize(
    "bbox, problem",
    [
        ([1, 1, float("nan"), 4], "NaN or infinity"),
        ([1, 1, 4, float("inf")], "NaN or infinity"),
        ([1, 1, 0, 4], "non-positive width or height"),
        ([5, 5, 4, -3], "non-positive width or height"),
        ([40, 2, 5, 5], "wholly outside its image"),
        ([-9, 2, 5, 5], "wholly outside its image"),
        (None, "bbox is null"),
        ([1, 2, 3], "not a list of four numbers"),
        (["1", "2", "3", "4"], r"non-numbers \(str\)"),
    ],
)
def test_unusable_box_raises_naming_file_image_annotation_problem_and_count(
    tmp_path, bbox, problem
):
    json_file, _ = write_dataset(tmp_path, [GOOD_BOX, bbox, bbox])
    with pytest.raises(ValueError, match=problem) as error:
        check_coco_json(json_file)
    message = str(error.value)
    assert json_file in message and "'1.png'" in message
    assert "annotation 11:" in message and "2 annotations have unusable boxes" in message


def test_string_category_id_is_reported_as_a_string_with_its_count(tmp_path):
    json_file, _ = write_dataset(tmp_path, [GOOD_BOX] * 3, category_ids=[1, "1", "1"])
    with pytest.raises(ValueError, match=r"annotation 11: category_id is the string '1'.*\(2 such"):
        check_coco_json(json_file)


def test_dropping_warns_once_with_counts_and_removes_boxes_from_training(tmp_path, caplog):
    json_file, image_root = write_dataset(tmp_path, [GOOD_BOX, [1, 1, 0, 4], None, [1, 1, 0, 2]])
    drop_invalid_annotations(["drop_train"])
    try:
        with caplog.at_level(logging.WARNING):
            dicts = load_coco_instances(json_file, image_root, "drop_train")
    finally:
        drop_invalid_annotations(["drop_train"], drop=False)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "Dropping 3 of 5 annotations" in warnings[0] and "in 1 images" in warnings[0]
    assert "2 bbox has a non-positive width or height; 1 bbox is null" in warnings[0]
    assert [len(d["annotations"]) for d in dicts] == [1, 1]


def test_dropped_boxes_leave_the_ground_truth_of_evaluation_too(tmp_path):
    json_file, image_root = write_dataset(tmp_path, [GOOD_BOX, [1, 1, 0, 4]])
    register_coco_instances_checked("drop_eval", {}, json_file, image_root)
    drop_invalid_annotations(["drop_eval"])
    try:
        evaluator = CheckedCOCOEvaluator("drop_eval", output_dir=str(tmp_path / "eval"))
    finally:
        drop_invalid_annotations(["drop_eval"], drop=False)
    assert sorted(evaluator._coco_api.getAnnIds()) == [10, 99]


def test_missing_image_is_named_when_the_dataset_is_loaded(tmp_path):
    json_file, image_root = write_dataset(tmp_path, [GOOD_BOX])
    os.remove(os.path.join(image_root, "2.png"))
    with pytest.raises(ValueError, match=r"'missing_val': image .*2.png does not exist \(1 of 2"):
        load_coco_instances(json_file, image_root, "missing_val")


@pytest.mark.parametrize("is_train", [True, False])
def test_truncated_image_error_names_the_file_and_dataset(tmp_path, is_train):
    json_file, image_root = write_dataset(tmp_path, [GOOD_BOX])
    path = os.path.join(image_root, "1.png")
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    dicts = load_coco_instances(json_file, image_root, "truncated")
    mapper = ImageErrorNamingMapper(
        DatasetMapper(is_train=is_train, augmentations=[], image_format="BGR"), "truncated"
    )
    with pytest.raises(OSError, match=rf"Cannot read image {path} of dataset truncated: "):
        mapper(dicts[0])


def test_intact_shapes_cache_is_used_without_taking_the_lock(monkeypatch, tmp_path):
    from atss.data import shapes

    monkeypatch.setitem(shapes.SHAPES_SPLITS, "shapes_val", shapes.ShapesSpec(num_images=3, seed=0))
    expected = shapes.ensure_shapes("shapes_val", str(tmp_path))

    def read_only_lock(path):
        raise PermissionError(f"[Errno 13] Permission denied: '{path}.lock'")

    monkeypatch.setattr(shapes, "file_lock", read_only_lock)
    assert shapes.ensure_shapes("shapes_val", str(tmp_path)) == expected
