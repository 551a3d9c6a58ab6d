"""
ATSS trained from scratch on the synthetic shapes dataset on a CPU in about five minutes, the
quick start: ``python train_net.py --config-file configs/Shapes/atss_R_18_FPN_shapes.py``
generates the dataset (no download), trains, evaluates with COCOEvaluator (bbox AP table) and
prints its progress with an ETA. The README gives its measured time and AP; docs/benchmarks.md
how the recipe was chosen (``benchmarks/quick_start.py``) and its AP against the long recipe
(``atss_R_18_FPN_shapes_long.py``).

The detector is the paper's ATSS (one 8S square anchor per location, the ATSS assignment with
k = 9, the GN head with centerness and per-level scalars, focal and GIoU losses), scaled to
96-128 px images and two CPU cores:

- FPN levels P2-P4 (strides 4-16) instead of P3-P7. ATSS keeps only candidates centred inside the
  object (Section 3.1), and three quarters of the objects of shapes are below 32 px, a third
  below 8 px a side: with P3-P7, 20% of the training objects had no anchor centre inside them and
  so no positive, with P2 6%; P5-P7 (anchors of 256 px and more) got no positive at all.
- ResNet-18 at a quarter of its width (res2 16 channels) and without res5 (the trunk ends at the
  coarsest level used), with trainable, synchronised BatchNorm (frozen statistics need
  pretrained weights); 32 channels in the FPN and the head.
- AdamW at LR 2e-3 with a cosine schedule, 1000 iterations of 16 images. The images load in the
  main process: a worker process would take the cores from the compute threads.
"""

from fvcore.common.param_scheduler import CosineParamScheduler

from detectron2 import model_zoo
from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec
from detectron2.solver import WarmupParamScheduler

import atss.data
from atss.modeling import make_resnet_stages

from ..common.data.shapes import dataloader
from ..common.models.atss import model
from ..common.train import train

STRIDES = [4, 8, 16]
LEVELS = ["res2", "res3", "res4"]
TRUNK_WIDTH = 16  # res2's outputs (64 in ResNet-18), doubled at each stage
CHANNELS = 32
ITERATIONS = 1000

# detectron2's NaiveSyncBatchNorm: plain BatchNorm in one process; with --num-gpus N (CPU processes
# over gloo too), statistics of the whole batch, so N processes train as one.
model.backbone.bottom_up.stem.out_channels = TRUNK_WIDTH
model.backbone.bottom_up.stem.norm = "naiveSyncBN"
model.backbone.bottom_up.stages = L(make_resnet_stages)(
    depth=18, norm="naiveSyncBN", stem_out_channels=TRUNK_WIDTH, res2_out_channels=TRUNK_WIDTH
)
model.backbone.bottom_up.out_features = LEVELS
model.backbone.bottom_up.freeze_at = 0
model.backbone.in_features = LEVELS
model.backbone.out_channels = CHANNELS
model.backbone.top_block = None
model.head.input_shape = [ShapeSpec(channels=CHANNELS, stride=s) for s in STRIDES]
model.anchor_generator.strides = STRIDES
model.head_in_features = [f"p{level[-1]}" for level in LEVELS]
# FCOS' scale ranges (Table 2's rule, for the visualizations' comparison of rules) on these levels:
# regression targets up to 8 strides on each level but the last.
model.assignment.size_ranges = [[0.0, 32.0], [32.0, 64.0], [64.0, float("inf")]]
model.num_classes = len(atss.data.SHAPES_CLASSES)
# Trained from scratch: inputs normalised to unit variance (ImageNet statistics, BGR).
model.pixel_mean = [103.530, 116.280, 123.675]
model.pixel_std = [57.375, 57.120, 58.395]

dataloader.train.num_workers = 0

# From scratch, AdamW learns this far faster than the SGD of the COCO models (measured with the
# long recipe's model and a 64-channel head, batch 8, 800 iterations: AP 10.2 vs 5.1 with SGD at
# LR 0.02, 4.1 at LR 0.06); LR 2e-3 rather than 1e-3 gave AP 45.1 vs 39.8 (docs/benchmarks.md).
optimizer = model_zoo.get_config("common/optim.py").AdamW
optimizer.lr = 2e-3
optimizer.weight_decay = 1e-4
lr_multiplier = L(WarmupParamScheduler)(
    scheduler=L(CosineParamScheduler)(start_value=1.0, end_value=0.01),
    warmup_length=0.05,
    warmup_method="linear",
    warmup_factor=0.01,
)

train.device = "cpu"
# bfloat16 where the CPU has the units (configs/common/train.py), with contiguous weights: a step of
# this small model is 1.38x faster than in float32 on AVX512-BF16, 1.30x with channels_last, and
# the whole run ends at the same AP (docs/benchmarks.md).
train.amp.channels_last = False
train.seed = 0  # reproducible runs (read by detectron2's default_setup)
train.init_checkpoint = ""
train.max_iter = ITERATIONS
train.eval_period = ITERATIONS
train.checkpointer.period = 500
train.log_period = 20
train.output_dir = "./output/atss_R_18_FPN_shapes"
