"""
The user's own data, given by path: a COCO JSON file or a folder of Pascal-VOC XML files
(:mod:`atss.data.voc`), chosen by what the path points to. Both are registered with detectron2's
catalogs under a fixed name, checked as :mod:`atss.data.coco_json` checks COCO files, and
evaluated with COCOEvaluator (per-class AP included).

``train_net.py`` registers them from the config's data keys before anything is built
(``atss.engine.data_setup.configure_user_datasets``).
"""

import copy
import os
from typing import List, Optional, Sequence

from detectron2.data import DatasetCatalog, MetadataCatalog

from .coco_json import check_image_files, drop_invalid_annotations, load_coco_instances
from .voc import load_voc_folder, read_voc_classes

__all__ = [
    "USER_TEST",
    "USER_TRAIN",
    "annotation_format",
    "register_user_dataset",
]

# The names the Custom configs read (configs/common/data/custom.py).
USER_TRAIN = "custom_train"
USER_TEST = "custom_test"


def annotation_format(annotations: str) -> str:
    """``"coco"`` for a JSON file, ``"voc"`` for a folder; ValueError for anything else."""
    if os.path.isdir(annotations):
        return "voc"
    if os.path.isfile(annotations):
        if annotations.lower().endswith(".json"):
            return "coco"
        raise ValueError(
            f"Annotations {annotations} are neither a COCO JSON file (.json) nor a folder of "
            "Pascal-VOC XML files."
        )
    raise ValueError(f"Annotations {annotations} do not exist (a COCO .json file or a VOC folder).")


def _check_test_classes(
    json_file: str, classes: List[str], train_classes: Optional[Sequence[str]]
) -> None:
    """A COCO test set must declare the training set's classes, in the same id order."""
    if train_classes is None or classes == list(train_classes):
        return
    unknown = [c for c in classes if c not in train_classes]
    problem = (
        f"its classes {unknown} are not among the training classes"
        if unknown
        else f"its categories {classes} differ from the training set's"
    )
    raise ValueError(
        f"Test annotations {json_file}: {problem} {list(train_classes)}. The test set must "
        "declare the training set's categories, with the same ids."
    )


def register_user_dataset(
    name: str,
    annotations: str,
    images: str = "",
    train_classes: Optional[Sequence[str]] = None,
    drop_invalid: bool = False,
) -> List[str]:
    """
    Register ``annotations`` (a COCO JSON file or a VOC folder) under ``name``, load it once to
    check it (annotations, boxes and that every image exists), and return its class names. The
    dataset's dicts are kept: getting it from ``DatasetCatalog`` later gives a copy of them.

    Args:
        images: the folder of the images; by default the folder of the annotations (a JSON
            file's folder, or the VOC folder itself).
        train_classes: for a test set, the training set's classes: a test class outside them
            is an error.
        drop_invalid: drop objects with unusable boxes (see ``drop_invalid_annotations``)
            instead of raising.

    A training set (``train_classes`` None) with no object at all is an error, and so is the
    same image listed twice. Re-registering a name replaces the earlier dataset.
    """
    kind = annotation_format(annotations)
    if not images:
        images = annotations if kind == "voc" else os.path.dirname(os.path.abspath(annotations))
    if not os.path.isdir(images):
        raise ValueError(f"Image folder {images} of {annotations} does not exist.")
    for catalog in (DatasetCatalog, MetadataCatalog):
        if name in catalog.list():
            catalog.remove(name)
    drop_invalid_annotations([name], drop_invalid)
    if kind == "coco":
        DatasetCatalog.register(name, lambda: load_coco_instances(annotations, images, name))
        MetadataCatalog.get(name).set(json_file=os.fspath(annotations))
    else:
        classes = (
            list(train_classes) if train_classes is not None else read_voc_classes(annotations)
        )

        def load():
            dicts, _ = load_voc_folder(annotations, images, classes, drop_invalid=drop_invalid)
            check_image_files(dicts, name)
            return dicts

        DatasetCatalog.register(name, load)
        # COCOEvaluator converts the dicts to COCO's format in its output folder (no json_file).
        MetadataCatalog.get(name).set(thing_classes=classes)
    MetadataCatalog.get(name).set(
        image_root=os.fspath(images), evaluator_type="coco", annotations=os.fspath(annotations)
    )
    # Loading runs every check once; detectron2's COCO loader sets the classes, by category id.
    dicts = DatasetCatalog.get(name)
    classes = list(MetadataCatalog.get(name).thing_classes)
    # The loaders and evaluators that get the dataset later take copies of these dicts: the
    # annotations are parsed once.
    DatasetCatalog.remove(name)
    DatasetCatalog.register(name, lambda: copy.deepcopy(dicts))
    if kind == "coco":
        _check_test_classes(annotations, classes, train_classes)
    if train_classes is None and not any(d["annotations"] for d in dicts):
        raise ValueError(
            f"Training annotations {annotations} hold no object in their {len(dicts)} images: "
            "there is nothing to learn."
        )
    return classes
