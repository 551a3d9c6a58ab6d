"""
Multi-scale and flip test-time augmentation of ATSS, merged by the official soft box voting
(the paper's 50.7 AP test-dev setting; official ``atss_core/engine/bbox_aug_vote.py``) or by
class-wise NMS (official ``bbox_aug.py``). Shaped like detectron2's ``GeneralizedRCNNWithTTA``
and ``DatasetMapperTTA``, with a longer-side cap and a valid object size range per scale.
"""
import copy
import numpy as np
import sys
from contextlib import contextmanager, nullcontext
from typing import Dict, List, Optional, Sequence, Tuple
import torch
from fvcore.transforms import NoOpTransform
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from detectron2.config import configurable
from detectron2.data.detection_utils import read_image
from detectron2.data.transforms import (
    RandomFlip,
    ResizeShortestEdge,
    ResizeTransform,
    apply_augmentations,
)
from detectron2.layers import batched_nms
from detectron2.structures import Boxes, Instances

from ..box_voting import MERGE_METHODS, box_voting

__all__ = ["ATSSDatasetMapperTTA", "ATSSWithTTA", "MERGE_METHODS"]


class ATSSDatasetMapperTTA:
    """
    Makes the augmented versions of one test image: each scale (shorter side ``min_sizes[i]``,
    longer side at most ``max_sizes[i]``) and, with ``flip``, its horizontal flip, in that order.
    Each returned dict has the image, the "transforms" from the dataset's image to it and the
    "size_range" of sqrt(box area), in that image's pixels, of the detections the scale may keep.
    """

    @configurable
    def __init__(
        self,
        min_sizes: Sequence[int],
        max_sizes: Sequence[int],
        flip: bool,
        size_ranges: Optional[Sequence[Tuple[float, float]]] = None,
    ):
        """
        Args:
            min_sizes: shorter side of each scale; 0 keeps the image as it is (detectron2's
                ``ResizeShortestEdge``).
            max_sizes: longest longer side of each scale (official: 1333 below 800, else 3000).
            flip: also run each scale flipped horizontally.
            size_ranges: per scale, the open interval (lo, hi) of sqrt(area) of the detections it
                keeps, measured in its resized image (official ``SCALE_RANGES``); None: keep all.
        """
        if len(min_sizes) == 0:
            raise ValueError("min_sizes (TEST.AUG.MIN_SIZES, test.aug.min_sizes) is empty")
        if len(max_sizes) != len(min_sizes):
            raise ValueError(
                f"max_sizes (TEST.AUG.MAX_SIZES, test.aug.max_sizes) has {len(max_sizes)} "
                f"entries, min_sizes {len(min_sizes)}: one longer-side cap per scale"
            )
        if size_ranges is not None:
            if len(size_ranges) != len(min_sizes):
                raise ValueError(
                    f"size_ranges (TEST.AUG.SIZE_RANGES, test.aug.size_ranges) has "
                    f"{len(size_ranges)} entries, min_sizes {len(min_sizes)}: one per scale"
                )
            for lo, hi in size_ranges:
                if not 0 <= lo < hi:
                    raise ValueError(f"size range ({lo}, {hi}) must satisfy 0 <= lo < hi")
        self.min_sizes = [int(s) for s in min_sizes]
        self.max_sizes = [int(s) for s in max_sizes]
        self.flip = bool(flip)
        self.size_ranges = (
            [(float(lo), float(hi)) for lo, hi in size_ranges]
            if size_ranges is not None
            else [(0.0, float("inf"))] * len(min_sizes)
        )

    @classmethod
    def from_config(cls, cfg):
        aug = cfg.TEST.AUG
        return {
            "min_sizes": aug.MIN_SIZES,
            # Empty: detectron2's single TEST.AUG.MAX_SIZE for every scale.
            "max_sizes": aug.MAX_SIZES or [aug.MAX_SIZE] * len(aug.MIN_SIZES),
            "flip": aug.FLIP,
            "size_ranges": aug.SIZE_RANGES or None,
        }

    def __call__(self, dataset_dict: Dict) -> List[Dict]:
        """
        Args:
            dataset_dict: a model input: "image" (C, H, W) and the "height" and "width" of the
                dataset's image, which "image" may be a resized copy of.

        Returns:
            ``len(min_sizes) * (2 if flip else 1)`` copies of the dict, with "image",
            "transforms" and "size_range" replaced.
        """
        numpy_image = dataset_dict["image"].permute(1, 2, 0).numpy()
        shape = numpy_image.shape[:2]
        orig_shape = (dataset_dict["height"], dataset_dict["width"])
        if shape != orig_shape:
            pre_tfm = ResizeTransform(orig_shape[0], orig_shape[1], shape[0], shape[1])
        else:
            pre_tfm = NoOpTransform()

        ret = []
        for min_size, max_size, size_range in zip(
            self.min_sizes, self.max_sizes, self.size_ranges
        ):
            resize = ResizeShortestEdge(min_size, max_size)
            augs = [[resize], [resize, RandomFlip(prob=1.0)]] if self.flip else [[resize]]
            for aug in augs:
                new_image, tfms = apply_augmentations(aug, np.copy(numpy_image))
                dic = copy.copy(dataset_dict)
                dic["image"] = torch.from_numpy(np.ascontiguousarray(new_image.transpose(2, 0, 1)))
                dic["transforms"] = pre_tfm + tfms
                dic["size_range"] = size_range
                ret.append(dic)
        return ret


