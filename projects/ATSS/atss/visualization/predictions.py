"""Running a model on dataset images and checking its detections against the ground truth."""

from typing import Dict
import torch

from detectron2.structures import Boxes, BoxMode, Instances, pairwise_iou

from ..modeling.meta_arch import ATSS

__all__ = ["predict", "matched_objects"]


@torch.no_grad()
def predict(model: ATSS, mapper, dataset_dict: dict) -> Instances:
    """The model's detections for one dataset image, in the image's original coordinates."""
    return model([mapper(dataset_dict)])[0]["instances"].to("cpu")


def matched_objects(
    instances: Instances, dataset_dict: dict, iou_thresh: float = 0.5
) -> Dict[str, int]:
    """
    How many of the image's annotated objects have a detection of their class with IoU at least
    ``iou_thresh`` among ``instances``: {"objects": G, "matched": M}.
    """
    annotations = dataset_dict.get("annotations", [])
    if not annotations:
        return {"objects": 0, "matched": 0}
    gt = Boxes(
        torch.tensor(
            [BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS) for a in annotations],
            dtype=torch.float32,
        )
    )
    classes = torch.tensor([a["category_id"] for a in annotations])
    same_class = classes[:, None] == instances.pred_classes[None, :]
    ious = pairwise_iou(gt, instances.pred_boxes)
    matched = ((ious >= iou_thresh) & same_class).any(dim=1)
    return {"objects": len(annotations), "matched": int(matched.sum())}
