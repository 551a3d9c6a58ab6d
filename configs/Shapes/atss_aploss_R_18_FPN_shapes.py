"""
ATSS R-18 FPN with AP-Loss (Chen et al., CVPR 2019) as classification loss on the synthetic shapes
dataset: ``atss_R_18_FPN_shapes.py`` with ``cls_loss="ap"`` and nothing else changed (same
model, data, optimizer, schedule and inference), so that the two AP tables compare the losses.
Neither paper trained this combination.
"""
from .atss_R_18_FPN_shapes import dataloader, lr_multiplier, model, optimizer, train

model.cls_loss = "ap"
model.ap_loss_delta = 1.0
train.output_dir = "./output/atss_aploss_R_18_FPN_shapes"
