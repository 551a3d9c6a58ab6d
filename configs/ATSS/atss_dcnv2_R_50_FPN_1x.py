"""
ATSS dcnv2 R-50 FPN 1x (official: 43.2 AP on COCO minival). Modulated deformable convolutions in
the 3x3 convs of ResNet stages c3-c5 and in the last conv of both head towers (official README,
note 4).
"""

from detectron2.config import LazyCall as L

from atss.modeling import make_resnet_stages

from ..common.coco_schedule import lr_multiplier_1x as lr_multiplier
from ..common.data.coco import dataloader
from ..common.models.atss import model
from ..common.optim import SGD as optimizer
from ..common.train import train

model.backbone.bottom_up.stages = L(make_resnet_stages)(
    depth=50,
    stride_in_1x1=True,
    norm="FrozenBN",
    deform_on_per_stage=[False, True, True, True],
)
model.head.use_dcn_in_tower = True

train.output_dir = "./output/atss_dcnv2_R_50_FPN_1x"
