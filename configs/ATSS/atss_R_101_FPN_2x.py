"""ATSS R-101 FPN 2x with multi-scale training (official: 43.5 AP on COCO minival)."""

from ..common.coco_schedule import lr_multiplier_2x as lr_multiplier
from ..common.data.coco_multiscale import dataloader
from ..common.models.atss import model
from ..common.optim import SGD as optimizer
from ..common.train import train

model.backbone.bottom_up.stages.depth = 101

train.max_iter = 180000
train.init_checkpoint = "detectron2://ImageNetPretrained/MSRA/R-101.pkl"
train.output_dir = "./output/atss_R_101_FPN_2x"
