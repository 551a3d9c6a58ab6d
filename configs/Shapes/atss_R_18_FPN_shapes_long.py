"""
ATSS R-18 FPN trained from scratch on the synthetic shapes dataset on a CPU, the long recipe:
1400 iterations of 16 images with a full-width ResNet-18 and FPN P3-P7, almost five times the
compute of the quick start (``atss_R_18_FPN_shapes.py``). ``benchmarks/quick_start.py`` draws the
AP of both against time (docs/benchmarks.md):
``python train_net.py --config-file configs/Shapes/atss_R_18_FPN_shapes_long.py``.

The model is the paper's (ATSS, one 8S anchor per location, GN head with centerness) with a
smaller trunk: ResNet-18 with trainable, synchronised BatchNorm (frozen statistics need pretrained
weights) and a 128-channel FPN and head; AdamW with a cosine schedule.
"""

from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec
from detectron2.modeling.backbone import ResNet

import atss.data

from ..common.data.shapes import dataloader
from ..common.models.atss import STRIDES, model
from ..common.train import train
from .atss_R_18_FPN_shapes import lr_multiplier, optimizer

CHANNELS = 128

# detectron2's NaiveSyncBatchNorm: plain BatchNorm in one process; with --num-gpus N (CPU processes
# over gloo too), statistics of the whole batch, so N processes train as one.
model.backbone.bottom_up.stem.norm = "naiveSyncBN"
model.backbone.bottom_up.stages = L(ResNet.make_default_stages)(depth=18, norm="naiveSyncBN")
model.backbone.bottom_up.freeze_at = 0
model.backbone.out_channels = CHANNELS
model.backbone.top_block.in_channels = CHANNELS
model.backbone.top_block.out_channels = CHANNELS
model.head.input_shape = [ShapeSpec(channels=CHANNELS, stride=s) for s in STRIDES]
model.num_classes = len(atss.data.SHAPES_CLASSES)
# Trained from scratch: inputs normalised to unit variance (ImageNet statistics, BGR).
model.pixel_mean = [103.530, 116.280, 123.675]
model.pixel_std = [57.375, 57.120, 58.395]

# The quick start's AdamW and cosine schedule, at half its LR.
optimizer.lr = 1e-3

train.device = "cpu"
train.seed = 0  # reproducible runs (read by detectron2's default_setup)
train.init_checkpoint = ""
train.max_iter = 1400
train.eval_period = 1400
train.checkpointer.period = 500
train.log_period = 20
train.output_dir = "./output/atss_R_18_FPN_shapes_long"
