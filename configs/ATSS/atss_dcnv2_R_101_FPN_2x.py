"""
ATSS dcnv2 R-101 FPN 2x with multi-scale training (official: 46.1 AP on COCO minival).
Modulated deformable convolutions in ResNet stages c3-c5 and in the last conv of both head towers.
"""

from ..common.models.atss import use_dcnv2
from .atss_R_101_FPN_2x import dataloader, lr_multiplier, model, optimizer, train

use_dcnv2(model, depth=101)

train.output_dir = "./output/atss_dcnv2_R_101_FPN_2x"
