"""
The ATSS model of the paper (Sections 3.1, 3.2, 4.2; official R-50 FPN 1x) as a LazyConfig:
ResNet-50 with frozen BN, FPN P3-P7 with P6/P7 computed from P5 (as the official code),
one 8S square anchor per location, the GN head with centerness and per-level scalars.
"""
from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec
from detectron2.modeling.backbone import FPN, BasicStem, ResNet
from detectron2.modeling.backbone.fpn import LastLevelP6P7

from atss import ATSS, ATSSAnchorGenerator, ATSSHead
from atss.losses import ATSSLossParams
from atss.modeling import AssignmentParams, InferenceParams, make_resnet_stages

STRIDES = [8, 16, 32, 64, 128]

model = L(ATSS)(
    backbone=L(FPN)(
        bottom_up=L(ResNet)(
            stem=L(BasicStem)(in_channels=3, out_channels=64, norm="FrozenBN"),
            stages=L(ResNet.make_default_stages)(depth=50, stride_in_1x1=True, norm="FrozenBN"),
            out_features=["res3", "res4", "res5"],
            freeze_at=2,
        ),
        in_features=["res3", "res4", "res5"],
        out_channels=256,
        top_block=L(LastLevelP6P7)(in_channels=256, out_channels=256, in_feature="p5"),
    ),
    head=L(ATSSHead)(
        input_shape=[ShapeSpec(channels=256, stride=s) for s in STRIDES],
        num_classes="${..num_classes}",
        num_anchors=1,
        num_convs=4,
        norm="GN",
        prior_prob=0.01,
        use_dcn_in_tower=False,
        regression_type="${..regression_type}",
        use_centerness="${..use_centerness}",
        use_scale=True,
    ),
    anchor_generator=L(ATSSAnchorGenerator)(
        strides=STRIDES, anchor_scale=8.0, scales_per_octave=1, aspect_ratios=[1.0], offset=0.5
    ),
    num_classes=80,
    head_in_features=["p3", "p4", "p5", "p6", "p7"],
    assignment=L(AssignmentParams)(
        rule="atss",
        topk=9,
        center_margin=0.51,  # the official "> 0.01" of its "+1" frame, in detectron2's frame
    ),
    regression_type="box",
    bbox_reg_weights=(10.0, 10.0, 5.0, 5.0),
    use_centerness=True,
    loss=L(ATSSLossParams)(
        cls_loss="focal",
        focal_loss_alpha=0.25,
        focal_loss_gamma=2.0,
        box_loss="giou",
        smooth_l1_beta=0.11,
        reg_loss_weight=2.0,
    ),
    inference=L(InferenceParams)(
        score_thresh=0.05, topk_candidates=1000, nms_thresh=0.6, max_detections_per_image=100
    ),
    # detectron2's MSRA ImageNet weights: BGR, mean-subtracted, unit std.
    pixel_mean=[103.530, 116.280, 123.675],
    pixel_std=[1.0, 1.0, 1.0],
    input_format="BGR",
)


def use_dcnv2(model, depth: int) -> None:
    """
    The official dcnv2 models' ResNet: modulated deformable convolutions in the 3x3 convs of
    stages c3-c5 and in the last conv of both head towers (official README, note 4).
    """
    model.backbone.bottom_up.stages = L(make_resnet_stages)(
        depth=depth,
        stride_in_1x1=True,
        norm="FrozenBN",
        deform_on_per_stage=[False, True, True, True],
    )
    model.head.use_dcn_in_tower = True
