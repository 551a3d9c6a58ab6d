"""
ATSS dcnv2 R-50 FPN 1x (official: 43.2 AP on COCO minival). Modulated deformable convolutions in
the 3x3 convs of ResNet stages c3-c5 and in the last conv of both head towers (official README,
note 4).
"""

from ..common.coco_schedule import lr_multiplier_1x as lr_multiplier
from ..common.data.coco import dataloader
from ..common.models.atss import model, use_dcnv2
from ..common.optim import SGD as optimizer
from ..common.train import train

use_dcnv2(model, depth=50)

train.output_dir = "./output/atss_dcnv2_R_50_FPN_1x"
