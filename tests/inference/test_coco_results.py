"""
The COCO results file: image ids from a COCO JSON or from file names, the dataset's own category
ids, and the records pycocotools reads; inputs that cannot be matched are refused with the file.
"""

import json
import pytest
import torch

pytestmark = pytest.mark.detectron2
pytest.importorskip("detectron2", reason="detectron2 not installed")

from detectron2.structures import Boxes, Instances  # noqa: E402

from atss.inference.coco_results import (  # noqa: E402
    category_ids_from_coco,
    coco_records,
    image_ids_from_coco,
    image_ids_from_names,
)


@pytest.fixture
def coco_json(tmp_path):
    dataset = {
        "images": [
            {"id": 42, "file_name": "images/a.jpg", "width": 10, "height": 10},
            {"id": 7, "file_name": "images/b.jpg", "width": 10, "height": 10},
        ],
        "annotations": [],
        "categories": [{"id": 11, "name": "ellipse"}, {"id": 3, "name": "box"}],
    }
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(dataset))
    return str(path)


def test_image_ids_come_from_the_coco_json_by_file_name(coco_json):
    assert image_ids_from_coco(coco_json, ["x/a.jpg", "y/b.jpg"]) == {"x/a.jpg": 42, "y/b.jpg": 7}


def test_an_image_the_coco_json_does_not_list_is_refused_with_its_name(coco_json):
    with pytest.raises(ValueError, match="1 input image.*not in .*e.g. x/c.jpg"):
        image_ids_from_coco(coco_json, ["x/a.jpg", "x/c.jpg"])


def test_numbered_file_names_give_numeric_ids_as_coco_names_its_images():
    ids = image_ids_from_names(["d/000000000139.jpg", "d/000000000285.png"])
    assert ids == {"d/000000000139.jpg": 139, "d/000000000285.png": 285}


def test_other_file_names_give_their_stem_as_id():
    assert image_ids_from_names(["d/000001.png", "d/street.jpg"]) == {
        "d/000001.png": "000001",
        "d/street.jpg": "street",
    }


def test_two_files_with_one_id_are_refused():
    with pytest.raises(ValueError, match="a/x.jpg and b/x.png would both be image 'x'"):
        image_ids_from_names(["a/x.jpg", "b/x.png"])


def test_category_ids_follow_the_json_categories_by_increasing_id(coco_json):
    assert category_ids_from_coco(coco_json, ["box", "ellipse"]) == [3, 11]


def test_categories_that_are_not_the_models_classes_are_refused(coco_json):
    with pytest.raises(ValueError, match=r"\(box, ellipse\) are not the model's classes"):
        category_ids_from_coco(coco_json, ["ellipse", "box"])


def test_records_have_xywh_boxes_and_the_datasets_category_ids():
    instances = Instances((20, 30))
    instances.pred_boxes = Boxes(torch.tensor([[1.0, 2.0, 11.0, 7.0]]))
    instances.scores = torch.tensor([0.5])
    instances.pred_classes = torch.tensor([1])
    assert coco_records(instances, 139, [3, 11]) == [
        {"image_id": 139, "category_id": 11, "bbox": [1.0, 2.0, 10.0, 5.0], "score": 0.5}
    ]
