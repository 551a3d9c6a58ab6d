"""
The user's own data by path (atss.data.user_datasets, atss.data.voc): a COCO JSON file or a
folder of Pascal-VOC XML files, checked before anything is built, every problem named.
"""

import json
import shutil
from pathlib import Path
import pytest

pytestmark = pytest.mark.detectron2
pytest.importorskip("detectron2", reason="detectron2 not installed")

from detectron2.data import DatasetCatalog, MetadataCatalog

from atss.data.user_datasets import annotation_format, register_user_dataset
from atss.data.voc import load_voc_folder
from custom_data import CATEGORIES, EMPTY_IMAGE, voc_xml, write_custom_data

NAME = "test_user_dataset"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_custom_data(tmp_path_factory.mktemp("custom"))


@pytest.fixture
def copy(data, tmp_path):
    """A writable copy of one of the datasets: ``copy("voc_train")``."""

    def make(key: str) -> Path:
        source = data[key]
        if source.is_dir():
            return Path(shutil.copytree(source, tmp_path / key))
        target = Path(shutil.copytree(source.parent, tmp_path / key))
        return target / source.name

    return make


def edit_json(path: Path, edit) -> Path:
    dataset = json.loads(path.read_text())
    edit(dataset)
    path.write_text(json.dumps(dataset))
    return path


def test_format_is_chosen_by_what_the_path_points_to(data):
    assert annotation_format(str(data["coco_train"])) == "coco"
    assert annotation_format(str(data["voc_train"])) == "voc"


def test_coco_json_classes_follow_category_ids_that_are_not_1_to_k(data):
    classes = register_user_dataset(NAME, str(data["coco_train"]))
    assert classes == [c["name"] for c in CATEGORIES]
    assert MetadataCatalog.get(NAME).thing_dataset_id_to_contiguous_id == {3: 0, 7: 1, 11: 2}


def test_coco_json_images_default_to_the_folder_of_the_file(data):
    register_user_dataset(NAME, str(data["coco_train"]))
    files = [d["file_name"] for d in DatasetCatalog.get(NAME)]
    assert all(f.startswith(str(data["coco_train"].parent)) for f in files)


def test_images_without_objects_are_kept_as_negatives(data):
    for key in ("coco_train", "voc_train"):
        register_user_dataset(NAME, str(data[key]))
        empty = [d for d in DatasetCatalog.get(NAME) if d["file_name"].endswith(EMPTY_IMAGE)]
        assert len(empty) == 1 and empty[0]["annotations"] == []


def test_voc_classes_are_the_names_in_the_files_sorted(data):
    assert register_user_dataset(NAME, str(data["voc_train"])) == sorted(
        c["name"] for c in CATEGORIES
    )


def test_voc_boxes_move_from_one_based_indices_to_detectron2_frame(tmp_path):
    (tmp_path / "a.xml").write_text(voc_xml("a.png", (50, 40), [("cat", (1, 2, 11, 22), False)]))
    dicts, classes = load_voc_folder(str(tmp_path))
    assert classes == ["cat"]
    assert dicts[0]["annotations"][0]["bbox"] == [0.0, 1.0, 11.0, 22.0]
    assert (dicts[0]["width"], dicts[0]["height"]) == (50, 40)


def test_voc_difficult_objects_are_ignored_as_crowd_in_training_and_evaluation(data):
    register_user_dataset(NAME, str(data["voc_train"]))
    flags = [a["iscrowd"] for d in DatasetCatalog.get(NAME) for a in d["annotations"]]
    assert flags.count(1) == 1 and flags.count(0) > 0


def test_a_test_set_takes_the_training_classes(data):
    train = register_user_dataset(NAME, str(data["coco_train"]))
    test = register_user_dataset(NAME + "_test", str(data["voc_test"]), train_classes=train)
    assert test == train


