"""
ATSS dcnv2 R-101 FPN 1x (official configs/atss/atss_dcnv2_R_101_FPN_1x.yaml; no published AP).
Modulated deformable convolutions in ResNet stages c3-c5 and in the last conv of both head towers.
"""

from ..common.models.atss import use_dcnv2
from .atss_R_101_FPN_1x import dataloader, lr_multiplier, model, optimizer, train

use_dcnv2(model, depth=101)

train.output_dir = "./output/atss_dcnv2_R_101_FPN_1x"
