import math
from typing import List, Tuple
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from detectron2.config import configurable
from detectron2.layers import ShapeSpec, get_norm
from detectron2.modeling.anchor_generator import build_anchor_generator
from detectron2.utils.registry import Registry

from ..layers.deform_conv import ModulatedDeformConv2d

__all__ = ["ATSS_HEAD_REGISTRY", "ATSSHead", "build_atss_head"]

ATSS_HEAD_REGISTRY = Registry("ATSS_HEAD")
ATSS_HEAD_REGISTRY.__doc__ = """
Heads of the ATSS meta-architecture, chosen by ``cfg.MODEL.ATSS.HEAD_NAME`` and called with
``(cfg, input_shape: List[ShapeSpec])``.
"""

REGRESSION_TYPES = ("box", "point")


@ATSS_HEAD_REGISTRY.register()
class ATSSHead(nn.Module):
    """
    The head of ATSS (official ATSSHead; Section 3.2 of the paper): classification and regression
    towers of ``num_convs`` conv3x3-GN-ReLU layers shared by all levels, class logits from the
    classification tower, box regression and centerness from the regression tower, and one
    learnable scalar per level multiplying the regression output.
    """

    @configurable
    def __init__(
        self,
        *,
        input_shape: List[ShapeSpec],
        num_classes: int,
        num_anchors: int,
        num_convs: int = 4,
        norm: str = "GN",
        prior_prob: float = 0.01,
        use_dcn_in_tower: bool = False,
        regression_type: str = "box",
        use_centerness: bool = True,
        use_scale: bool = True,
    ):
        """
        Args:
            input_shape: shapes of the input feature maps, one per level; all must have the same
                number of channels.
            num_classes: number of foreground classes.
            num_anchors: anchors per location (A).
            num_convs: conv layers per tower.
            norm: normalization of the tower layers ("GN" is GroupNorm(32); "" for none).
            prior_prob: foreground probability that the classification bias starts at (focal loss).
            use_dcn_in_tower: make the last layer of each tower a modulated deformable conv (the
                official "dcnv2" models).
            regression_type: "box" predicts Box2BoxTransform deltas from the anchor box; "point"
                predicts (l, t, r, b) from the anchor centre, in units of the stride (Table 2).
            use_centerness: predict centerness from the regression tower (Table 1, "Centerness");
                without it the head has no centerness layer and returns two lists.
            use_scale: multiply each level's regression by a learnable scalar (Table 1, "Scalar").
        """
        super().__init__()
        channels = {s.channels for s in input_shape}
        if len(channels) != 1:
            raise ValueError(f"ATSSHead needs the same channels on every level, got {channels}")
        if regression_type not in REGRESSION_TYPES:
            raise ValueError(
                f"regression_type must be one of {REGRESSION_TYPES}, got {regression_type!r}"
            )
        if regression_type == "point" and num_anchors != 1:
            # As the official code: a point is one location, so one anchor per location.
            raise ValueError(
                f"regression_type 'point' needs one anchor per location, got {num_anchors}"
            )
        (in_channels,) = channels
        self.num_levels = len(input_shape)
        self.num_classes = num_classes
        self.num_anchors = num_anchors
        self.regression_type = regression_type
        self.use_centerness = use_centerness

        self.cls_subnet = self._tower(in_channels, num_convs, norm, use_dcn_in_tower)
        self.bbox_subnet = self._tower(in_channels, num_convs, norm, use_dcn_in_tower)
        self.cls_score = nn.Conv2d(in_channels, num_anchors * num_classes, 3, padding=1)
        self.bbox_pred = nn.Conv2d(in_channels, num_anchors * 4, 3, padding=1)
        self.centerness = (
            nn.Conv2d(in_channels, num_anchors, 3, padding=1) if use_centerness else None
        )
        self.scales = nn.Parameter(torch.ones(self.num_levels)) if use_scale else None

        # Official init: normal(0, 0.01) weights and zero bias for every plain conv of the head
        # (deformable layers keep their own init), focal-loss prior on the class bias.
        head_layers = [*self.cls_subnet, *self.bbox_subnet, self.cls_score, self.bbox_pred]
        plain_convs = [m for m in head_layers + [self.centerness] if isinstance(m, nn.Conv2d)]
        for conv in plain_convs:
            nn.init.normal_(conv.weight, std=0.01)
            nn.init.constant_(conv.bias, 0)
        nn.init.constant_(self.cls_score.bias, -math.log((1 - prior_prob) / prior_prob))
        if regression_type == "point":
            # Official: point regression starts at distances of 4 strides (a box of side 8S).
            nn.init.constant_(self.bbox_pred.bias, 4.0)

    @staticmethod
    def _tower(channels: int, num_convs: int, norm: str, use_dcn_in_last: bool) -> nn.Sequential:
        layers = []
        for i in range(num_convs):
            if use_dcn_in_last and i == num_convs - 1:
                conv = ModulatedDeformConv2d(channels, channels, 3, padding=1)
            else:
                conv = nn.Conv2d(channels, channels, 3, padding=1)
            layers += [conv, get_norm(norm, channels) or nn.Identity(), nn.ReLU()]
        return nn.Sequential(*layers)

    @classmethod
    def from_config(cls, cfg, input_shape: List[ShapeSpec]):
        return {
            "input_shape": input_shape,
            "num_classes": cfg.MODEL.ATSS.NUM_CLASSES,
            "num_anchors": build_anchor_generator(cfg, input_shape).num_cell_anchors[0],
            "num_convs": cfg.MODEL.ATSS.NUM_CONVS,
            "norm": cfg.MODEL.ATSS.NORM,
            "prior_prob": cfg.MODEL.ATSS.PRIOR_PROB,
            "use_dcn_in_tower": cfg.MODEL.ATSS.USE_DCN_IN_TOWER,
            "regression_type": cfg.MODEL.ATSS.REGRESSION_TYPE,
            "use_centerness": cfg.MODEL.ATSS.USE_CENTERNESS,
            "use_scale": cfg.MODEL.ATSS.USE_SCALE,
        }

    def forward(self, features: List[Tensor]) -> Tuple[List[Tensor], List[Tensor], List[Tensor]]:
        """
        Args:
            features: one (N, C, Hi, Wi) feature map per level.

        Returns:
            Per level: class logits (N, A*K, Hi, Wi), box regression (N, A*4, Hi, Wi) and
            centerness logits (N, A, Hi, Wi); without ``use_centerness`` the last list is empty
            (one output type either way, as TorchScript needs).
        """
        if len(features) != self.num_levels:
            raise ValueError(
                f"ATSSHead was built for {self.num_levels} levels, got {len(features)} feature maps"
            )
        logits, bbox_reg, centerness = [], [], []
        for level, feature in enumerate(features):
            logits.append(self.cls_score(self.cls_subnet(feature)))
            bbox_feature = self.bbox_subnet(feature)
            reg = self.bbox_pred(bbox_feature)
            if self.scales is not None:
                reg = self.scales[level] * reg
            # Official: distances are non-negative, so a ReLU follows the scalar for points.
            bbox_reg.append(F.relu(reg) if self.regression_type == "point" else reg)
            if self.centerness is not None:
                centerness.append(self.centerness(bbox_feature))
        return logits, bbox_reg, centerness


def build_atss_head(cfg, input_shape: List[ShapeSpec]) -> nn.Module:
    return ATSS_HEAD_REGISTRY.get(cfg.MODEL.ATSS.HEAD_NAME)(cfg, input_shape)
