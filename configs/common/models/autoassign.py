"""
The AutoAssign R-50 model of the authors (cvpods ``auto_assign.res50.fpn.coco.800size.1x``) as a
LazyConfig, derived from the ATSS model (as detectron2's ``fcos.py`` derives from
``retinanet.py``): the same MSRA ResNet-50 with frozen BN (stem and res2 frozen) and FPN, but P6
from C5 and P7 from ReLU(P6) (the release-era cvpods FPN), the FCOS-style GN head with implicit
objectness, and the learnable center prior inside the meta-architecture instead of anchors and an
assignment rule.
"""
from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec
from detectron2.modeling.backbone.fpn import LastLevelP6P7

from atss import AutoAssign, AutoAssignHead

from .atss import STRIDES, model

model._target_ = AutoAssign
model.backbone.top_block = L(LastLevelP6P7)(in_channels=2048, out_channels=256, in_feature="res5")
model.head = L(AutoAssignHead)(
    input_shape=[ShapeSpec(channels=256, stride=s) for s in STRIDES],
    num_classes="${..num_classes}",
    num_convs=4,
    norm="GN",
    prior_prob=0.02,
)
# Points and a learned center prior replace the anchors, the assignment and ATSS' losses.
for key in (
    "anchor_generator",
    "assignment",
    "regression_type",
    "bbox_reg_weights",
    "use_centerness",
    "loss",
):
    del model[key]
model.update(
    temperature=1.0 / 3,
    focal_loss_gamma=2.0,
    reg_weight=5.0,
    pos_loss_weight=0.25,
    neg_loss_weight=0.75,
    center_loss_weight=0.75,
)
