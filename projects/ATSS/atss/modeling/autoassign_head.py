"""
The head of AutoAssign: the authors' ``AutoAssignHead`` (cvpods), which is the ATSS/FCOS head with
point regression. It is :class:`ATSSHead` with one location per point, ``regression_type="point"``
(distances in strides, ReLU after the per-level scalar, bias 4 so that every side starts at
4 strides) and a class prior of 0.02; its one-channel "centerness" conv on the regression tower
is AutoAssign's implicit objectness (ImpObj, paper Section 3.3.1), trained only through the
joint confidence of the losses.
"""
from typing import List

from detectron2.config import configurable
from detectron2.layers import ShapeSpec

from .atss_head import ATSSHead

__all__ = ["AutoAssignHead"]


class AutoAssignHead(ATSSHead):
    """
    Outputs, per level: class logits (N, K, Hi, Wi), (l, t, r, b) distances in strides
    (N, 4, Hi, Wi), objectness logits (N, 1, Hi, Wi).
    """

    @configurable
    def __init__(
        self,
        *,
        input_shape: List[ShapeSpec],
        num_classes: int,
        num_convs: int = 4,
        norm: str = "GN",
        prior_prob: float = 0.02,
    ):
        """
        Args:
            input_shape: shapes of the input feature maps, one per level, same channels.
            num_classes: number of foreground classes.
            num_convs: conv3x3-GN-ReLU layers per tower (4).
            norm: normalization of the tower layers.
            prior_prob: probability the class bias starts at (the authors' 0.02, not FCOS' 0.01).
        """
        super().__init__(
            input_shape=input_shape,
            num_classes=num_classes,
            num_anchors=1,
            num_convs=num_convs,
            norm=norm,
            prior_prob=prior_prob,
            regression_type="point",
        )

    @classmethod
    def from_config(cls, cfg, input_shape: List[ShapeSpec]):
        return {
            "input_shape": input_shape,
            "num_classes": cfg.MODEL.AUTOASSIGN.NUM_CLASSES,
            "num_convs": cfg.MODEL.AUTOASSIGN.NUM_CONVS,
            "norm": cfg.MODEL.AUTOASSIGN.NORM,
            "prior_prob": cfg.MODEL.AUTOASSIGN.PRIOR_PROB,
        }
