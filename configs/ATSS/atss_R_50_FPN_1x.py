"""ATSS R-50 FPN 1x (official: 39.3 AP on COCO minival): the model of the paper."""

from ..common.coco_schedule import lr_multiplier_1x as lr_multiplier
from ..common.data.coco import dataloader
from ..common.models.atss import model
from ..common.optim import SGD as optimizer
from ..common.train import train

train.output_dir = "./output/atss_R_50_FPN_1x"