def test_a_test_class_outside_the_training_classes_is_named(copy):
    folder = copy("voc_test")
    xml = next(folder.glob("*.xml"))
    xml.write_text(voc_xml("000001.png", (64, 64), [("giraffe", (2, 2, 30, 30), False)]))
    with pytest.raises(ValueError, match=r"giraffe.*not among the training classes"):
        register_user_dataset(NAME, str(folder), train_classes=["box", "ellipse"])


def test_a_coco_test_set_with_other_categories_is_refused(copy, data):
    path = edit_json(copy("coco_test"), lambda d: d["categories"][0].update(name="zebra"))
    with pytest.raises(ValueError, match=r"\['zebra'\] are not among the training classes"):
        register_user_dataset(NAME, str(path), train_classes=[c["name"] for c in CATEGORIES])


@pytest.mark.parametrize("key", ["coco_train", "voc_train"])
def test_a_missing_path_is_named(data, key):
    missing = str(data[key]) + ".missing"
    with pytest.raises(ValueError, match=f"{missing}.*do not exist"):
        register_user_dataset(NAME, missing)


def test_a_missing_image_root_is_named(data):
    with pytest.raises(ValueError, match=r"Image folder /nowhere .*does not exist"):
        register_user_dataset(NAME, str(data["coco_train"]), images="/nowhere")


def test_an_image_missing_from_the_image_root_is_named(copy):
    folder = copy("voc_train")
    next(folder.glob("*.png")).unlink()
    with pytest.raises(ValueError, match=r"image .*\.png does not exist"):
        register_user_dataset(NAME, str(folder))


def test_an_empty_training_set_is_refused(copy, tmp_path):
    path = edit_json(copy("coco_train"), lambda d: d.update(annotations=[]))
    with pytest.raises(ValueError, match="hold no object"):
        register_user_dataset(NAME, str(path))
    (tmp_path / "empty_voc").mkdir()
    with pytest.raises(ValueError, match="holds no .xml file"):
        register_user_dataset(NAME, str(tmp_path / "empty_voc"))


def test_an_xml_without_size_is_named(copy):
    folder = copy("voc_train")
    xml = sorted(folder.glob("*.xml"))[1]
    xml.write_text(xml.read_text().replace("<size>", "<nosize>").replace("</size>", "</nosize>"))
    with pytest.raises(ValueError, match=f"{xml.name} has no <size>"):
        register_user_dataset(NAME, str(folder))


def test_a_box_outside_its_image_is_named_in_both_formats(copy):
    folder = copy("voc_train")
    xml = sorted(folder.glob("*.xml"))[1]
    xml.write_text(voc_xml("000002.png", (64, 64), [("box", (70, 70, 90, 90), False)]))
    with pytest.raises(ValueError, match=f"{xml.name}: object 0 .*outside its image"):
        register_user_dataset(NAME, str(folder))

    path = edit_json(
        copy("coco_train"), lambda d: d["annotations"][0].update(bbox=[500, 500, 10, 10])
    )
    with pytest.raises(ValueError, match="outside its image"):
        register_user_dataset(NAME, str(path))


def test_drop_invalid_annotations_drops_bad_voc_boxes_instead(copy):
    folder = copy("voc_train")
    xml = sorted(folder.glob("*.xml"))[1]
    xml.write_text(voc_xml("000002.png", (64, 64), [("box", (70, 70, 90, 90), False)]))
    register_user_dataset(NAME, str(folder), drop_invalid=True)
    dropped = [d for d in DatasetCatalog.get(NAME) if d["file_name"].endswith("000002.png")]
    assert dropped[0]["annotations"] == []


def test_the_same_image_listed_twice_is_refused_in_both_formats(copy):
    folder = copy("voc_train")
    first, second = sorted(folder.glob("*.xml"))[:2]
    second.write_text(first.read_text())
    with pytest.raises(ValueError, match="names too: each image must be listed once"):
        register_user_dataset(NAME, str(folder))

    def repeat(dataset):
        dataset["images"].append(dict(dataset["images"][0], id=999))

    path = edit_json(copy("coco_train"), repeat)
    with pytest.raises(ValueError, match="lists the same image twice"):
        register_user_dataset(NAME, str(path))
