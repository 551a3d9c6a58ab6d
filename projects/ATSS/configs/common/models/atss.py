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
    ),
    anchor_generator=L(ATSSAnchorGenerator)(
        strides=STRIDES, anchor_scale=8.0, scales_per_octave=1, aspect_ratios=[1.0], offset=0.5
    ),
    num_classes=80,
    head_in_features=["p3", "p4", "p5", "p6", "p7"],
    assigner="atss",
    topk=9,
    regression_type="box",
    bbox_reg_weights=(10.0, 10.0, 5.0, 5.0),
    focal_loss_alpha=0.25,
    focal_loss_gamma=2.0,
    reg_loss_weight=2.0,
    test_score_thresh=0.05,
    test_topk_candidates=1000,
    test_nms_thresh=0.6,
    max_detections_per_image=100,
    # detectron2's MSRA ImageNet weights: BGR, mean-subtracted, unit std.
    pixel_mean=[103.530, 116.280, 123.675],
    pixel_std=[1.0, 1.0, 1.0],
    input_format="BGR",
)

# ------------------------------------------------------------------------------------------------
# Training on COCO as the official ATSS models (configs/atss/*.yaml of the authors' code and the
# maskrcnn-benchmark solver defaults it inherits); detectron2's common configs where they agree.
# ------------------------------------------------------------------------------------------------
from fvcore.common.param_scheduler import MultiStepParamScheduler

import detectron2.data.transforms as T
from detectron2 import model_zoo
from detectron2.solver import WarmupParamScheduler


def coco_dataloader(train_resize):
    """
    detectron2's COCO loaders (coco_2017_train, 16 images a batch; coco_2017_val at shorter side
    800, COCOEvaluator) with ``train_resize`` and a horizontal flip, without the masks ATSS does not
    use.
    """
    loader = model_zoo.get_config("common/data/coco.py").dataloader
    loader.train.mapper.use_instance_mask = False
    loader.train.mapper.augmentations = [train_resize, L(T.RandomFlip)(horizontal=True)]
    loader.train.total_batch_size = 16
    return loader


# Official 1x input: shorter side 800, longer side at most 1333.
dataloader = coco_dataloader(
    L(T.ResizeShortestEdge)(short_edge_length=800, max_size=1333, sample_style="choice")
)
# The official 2x models train at a shorter side drawn uniformly from [640, 800]
# (INPUT.MIN_SIZE_RANGE_TRAIN (640, 800), i.e. detectron2's sample_style "range").
dataloader_multiscale = coco_dataloader(
    L(T.ResizeShortestEdge)(short_edge_length=(640, 800), max_size=1333, sample_style="range")
)

# SGD, momentum 0.9, weight decay 1e-4, LR 0.01 at 16 images a batch. maskrcnn-benchmark also gives
# every bias twice the LR and no weight decay (SOLVER.BIAS_LR_FACTOR 2, WEIGHT_DECAY_BIAS 0) and
# keeps the decay on GroupNorm weights, so this differs from detectron2's common SGD.
optimizer = model_zoo.get_config("common/optim.py").SGD
optimizer.lr = 0.01
optimizer.params.base_lr = "${..lr}"
optimizer.params.bias_lr_factor = 2.0
optimizer.params.weight_decay_bias = 0.0
optimizer.params.weight_decay_norm = None


def multistep_with_warmup(max_iter, steps):
    """
    LR x0.1 at each of the two ``steps``; the official warmup holds the LR at 1/3 for the first 500
    iterations (WARMUP_METHOD "constant", WARMUP_FACTOR 1/3, WARMUP_ITERS 500).
    """
    return L(WarmupParamScheduler)(
        scheduler=L(MultiStepParamScheduler)(
            values=[1.0, 0.1, 0.01], milestones=[*steps, max_iter]
        ),
        warmup_length=500 / max_iter,
        warmup_method="constant",
        warmup_factor=1.0 / 3,
    )


lr_multiplier_1x = multistep_with_warmup(90000, [60000, 80000])
lr_multiplier_2x = multistep_with_warmup(180000, [120000, 160000])

# detectron2's training defaults (AMP off, checkpoint every 5000 iterations, ...) for the 1x
# schedule, from detectron2's ImageNet weights of the R-50 above.
train = model_zoo.get_config("common/train.py").train
train.max_iter = 90000
train.eval_period = 5000
train.checkpointer.period = 5000
train.init_checkpoint = "detectron2://ImageNetPretrained/MSRA/R-50.pkl"
train.output_dir = "./output/atss_R_50_FPN_1x"
