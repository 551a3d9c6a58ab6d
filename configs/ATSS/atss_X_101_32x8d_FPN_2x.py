"""
ATSS X-101-32x8d FPN 2x with multi-scale training (official: 44.8 AP on COCO minival).
ResNeXt: 32 groups of width 8 (bottleneck widths 256-2048), stride in the 3x3 conv; detectron2's
ImageNet weights of this trunk expect BGR input normalised by the ImageNet mean and std.
"""

from detectron2.config import LazyCall as L

from atss.modeling import make_resnet_stages

from .atss_R_101_FPN_2x import dataloader, lr_multiplier, model, optimizer, train

model.backbone.bottom_up.stages = L(make_resnet_stages)(
    depth=101,
    num_groups=32,
    width_per_group=8,
    stride_in_1x1=False,
    norm="FrozenBN",
)
model.pixel_mean = [103.530, 116.280, 123.675]
model.pixel_std = [57.375, 57.120, 58.395]

train.init_checkpoint = "detectron2://ImageNetPretrained/FAIR/X-101-32x8d.pkl"
train.output_dir = "./output/atss_X_101_32x8d_FPN_2x"
