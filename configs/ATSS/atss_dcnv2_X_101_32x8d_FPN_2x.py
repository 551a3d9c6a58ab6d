"""
ATSS dcnv2 X-101-32x8d FPN 2x with multi-scale training (official: 47.7 AP on COCO minival).
Modulated deformable convolutions in ResNeXt stages c4-c5 only (official README, note 4) and in
the last conv of both head towers.
"""

from .atss_X_101_32x8d_FPN_2x import dataloader, lr_multiplier, model, optimizer, train

model.backbone.bottom_up.stages.deform_on_per_stage = [False, False, True, True]
model.head.use_dcn_in_tower = True

train.output_dir = "./output/atss_dcnv2_X_101_32x8d_FPN_2x"
