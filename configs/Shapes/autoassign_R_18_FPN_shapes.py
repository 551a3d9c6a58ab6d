"""
AutoAssign R-18 FPN trained from scratch on the synthetic shapes dataset, with the budget of
``atss_R_18_FPN_shapes.py`` (its data, optimizer, schedule, 1400 iterations at 16 images, seed
and evaluation; the same ResNet-18 with trainable BN and 128-channel FPN and head), so the two
compare side by side:
``python train_net.py --config-file configs/Shapes/autoassign_R_18_FPN_shapes.py``.
As in the authors' model, P6 comes from C5 (512 channels on ResNet-18).
"""
from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec
from detectron2.modeling.backbone import ResNet

import atss.data

from ..common.models.autoassign import STRIDES, model
from .atss_R_18_FPN_shapes import CHANNELS, dataloader, lr_multiplier, optimizer, train

model.backbone.bottom_up.stem.norm = "BN"
model.backbone.bottom_up.stages = L(ResNet.make_default_stages)(depth=18, norm="BN")
model.backbone.bottom_up.freeze_at = 0
model.backbone.out_channels = CHANNELS
model.backbone.top_block.in_channels = 512
model.backbone.top_block.out_channels = CHANNELS
model.head.input_shape = [ShapeSpec(channels=CHANNELS, stride=s) for s in STRIDES]
model.num_classes = len(atss.data.SHAPES_CLASSES)
model.pixel_mean = [103.530, 116.280, 123.675]
model.pixel_std = [57.375, 57.120, 58.395]

train.output_dir = "./output/autoassign_R_18_FPN_shapes"
