"""
tools/browse_dataset.py checks a dataset against a config before training: its no-positive counts
are the assignment's own, it flags an object no anchor can train, it refuses bad input with
train_net.py's one-line errors, and it runs end to end on data given by path or by name.
"""

import importlib.util
import json
import numpy as np
from pathlib import Path
import pytest

pytestmark = pytest.mark.detectron2
pytest.importorskip("detectron2", reason="detectron2 not installed")
pytest.importorskip("matplotlib", reason="the [notebooks] extra is not installed")

import cv2  # noqa: E402
import torch  # noqa: E402

from detectron2.data import DatasetCatalog, DatasetMapper  # noqa: E402

from atss.assignment import atss_assign  # noqa: E402
from atss.browse import (  # noqa: E402
    fixed_resize,
    load_inputs,
    measure_assignment,
    transformed_objects,
)
from atss.config import configure_user_datasets  # noqa: E402
from atss.config import ConfigError, load_config  # noqa: E402
from atss.data.user_datasets import register_user_dataset  # noqa: E402
from custom_data import write_coco_split  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SHAPES = str(ROOT / "configs/Shapes/atss_R_18_FPN_shapes.py")
CUSTOM = str(ROOT / "configs/Custom/atss_R_18_FPN_cpu.py")
# The quick start's levels (strides 4, 8, 16) put anchor centres at every even x but the multiples
# of 16: a 3 x 36 px box (1:12) around x = 48 holds none.
UNASSIGNABLE = [46.6, 40.0, 3.0, 36.0]  # COCO XYWH


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location(
        "browse_dataset", ROOT / "tools/browse_dataset.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def coco(tmp_path_factory) -> Path:
    return write_coco_split(tmp_path_factory.mktemp("browse"), "train", 6, seed=0)


def test_no_positive_counts_equal_a_direct_count_from_the_assignment():
    inputs = load_inputs(SHAPES, dataset="shapes_train")
    dicts = inputs.dataset_dicts[:40]
    model = inputs.model.eval()
    augmentations, _ = fixed_resize(inputs.train_augmentations)
    table = transformed_objects(dicts, augmentations)
    measured = measure_assignment(model, table).num_positives

    # The model's own path: the training mapper's instances, the padded input through the
    # backbone, the anchors of its features, and atss.assignment on them.
    mapper = DatasetMapper(is_train=True, augmentations=augmentations, image_format="BGR")
    params = model.assignment
    direct = []
    with torch.no_grad():
        for record in dicts:
            inputs_ = mapper(record)
            boxes = inputs_["instances"].gt_boxes.tensor
            if len(boxes) == 0:
                continue
            images = model.preprocess_image([inputs_])
            features = model.backbone(images.tensor)
            anchors = model.anchor_generator([features[f] for f in model.head_in_features])
            assigned = atss_assign(
                [a.tensor for a in anchors],
                boxes,
                topk=params.topk * model.anchor_generator.num_cell_anchors[0],
                center_margin=params.center_margin,
            )
            direct.append(torch.bincount(assigned[assigned >= 0], minlength=len(boxes)))
    direct = torch.cat(direct).numpy()
    assert (direct == 0).sum() > 0
    assert (measured == 0).sum() == (direct == 0).sum()
    np.testing.assert_array_equal(measured, direct)


def test_an_object_thinner_than_the_finest_stride_is_flagged(tool, tmp_path):
    image = tmp_path / "thin.png"
    cv2.imwrite(str(image), np.full((128, 128, 3), 90, np.uint8))
    dataset = {
        "images": [{"id": 1, "file_name": "thin.png", "width": 128, "height": 128}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": UNASSIGNABLE, "area": 108,
             "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [70, 70, 30, 30], "area": 900,
             "iscrowd": 0},
        ],
        "categories": [{"id": 1, "name": "scratch"}],
    }
    (tmp_path / "thin.json").write_text(json.dumps(dataset))
    register_user_dataset("browse_thin", str(tmp_path / "thin.json"))
    try:
        report = tool.main(
            ["--config-file", SHAPES, "--output", str(tmp_path / "out"), "--dataset",
             "browse_thin", "--num-images", "1"]
        )
    finally:
        DatasetCatalog.remove("browse_thin")
    assignment = report["assignment"]
    assert assignment["all"]["without_positives"] == 1
    assert assignment["all"]["reasons"]["no candidate centre inside"] == 1
    assert assignment["worst_images"][0]["file_name"].endswith("thin.png")
    assert (tmp_path / "out/worst/1_thin_object0_candidates.png").is_file()


def training_error(config: str, overrides) -> str:
    """The one line train_net.py stops with, from the functions it calls first."""
    with pytest.raises(ConfigError) as e:
        configure_user_datasets(load_config(config, overrides), evaluate=False)
    return f"browse_dataset.py: error: {e.value}"


