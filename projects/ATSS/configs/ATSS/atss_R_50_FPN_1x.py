"""ATSS R-50 FPN 1x (official: 39.3 AP on COCO minival): the model of the paper."""

from ..common.models.atss import dataloader
from ..common.models.atss import lr_multiplier_1x as lr_multiplier
from ..common.models.atss import model, optimizer, train

train.output_dir = "./output/atss_R_50_FPN_1x"
