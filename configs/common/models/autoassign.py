"""
The AutoAssign R-50 model of the authors (cvpods ``auto_assign.res50.fpn.coco.800size.1x``) as a
LazyConfig: MSRA ResNet-50 with frozen BN (stem and res2 frozen), FPN P3-P7 with P6 from C5 and P7
from ReLU(P6) (the release-era cvpods FPN), the FCOS-style GN head with implicit objectness, and
the learnable center prior inside the meta-architecture.
"""
from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec
from detectron2.modeling.backbone import FPN, BasicStem, ResNet
from detectron2.modeling.backbone.fpn import LastLevelP6P7

from atss import AutoAssign, AutoAssignHead

STRIDES = [8, 16, 32, 64, 128]

model = L(AutoAssign)(
    backbone=L(FPN)(
        bottom_up=L(ResNet)(
            stem=L(BasicStem)(in_channels=3, out_channels=64, norm="FrozenBN"),
            stages=L(ResNet.make_default_stages)(depth=50, stride_in_1x1=True, norm="FrozenBN"),
            out_features=["res3", "res4", "res5"],
            freeze_at=2,
        ),
        in_features=["res3", "res4", "res5"],
        out_channels=256,
        top_block=L(LastLevelP6P7)(in_channels=2048, out_channels=256, in_feature="res5"),
    ),
    head=L(AutoAssignHead)(
        input_shape=[ShapeSpec(channels=256, stride=s) for s in STRIDES],
        num_classes="${..num_classes}",
        num_convs=4,
        norm="GN",
        prior_prob=0.02,
    ),
    num_classes=80,
    head_in_features=["p3", "p4", "p5", "p6", "p7"],
    temperature=1.0 / 3,
    reg_weight=5.0,
    focal_loss_gamma=2.0,
    pos_loss_weight=0.25,
    neg_loss_weight=0.75,
    center_loss_weight=0.75,
    test_score_thresh=0.05,
    test_topk_candidates=1000,
    test_nms_thresh=0.6,
    max_detections_per_image=100,
    # detectron2's MSRA ImageNet weights (the authors' R-50.pkl): BGR, mean-subtracted, unit std.
    pixel_mean=[103.530, 116.280, 123.675],
    pixel_std=[1.0, 1.0, 1.0],
    input_format="BGR",
)
