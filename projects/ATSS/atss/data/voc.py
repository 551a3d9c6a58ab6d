"""
A folder of Pascal-VOC XML files, as labelImg and CVAT export them, read in memory as a detectron2
dataset. Each ``*.xml`` names its image (``<filename>``, beside the XML unless an image folder is
given), its size (``<size>``) and its objects (``<object>``: ``<name>``, ``<bndbox>``,
``<difficult>``). Class names are whatever the files use.

Boxes follow detectron2's ``pascal_voc.py``: VOC's 1-based pixel indices become absolute
XYXY_ABS coordinates by subtracting one from ``xmin`` and ``ymin``. ``difficult`` objects are
ignored in training and in evaluation, as the VOC protocol does, by marking them ``iscrowd``:
detectron2's mapper drops crowd objects from the training targets, and COCO evaluation neither
rewards nor penalises detections of them.
"""

import logging
import os
import xml.etree.ElementTree as ET
from collections import Counter
from typing import Dict, List, Optional, Sequence, Tuple

from detectron2.structures import BoxMode

from .coco_json import box_problem

__all__ = ["load_voc_folder", "read_voc_classes", "voc_xml_files"]

logger = logging.getLogger(__name__)


def voc_xml_files(folder: str) -> List[str]:
    """The ``*.xml`` files of ``folder``, sorted; ValueError when it does not exist or has none."""
    if not os.path.isdir(folder):
        raise ValueError(f"VOC annotation folder {folder} does not exist.")
    files = sorted(
        os.path.join(folder, f) for f in os.listdir(folder) if f.lower().endswith(".xml")
    )
    if not files:
        raise ValueError(f"VOC annotation folder {folder} holds no .xml file.")
    return files


def _parse(xml_file: str) -> ET.Element:
    try:
        return ET.parse(xml_file).getroot()
    except ET.ParseError as e:
        raise ValueError(f"VOC annotation {xml_file} is not valid XML: {e}") from None


def _text(node: ET.Element, path: str, xml_file: str) -> str:
    child = node.find(path)
    if child is None or child.text is None or not child.text.strip():
        raise ValueError(f"VOC annotation {xml_file} has no <{path}>.")
    return child.text.strip()


def _number(node: ET.Element, path: str, xml_file: str) -> float:
    text = _text(node, path, xml_file)
    try:
        return float(text)
    except ValueError:
        raise ValueError(
            f"VOC annotation {xml_file}: <{path}> is {text!r}, not a number."
        ) from None


def read_voc_classes(folder: str) -> List[str]:
    """The class names of the objects in a VOC folder, sorted."""
    names = set()
    for xml_file in voc_xml_files(folder):
        for obj in _parse(xml_file).findall("object"):
            names.add(_text(obj, "name", xml_file))
    return sorted(names)


def load_voc_folder(
    folder: str,
    image_root: Optional[str] = None,
    classes: Optional[Sequence[str]] = None,
    drop_invalid: bool = False,
) -> Tuple[List[Dict], List[str]]:
    """
    Read every ``*.xml`` of ``folder``.

    Args:
        folder: the folder of VOC XML files.
        image_root: the folder of the images; by default ``folder``.
        classes: the class names, in the order of the model's outputs (a test set takes the
            training set's); by default the names the files use, sorted.
        drop_invalid: drop objects with unusable boxes with one warning line, instead of raising.

    Returns:
        detectron2 dataset dicts (one per image, images without objects included), and the class
        names.

    Raises ValueError naming the file for: a missing or empty folder, invalid XML, a missing
    ``<filename>`` or ``<size>``, a class not in ``classes``, a box that is not four finite
    numbers of positive size overlapping its image (unless ``drop_invalid``), or two files that
    name the same image.
    """
    image_root = folder if image_root is None else image_root
    xml_files = voc_xml_files(folder)
    classes = list(read_voc_classes(folder) if classes is None else classes)
    class_ids = {name: i for i, name in enumerate(classes)}
    dicts, dropped, owners = [], Counter(), {}
    for image_id, xml_file in enumerate(xml_files):
        root = _parse(xml_file)
        file_name = os.path.join(image_root, _text(root, "filename", xml_file))
        if file_name in owners:
            raise ValueError(
                f"VOC annotation {xml_file} names image {file_name}, which {owners[file_name]} "
                "names too: each image must be listed once."
            )
        owners[file_name] = xml_file
        if root.find("size") is None:
            raise ValueError(f"VOC annotation {xml_file} has no <size> (the image's width/height).")
        width = _number(root, "size/width", xml_file)
        height = _number(root, "size/height", xml_file)
        annotations = []
        for index, obj in enumerate(root.findall("object")):
            name = _text(obj, "name", xml_file)
            if name not in class_ids:
                raise ValueError(
                    f"VOC annotation {xml_file}: object {index} is of class {name!r}, which is not "
                    f"among the training classes {classes}."
                )
            x0, y0, x1, y1 = (
                _number(obj, f"bndbox/{k}", xml_file) for k in ("xmin", "ymin", "xmax", "ymax")
            )
            # detectron2's pascal_voc.py: 1-based pixel indices to a 0-based frame.
            box = [x0 - 1.0, y0 - 1.0, x1, y1]
            problem = box_problem([box[0], box[1], box[2] - box[0], box[3] - box[1]], width, height)
            if problem is not None:
                if not drop_invalid:
                    raise ValueError(
                        f"VOC annotation {xml_file}: object {index} ({name!r}): {problem} "
                        f"(xmin, ymin, xmax, ymax = {x0:g}, {y0:g}, {x1:g}, {y1:g}; image "
                        f"{width:g}x{height:g}). Fix the file, or drop such boxes with "
                        "train.drop_invalid_annotations=True (YAML: "
                        "DATASETS.DROP_INVALID_ANNOTATIONS True)."
                    )
                dropped[problem] += 1
                continue
            difficult = obj.find("difficult")
            annotations.append(
                {
                    "bbox": box,
                    "bbox_mode": BoxMode.XYXY_ABS,
                    "category_id": class_ids[name],
                    "iscrowd": int(
                        difficult is not None and (difficult.text or "0").strip() == "1"
                    ),
                }
            )
        dicts.append(
            {
                "file_name": file_name,
                "image_id": image_id,
                "height": int(height),
                "width": int(width),
                "annotations": annotations,
            }
        )
    if dropped:
        logger.warning(
            f"Dropping {sum(dropped.values())} objects of {folder} with unusable boxes, from "
            "training and evaluation: " + "; ".join(f"{n} {p}" for p, n in sorted(dropped.items()))
        )
    return dicts, classes
