"""
The objects of a dataset as the model receives them: each image's boxes through a fixed version
of the config's resize, with detectron2's own mapping of annotations (crowd objects left out,
boxes clipped to the image, empty boxes dropped, as ``DatasetMapper`` does), from the sizes the
dataset records, without decoding the images.
"""

import numpy as np
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple
from PIL import Image
from tqdm import tqdm

import detectron2.data.transforms as T
from detectron2.data import detection_utils

__all__ = [
    "ObjectTable",
    "fixed_resize",
    "image_size",
    "resize_scales",
    "resize_transforms",
    "transformed_objects",
]


def fixed_resize(
    augmentations: Sequence[T.Augmentation],
    short_edge: Optional[int] = None,
    flip: bool = False,
) -> Tuple[List[T.Augmentation], List[str]]:
    """
    The resizes of ``augmentations`` made deterministic, for a measurement that does not depend
    on the draw: a ``ResizeShortestEdge`` of several sizes keeps its smallest (where objects are
    smallest), or ``short_edge``; ``Resize`` stays; a ``RandomFlip`` always flips with ``flip``
    (the mirrored images lie otherwise on the anchor grid) and is left out without; every other
    augmentation (crops, colour) is left out.

    Returns:
        the augmentations kept, and the names of those left out.
    """
    kept, left_out = [], []
    for aug in augmentations:
        if isinstance(aug, T.ResizeShortestEdge):
            edge = short_edge or min(aug.short_edge_length)
            kept.append(T.ResizeShortestEdge(edge, aug.max_size, interp=aug.interp))
        elif isinstance(aug, T.Resize):
            kept.append(aug)
        elif isinstance(aug, T.RandomFlip) and flip:
            kept.append(T.RandomFlip(1.0, horizontal=aug.horizontal, vertical=aug.vertical))
        else:
            left_out.append(type(aug).__name__)
    return kept, left_out


def resize_transforms(
    augmentations: Sequence[T.Augmentation], height: int, width: int
) -> Tuple[T.TransformList, Tuple[int, int]]:
    """
    The transforms that deterministic resizes (:func:`fixed_resize`) give an image of
    ``height`` x ``width``, and its size after them. Only the image's shape is read, so a
    zero-channel array stands in for its pixels.
    """
    transforms = []
    for aug in augmentations:
        transform = aug.get_transform(np.empty((height, width, 0), np.uint8))
        corner = transform.apply_box(np.array([[0.0, 0.0, width, height]]))[0]
        height, width = int(round(corner[3] - corner[1])), int(round(corner[2] - corner[0]))
        transforms.append(transform)
    return T.TransformList(transforms), (height, width)


def _box_only(annotation: dict) -> dict:
    """A copy without masks and keypoints, as ``DatasetMapper`` of a box detector reads it."""
    return {k: v for k, v in annotation.items() if k not in ("segmentation", "keypoints")}


def image_size(record: dict) -> Tuple[int, int]:
    """(height, width) of a dataset dict's image: recorded, or read from the file's header."""
    if "height" in record and "width" in record:
        return record["height"], record["width"]
    with Image.open(record["file_name"]) as image:
        width, height = image.size
    return height, width


def resize_scales(
    dataset_dicts: Iterable[dict], augmentations: Sequence[T.Augmentation]
) -> np.ndarray:
    """(N,) the factor by which deterministic resizes change the lengths of each image."""
    scales = []
    for record in dataset_dicts:
        height, width = image_size(record)
        _, (new_height, new_width) = resize_transforms(augmentations, height, width)
        scales.append(np.sqrt(new_height * new_width / (height * width)))
    return np.array(scales, dtype=np.float64)


@dataclass
class ObjectTable:
    """
    The N images and M objects of a dataset after a fixed resize: ``boxes`` in input pixels, in
    the order of the images and, within an image, of ``Instances.gt_boxes`` after detectron2's
    mapper.
    """

    file_names: List[str]  # (N,)
    image_sizes: np.ndarray  # (N, 2) (height, width) after the resize
    scales: np.ndarray  # (N,) the resize's factor on lengths
    num_annotated: np.ndarray  # (N,) objects an evaluation counts (not crowd), before the resize
    boxes: np.ndarray  # (M, 4) XYXY, input pixels
    classes: np.ndarray  # (M,) contiguous class ids
    image_of: np.ndarray  # (M,) index of the object's image
    num_dropped: int  # objects the resize left empty, which detectron2's mapper drops

    @property
    def num_images(self) -> int:
        return len(self.file_names)

    @property
    def objects_per_image(self) -> np.ndarray:
        """(N,) objects of each image after the mapper."""
        return np.bincount(self.image_of, minlength=self.num_images)

    def image_boxes(self, index: int) -> np.ndarray:
        """(G, 4) boxes of image ``index``."""
        return self.boxes[self.image_of == index]


def transformed_objects(
    dataset_dicts: Iterable[dict],
    augmentations: Sequence[T.Augmentation],
    progress: Optional[str] = None,
) -> ObjectTable:
    """
    Every object of ``dataset_dicts`` as ``DatasetMapper`` gives it to the model after the
    deterministic ``augmentations`` (:func:`fixed_resize`). ``progress``: the label of a progress
    bar, or None for none.
    """
    dataset_dicts = list(dataset_dicts)
    names, sizes, scales, annotated = [], [], [], []
    boxes, classes, image_of = [], [], []
    num_dropped = 0
    for index, record in enumerate(tqdm(dataset_dicts, desc=progress, disable=progress is None)):
        height, width = image_size(record)
        transforms, size = resize_transforms(augmentations, height, width)
        annotations = [a for a in record.get("annotations", []) if a.get("iscrowd", 0) == 0]
        instances = detection_utils.annotations_to_instances(
            [
                detection_utils.transform_instance_annotations(_box_only(a), transforms, size)
                for a in annotations
            ],
            size,
        )
        instances, kept = detection_utils.filter_empty_instances(instances, return_mask=True)
        num_dropped += int((~kept).sum())
        names.append(record["file_name"])
        sizes.append(size)
        scales.append(np.sqrt(size[0] * size[1] / (height * width)))
        annotated.append(len(annotations))
        boxes.append(instances.gt_boxes.tensor.numpy())
        classes.append(instances.gt_classes.numpy())
        image_of.append(np.full(len(instances), index))
    return ObjectTable(
        file_names=names,
        image_sizes=np.array(sizes, dtype=np.int64).reshape(-1, 2),
        scales=np.array(scales, dtype=np.float64),
        num_annotated=np.array(annotated, dtype=np.int64),
        boxes=np.concatenate(boxes).astype(np.float32) if boxes else np.zeros((0, 4), np.float32),
        classes=np.concatenate(classes).astype(np.int64) if classes else np.zeros(0, np.int64),
        image_of=np.concatenate(image_of).astype(np.int64) if image_of else np.zeros(0, np.int64),
        num_dropped=num_dropped,
    )
