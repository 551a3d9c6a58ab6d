"""
ATSS X-101-64x4d FPN 2x with multi-scale training (official: 45.5 AP on COCO minival).
ResNeXt: 64 groups of width 4, stride in the 3x3 conv. detectron2's model zoo has no ImageNet
weights of this trunk; its catalog (detectron2.checkpoint.catalog) resolves the Detectron ones the
official code used, "FBResNeXt/X-101-64x4d.pkl", which like all catalog models expect BGR input
with unit std.
"""

from detectron2.config import LazyCall as L

from atss.modeling import make_resnet_stages

from .atss_R_101_FPN_2x import dataloader, lr_multiplier, model, optimizer, train

model.backbone.bottom_up.stages = L(make_resnet_stages)(
    depth=101,
    num_groups=64,
    width_per_group=4,
    stride_in_1x1=False,
    norm="FrozenBN",
)
model.pixel_mean = [103.530, 116.280, 123.675]
model.pixel_std = [1.0, 1.0, 1.0]

# https://dl.fbaipublicfiles.com/detectron/ImageNetPretrained/FBResNeXt/X-101-64x4d.pkl
train.init_checkpoint = "catalog://ImageNetPretrained/FAIR/X-101-64x4d"
train.output_dir = "./output/atss_X_101_64x4d_FPN_2x"
