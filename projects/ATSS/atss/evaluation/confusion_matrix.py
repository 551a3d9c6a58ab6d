"""
The confusion matrix of a detector at one score threshold and IoU, over its classes plus
background: rows are the true classes, columns the predicted ones; the background row counts the
false detections (a kept detection of no object) and the background column the missed objects
(an object no kept detection covers).

Per image, the kept detections that pycocotools matched to an object of their class are the
diagonal (the true positives of :mod:`.score_threshold` at that threshold). The other kept
detections then take the unmatched objects of other classes they overlap by at least the IoU,
pairs of higher IoU first, one object per detection: these are the class confusions. What is
left is background.
"""

import numpy as np
import torch
from torchvision.ops import box_iou

from .detection_matches import DetectionMatches

__all__ = ["confusion_matrix"]


def _cross_class_pairs(iou: np.ndarray, threshold: float):
    """One-to-one (detection, object) pairs with IoU >= threshold, highest IoU first."""
    dets, objs = np.nonzero(iou >= threshold)
    order = np.argsort(-iou[dets, objs], kind="stable")
    dets, objs = dets[order], objs[order]
    first_det = np.unique(dets, return_index=True)[1]
    dets, objs = dets[np.sort(first_det)], objs[np.sort(first_det)]
    first_obj = np.unique(objs, return_index=True)[1]
    keep = np.sort(first_obj)
    return dets[keep], objs[keep]


def confusion_matrix(matches: DetectionMatches, score_threshold: float) -> np.ndarray:
    """
    The (K + 1, K + 1) int64 counts of ``matches`` at ``score_threshold`` (detections with
    ``score >= score_threshold`` kept) and ``matches.iou``; index K is background.
    """
    k = matches.num_classes
    counts = np.zeros((k + 1, k + 1), dtype=np.int64)
    kept = matches.det_scores >= score_threshold
    true_pos = kept & (matches.det_match >= 0)
    np.add.at(counts, (matches.det_class[true_pos], matches.det_class[true_pos]), 1)
    found = np.zeros(len(matches.gt_class), dtype=bool)
    found[matches.det_match[true_pos]] = True
    left_dets = np.flatnonzero(kept & ~true_pos)
    left_objs = np.flatnonzero(~found)
    for image in np.union1d(matches.det_image[left_dets], matches.gt_image[left_objs]):
        dets = left_dets[matches.det_image[left_dets] == image]
        objs = left_objs[matches.gt_image[left_objs] == image]
        iou = box_iou(
            torch.from_numpy(matches.det_boxes[dets]), torch.from_numpy(matches.gt_boxes[objs])
        ).numpy()
        # Same-class overlaps left over are below the IoU or duplicates: not confusions.
        iou[matches.det_class[dets][:, None] == matches.gt_class[objs][None]] = 0.0
        d, o = _cross_class_pairs(iou, matches.iou)
        np.add.at(counts, (matches.gt_class[objs[o]], matches.det_class[dets[d]]), 1)
        missed = np.setdiff1d(np.arange(len(objs)), o)
        false = np.setdiff1d(np.arange(len(dets)), d)
        np.add.at(counts, (matches.gt_class[objs[missed]], k), 1)
        np.add.at(counts, (k, matches.det_class[dets[false]]), 1)
    return counts
