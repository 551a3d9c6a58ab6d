"""
Table 1, RetinaNet (#A=1) + GroupNorm + GIoU + In GT Box (35.3 AP): IoU positives whose anchor
centre is not inside their box are ignored, as the official code's "IoU" positive type.
"""
from .retinanet_A1_gn_giou_R_50_FPN_1x import dataloader, lr_multiplier, model, optimizer, train

model.assignment.require_center_in_gt = True
train.output_dir = "./output/ablations/retinanet_A1_gn_giou_ingt_R_50_FPN_1x"
