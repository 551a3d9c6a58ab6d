"""
The post-processing settings of the dense detectors (the config group ``model.inference``), as
detectron2's RetinaNet and FCOS take them one by one: which candidates are kept, and how NMS
merges them.
"""
from typing import NamedTuple

__all__ = ["InferenceParams"]


class InferenceParams(NamedTuple):
    """
    A NamedTuple rather than a dataclass: the scripted exports (:mod:`atss.export`) read it
    inside the model's inference, and TorchScript compiles a module attribute of a NamedTuple
    type (annotated on the model's class), not one of a dataclass.

    Attributes:
        score_thresh: minimum score of a candidate (ATSS: its class probability; AutoAssign:
            p_cls * p_obj). Official ``INFERENCE_TH`` 0.05.
        topk_candidates: candidates kept per level before NMS (official ``PRE_NMS_TOP_N``).
        nms_thresh: IoU threshold of the class-wise NMS (official ``NMS_TH`` 0.6).
        max_detections_per_image: detections kept per image after NMS.
    """

    score_thresh: float = 0.05
    topk_candidates: int = 1000
    nms_thresh: float = 0.6
    max_detections_per_image: int = 100