class ATSSWithTTA(nn.Module):
    """
    An ATSS model with test-time augmentation: the same input and output format as
    :class:`atss.ATSS` in inference, detections in the original image's frame.

    Every augmented image goes through the model's own inference. With ``merge="soft_vote"``
    (official ``bbox_aug_vote.py``) each keeps its final detections (class-wise NMS, 100 an
    image) whose sqrt(area) lies strictly inside its scale's size range, and all of them are
    merged by :func:`atss.box_voting` (the soft copies scored from the model's score threshold,
    at most ``model.inference.topk_candidates`` detections, the official ``INFERENCE_TH`` and
    ``PRE_NMS_TOP_N``). With ``merge="nms"`` (official ``bbox_aug.py``) each keeps its
    candidates before NMS, and the union goes through the model's class-wise NMS and
    detections-per-image cap.
    """

    @configurable
    def __init__(
        self,
        model: nn.Module,
        tta_mapper: ATSSDatasetMapperTTA,
        *,
        merge: str = "soft_vote",
        vote_iou: float = 0.66,
        batch_size: int = 2,
    ):
        """
        Args:
            model: a trained :class:`atss.ATSS` (or one wrapped in DistributedDataParallel).
            tta_mapper: makes the augmented inputs of an image, as :class:`ATSSDatasetMapperTTA`.
            merge: "soft_vote" or "nms".
            vote_iou: IoU at which boxes vote together (official ``VOTE_TH``).
            batch_size: augmented images per forward; 2 runs a scale with its flip, which have
                the same size (no padding).
        """
        super().__init__()
        if isinstance(model, DistributedDataParallel):
            model = model.module
        if merge not in MERGE_METHODS:
            raise ValueError(f"merge must be one of {MERGE_METHODS}, got {merge!r}")
        self.model = model
        self.tta_mapper = tta_mapper
        self.merge = merge
        self.vote_iou = vote_iou
        self.batch_size = batch_size

    @classmethod
    def from_config(cls, cfg, model, tta_mapper=None, batch_size=2):
        return {
            "model": model,
            "tta_mapper": tta_mapper or ATSSDatasetMapperTTA(cfg),
            "merge": cfg.TEST.AUG.MERGE,
            "vote_iou": cfg.TEST.AUG.VOTE_IOU,
            "batch_size": batch_size,
        }

    @contextmanager
    def _turn_off_nms(self):
        """The model returns every candidate (score threshold, top k per level), unsuppressed."""
        old = self.model.inference
        # No IoU exceeds 1, so NMS at 1.0 keeps every box.
        self.model.inference = old._replace(nms_thresh=1.0, max_detections_per_image=sys.maxsize)
        try:
            yield
        finally:
            self.model.inference = old

    def _batch_inference(self, augmented_inputs: List[Dict]) -> List[Instances]:
        """Detections of each augmented image in its own frame (no "height"/"width" given)."""
        outputs = []
        for start in range(0, len(augmented_inputs), self.batch_size):
            batch = augmented_inputs[start : start + self.batch_size]
            outputs.extend(
                o["instances"] for o in self.model([{"image": x["image"]} for x in batch])
            )
        return outputs

    def forward(self, batched_inputs: List[Dict]) -> List[Dict[str, Instances]]:
        return [self._inference_one_image(self._maybe_read_image(x)) for x in batched_inputs]

    def _maybe_read_image(self, dataset_dict: Dict) -> Dict:
        ret = copy.copy(dataset_dict)
        if "image" not in ret:
            image = read_image(ret.pop("file_name"), self.model.input_format)
            ret["image"] = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
        ret.setdefault("height", ret["image"].shape[1])
        ret.setdefault("width", ret["image"].shape[2])
        return ret

    def _inference_one_image(self, inputs: Dict) -> Dict[str, Instances]:
        orig_shape = (inputs["height"], inputs["width"])
        augmented_inputs = self.tta_mapper(inputs)
        with self._turn_off_nms() if self.merge == "nms" else nullcontext():
            outputs = self._batch_inference(augmented_inputs)
        boxes, scores, classes = self._get_augmented_boxes(augmented_inputs, outputs)
        if self.merge == "soft_vote":
            boxes, scores, classes = box_voting(
                boxes,
                scores,
                classes,
                iou_threshold=self.vote_iou,
                score_threshold=self.model.inference.score_thresh,
                max_detections=self.model.inference.topk_candidates,
            )
        else:
            keep = batched_nms(boxes, scores, classes, self.model.inference.nms_thresh)
            keep = keep[: self.model.inference.max_detections_per_image]
            boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
        result = Instances(orig_shape)
        result.pred_boxes = Boxes(boxes)
        result.scores = scores
        result.pred_classes = classes
        return {"instances": result}

    def _get_augmented_boxes(
        self, augmented_inputs: List[Dict], outputs: List[Instances]
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """The detections of all passes within their size range, in the original frame."""
        all_boxes, all_scores, all_classes = [], [], []
        for inputs, output in zip(augmented_inputs, outputs):
            lo, hi = inputs["size_range"]
            side = output.pred_boxes.area().sqrt()
            output = output[(side > lo) & (side < hi)]
            pred_boxes = output.pred_boxes.tensor
            # Un-flips and rescales (detectron2's continuous frame: x -> width - x).
            original = inputs["transforms"].inverse().apply_box(pred_boxes.cpu().numpy())
            all_boxes.append(torch.as_tensor(original, dtype=pred_boxes.dtype).reshape(-1, 4))
            all_scores.append(output.scores)
            all_classes.append(output.pred_classes)
        device = outputs[0].scores.device
        return (
            torch.cat(all_boxes).to(device),
            torch.cat(all_scores),
            torch.cat(all_classes),
        )
