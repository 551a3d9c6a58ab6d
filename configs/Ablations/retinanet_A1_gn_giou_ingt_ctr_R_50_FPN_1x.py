"""
Table 1, RetinaNet (#A=1) + GroupNorm + GIoU + In GT Box + centerness (36.8 AP): the centerness
branch on the regression tower, its loss, the GIoU loss weighted by the centerness targets, and
scores sqrt(probability * centerness). Adding the per-level scalar gives retinanet_iou_box (37.0).
"""
from .retinanet_A1_gn_giou_ingt_R_50_FPN_1x import (
    dataloader,
    lr_multiplier,
    model,
    optimizer,
    train,
)

model.use_centerness = True
train.output_dir = "./output/ablations/retinanet_A1_gn_giou_ingt_ctr_R_50_FPN_1x"
