"""
ATSS X-101-32x8d FPN 2x with multi-scale training (official: 44.8 AP on COCO minival).
ResNeXt: 32 groups of width 8 (bottleneck widths 256-2048), stride in the 3x3 conv.

ImageNet weights: the official models start from Detectron's
"ImageNetPretrained/20171220/X-101-32x8d.pkl" (official WEIGHT
"catalog://ImageNetPretrained/FAIR/20171220/X-101-32x8d"), which detectron2's catalog
(detectron2.checkpoint.catalog) names "ImageNetPretrained/FAIR/X-101-32x8d". This config loads
that file, not detectron2's model-zoo "detectron2://ImageNetPretrained/FAIR/X-101-32x8d.pkl"
(another FB Caffe2 model, which detectron2's configs feed with the ImageNet std), with the
normalisation the official model used: BGR, mean-subtracted, unit std, as every Detectron catalog
model. The mean is detectron2's, as in the other configs of this project; it differs from the
official Detectron mean (102.98, 115.95, 122.77) by under one grey level.
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
model.pixel_std = [1.0, 1.0, 1.0]

# https://dl.fbaipublicfiles.com/detectron/ImageNetPretrained/20171220/X-101-32x8d.pkl
train.init_checkpoint = "catalog://ImageNetPretrained/FAIR/X-101-32x8d"
train.output_dir = "./output/atss_X_101_32x8d_FPN_2x"
