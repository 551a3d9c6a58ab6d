"""
ATSS dcnv2 R-101 FPN 1x (official configs/atss/atss_dcnv2_R_101_FPN_1x.yaml; no published AP).
Modulated deformable convolutions in ResNet stages c3-c5 and in the last conv of both head towers.
"""

from detectron2.config import LazyCall as L

from atss.modeling import make_resnet_stages

from .atss_R_101_FPN_1x import dataloader, lr_multiplier, model, optimizer, train

model.backbone.bottom_up.stages = L(make_resnet_stages)(
    depth=101,
    stride_in_1x1=True,
    norm="FrozenBN",
    deform_on_per_stage=[False, True, True, True],
)
model.head.use_dcn_in_tower = True

train.output_dir = "./output/atss_dcnv2_R_101_FPN_1x"
