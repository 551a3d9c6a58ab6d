"""
ATSS R-101 FPN 1x (official configs/atss/atss_R_101_FPN_1x.yaml; no published AP): the R-50 1x
model and schedule with a ResNet-101 trunk, shorter side 800.
"""

from .atss_R_50_FPN_1x import dataloader, lr_multiplier, model, optimizer, train

model.backbone.bottom_up.stages.depth = 101

train.init_checkpoint = "detectron2://ImageNetPretrained/MSRA/R-101.pkl"
train.output_dir = "./output/atss_R_101_FPN_1x"
