"""ATSS R-101 FPN 2x with multi-scale training (official: 43.5 AP on COCO minival)."""

from ..common.models.atss import dataloader_multiscale as dataloader
from ..common.models.atss import lr_multiplier_2x as lr_multiplier
from ..common.models.atss import model, optimizer, train

model.backbone.bottom_up.stages.depth = 101

train.max_iter = 180000
train.init_checkpoint = "detectron2://ImageNetPretrained/MSRA/R-101.pkl"
train.output_dir = "./output/atss_R_101_FPN_2x"
