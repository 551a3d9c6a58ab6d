"""
Table 1, RetinaNet (#A=1) + GroupNorm + GIoU loss (34.9 AP). Without centerness each positive's
GIoU counts once (divided by the positives); the weight is the official GIoU weight, 2.
"""
from .retinanet_A1_gn_R_50_FPN_1x import dataloader, lr_multiplier, model, optimizer, train

model.loss.box_loss = "giou"
model.loss.reg_loss_weight = 2.0
train.output_dir = "./output/ablations/retinanet_A1_gn_giou_R_50_FPN_1x"
