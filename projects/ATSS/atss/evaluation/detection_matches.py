"""
The detections COCOeval scored, each with the ground-truth object it matched at one IoU, as flat
arrays: what the score-threshold curves and the confusion matrix are computed from. The matching
is pycocotools' own (``COCOeval.evaluateImg``: per image and class, detections by decreasing
score take the best unmatched object; those matching a crowd region are ignored), rerun at the
one IoU threshold on the same ground truth and detections, because the fast evaluator of
detectron2 keeps no per-detection matches.
"""

import contextlib
import io
import numpy as np
from dataclasses import dataclass
from pycocotools.cocoeval import COCOeval

__all__ = ["DetectionMatches", "match_detections"]


@dataclass(frozen=True)
class DetectionMatches:
    """
    Objects (G) and detections (D) of an evaluation, crowd regions and the detections they
    absorbed left out. Classes are contiguous indices 0..K-1 in the order of the sorted category
    ids (detectron2's ``thing_classes`` order); boxes are (x0, y0, x1, y1).

    gt_image, gt_class (G,) int; gt_boxes (G, 4) float.
    det_image, det_class (D,) int; det_boxes (D, 4); det_scores (D,);
    det_match (D,) int: the index of the object of the same class the detection matched, or -1.
    num_images, num_classes: the evaluated images and classes.
    iou: the IoU threshold of the matches.
    """

    gt_image: np.ndarray
    gt_class: np.ndarray
    gt_boxes: np.ndarray
    det_image: np.ndarray
    det_class: np.ndarray
    det_boxes: np.ndarray
    det_scores: np.ndarray
    det_match: np.ndarray
    num_images: int
    num_classes: int
    iou: float


def _xyxy(boxes) -> np.ndarray:
    b = np.asarray(boxes, dtype=float).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)


def match_detections(coco_eval: COCOeval, iou: float = 0.5) -> DetectionMatches:
    """
    The matches of pycocotools' evaluation of ``coco_eval`` (a ``COCOeval`` or detectron2's
    ``COCOeval_opt``, evaluated or not) at IoU ``iou``, for all object sizes and its most
    detections per image and class.
    """
    params = coco_eval.params
    rerun = COCOeval(coco_eval.cocoGt, coco_eval.cocoDt, "bbox")
    rerun.params.imgIds = list(params.imgIds)
    rerun.params.catIds = sorted(params.catIds)
    rerun.params.iouThrs = np.array([iou])
    rerun.params.areaRng = [params.areaRng[0]]
    rerun.params.areaRngLbl = ["all"]
    rerun.params.maxDets = [params.maxDets[-1]]
    with contextlib.redirect_stdout(io.StringIO()):
        rerun.evaluate()
    image_index = {image_id: i for i, image_id in enumerate(rerun.params.imgIds)}
    class_index = {cat_id: k for k, cat_id in enumerate(rerun.params.catIds)}
    gts, dets = [], []
    for e in rerun.evalImgs:
        if e is None:
            continue
        keep_gt = np.asarray(e["gtIgnore"], dtype=bool) == 0
        keep_dt = ~np.asarray(e["dtIgnore"], dtype=bool)[0]
        gt_ids = np.asarray(e["gtIds"], dtype=np.int64)[keep_gt]
        gts += [(e["image_id"], e["category_id"], g) for g in gt_ids]
        matched = np.asarray(e["dtMatches"], dtype=np.int64)[0][keep_dt]
        dt_ids = np.asarray(e["dtIds"], dtype=np.int64)[keep_dt]
        dets += [(e["image_id"], e["category_id"], d, m) for d, m in zip(dt_ids, matched)]
    gt_row = {g: i for i, (_, _, g) in enumerate(gts)}
    gt_anns, dt_anns = coco_eval.cocoGt.anns, coco_eval.cocoDt.anns
    return DetectionMatches(
        gt_image=np.array([image_index[i] for i, _, _ in gts], dtype=np.int64),
        gt_class=np.array([class_index[c] for _, c, _ in gts], dtype=np.int64),
        gt_boxes=_xyxy([gt_anns[g]["bbox"] for _, _, g in gts]),
        det_image=np.array([image_index[i] for i, _, _, _ in dets], dtype=np.int64),
        det_class=np.array([class_index[c] for _, c, _, _ in dets], dtype=np.int64),
        det_boxes=_xyxy([dt_anns[d]["bbox"] for _, _, d, _ in dets]),
        det_scores=np.array([dt_anns[d]["score"] for _, _, d, _ in dets], dtype=float),
        det_match=np.array([gt_row.get(m, -1) for _, _, _, m in dets], dtype=np.int64),
        num_images=len(image_index),
        num_classes=len(class_index),
        iou=iou,
    )
