"""
Table 1, RetinaNet (#A=1) with none of the improvements (32.5 AP, quoted by the paper from FCOS):
one 8S square anchor per location, positives by the IoU rule (>= 0.5, negatives < 0.4, low-quality
matches kept, no "In GT Box"), towers without GroupNorm, RetinaNet's smooth-L1 loss on the box
coder's deltas (beta 0.11, weight 1), no centerness branch (scores are class probabilities) and
no per-level scalar. The next columns of Table 1 each turn one of these on, in the paper's order:
retinanet_A1_gn, _gn_giou, _gn_giou_ingt, _gn_giou_ingt_ctr, then retinanet_iou_box (37.0).
"""
from .retinanet_iou_box_R_50_FPN_1x import dataloader, lr_multiplier, model, optimizer, train

model.head.norm = ""
model.loss.box_loss = "smooth_l1"
model.loss.smooth_l1_beta = 0.11
model.loss.reg_loss_weight = 1.0
model.assignment.require_center_in_gt = False
model.use_centerness = False
model.head.use_scale = False
train.output_dir = "./output/ablations/retinanet_A1_R_50_FPN_1x"
