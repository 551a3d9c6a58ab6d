"""
ATSS R-18 FPN with AP-Loss (Chen et al., CVPR 2019) as classification loss on the synthetic shapes
dataset: ``atss_R_18_FPN_shapes.py`` with ``cls_loss="ap"`` and the official AP-Loss test score
threshold; nothing else changed (same model, data, optimizer, schedule), so that the two AP tables
compare the losses. Neither paper trained this combination.
"""
from .atss_R_18_FPN_shapes import dataloader, lr_multiplier, model, optimizer, train

model.loss.cls_loss = "ap"
model.loss.ap_loss_delta = 1.0
# AP-Loss trains a ranking, not calibrated probabilities: its scores sit lower than focal loss's,
# and the official code keeps scores > 0.01 (cccorn/AP-loss lib/model/model.py:266-307), not 0.05.
model.inference.score_thresh = 0.01
train.output_dir = "./output/atss_aploss_R_18_FPN_shapes"