def refused(tool, tmp_path, args) -> str:
    with pytest.raises(SystemExit) as e:
        tool.main(["--output", str(tmp_path / "out"), *args])
    assert not (tmp_path / "out").exists()
    return str(e.value)


def test_a_missing_annotation_file_gets_the_training_error(tool, tmp_path):
    overrides = [f"dataset.train.annotations={tmp_path / 'missing.json'}"]
    message = refused(tool, tmp_path, ["--config-file", CUSTOM, *overrides])
    assert message == training_error(CUSTOM, overrides)
    assert "missing.json do not exist" in message


def test_a_bad_box_gets_the_training_error(tool, tmp_path, coco):
    dataset = json.loads(coco.read_text())
    dataset["annotations"][0]["bbox"] = [10, 10, -4, 5]
    bad = coco.parent / "bad.json"
    bad.write_text(json.dumps(dataset))
    overrides = [f"dataset.train.annotations={bad}"]
    message = refused(tool, tmp_path, ["--config-file", CUSTOM, *overrides])
    assert message == training_error(CUSTOM, overrides)
    assert "non-positive width or height" in message


def test_an_unknown_key_gets_the_training_error(tool, tmp_path):
    message = refused(tool, tmp_path, ["--config-file", SHAPES, "model.assignment.topkk=15"])
    assert message == training_error(SHAPES, ["model.assignment.topkk=15"])
    assert "Did you mean model.assignment.topk" in message


def test_without_a_config_it_asks_for_one(tool, tmp_path):
    assert "No config given: pass --config-file" in refused(tool, tmp_path, [])


def test_a_custom_config_without_its_data_asks_for_it(tool, tmp_path):
    message = refused(tool, tmp_path, ["--config-file", CUSTOM])
    assert "give dataset.train.annotations=PATH" in message


def test_data_given_by_path_writes_the_report_figures_and_drawn_images(tool, tmp_path, coco):
    out = tmp_path / "out"
    report = tool.main(
        ["--config-file", CUSTOM, "--output", str(out), "--num-images", "2", "--worst", "1",
         "--augment", f"dataset.train.annotations={coco}"]
    )
    assert json.loads((out / "report.json").read_text()) == report
    assert report["datasets"] == ["custom_train"]
    dataset = json.loads(coco.read_text())
    annotated = {a["image_id"] for a in dataset["annotations"]}
    stats = report["statistics"]
    assert stats["images"] == len(dataset["images"])
    assert stats["images_without_objects"] == len(dataset["images"]) - len(annotated)
    assert stats["objects"] == len(dataset["annotations"])
    assert sum(c["objects"] for c in stats["per_class"].values()) == stats["objects"]
    assert set(report["anchors"]) == {"p3", "p4", "p5", "p6", "p7"}
    assert report["left_out"] == ["RandomFlip"]
    figures = ["class_counts", "boxes_per_image", "box_sizes", "without_positives_by_size",
               "without_positives_by_class"]
    for name in figures:
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(list((out / "images").glob("*.png"))) == 2


def test_a_config_override_changes_the_assignment(tool, tmp_path):
    args = ["--dataset", "shapes_val", "--num-images", "0", "--worst", "0"]
    base = tool.main(["--config-file", SHAPES, "--output", str(tmp_path / "a"), *args])
    wider = tool.main(
        ["--config-file", SHAPES, "--output", str(tmp_path / "b"), *args, "model.assignment.topk=3"]
    )
    assert base["overrides"] == [] and wider["overrides"] == ["model.assignment.topk=3"]
    assert (
        base["assignment"]["all"]["without_positives"]
        != wider["assignment"]["all"]["without_positives"]
    )


def test_images_with_more_objects_than_the_model_keeps_are_warned_about(tool, tmp_path):
    args = ["--dataset", "shapes_val", "--num-images", "0", "--worst", "0"]
    report = tool.main(
        ["--config-file", SHAPES, "--output", str(tmp_path), *args,
         "model.inference.max_detections_per_image=3"]
    )
    messages = [w["message"] for w in report["warnings"]]
    assert any("more objects than the model (detections per image) keeps, 3" in m for m in messages)


def test_flip_measures_the_images_as_the_training_flip_mirrors_them():
    inputs = load_inputs(SHAPES, dataset="shapes_val")
    dicts = inputs.dataset_dicts[:5]
    plain, left_out = fixed_resize(inputs.train_augmentations)
    mirrored, _ = fixed_resize(inputs.train_augmentations, flip=True)
    assert left_out == ["RandomFlip"]
    a, b = transformed_objects(dicts, plain), transformed_objects(dicts, mirrored)
    width = a.image_sizes[a.image_of, 1].astype(np.float32)
    np.testing.assert_allclose(b.boxes[:, 0], width - a.boxes[:, 2], atol=1e-4)
    np.testing.assert_allclose(b.boxes[:, 1:4:2], a.boxes[:, 1:4:2])
