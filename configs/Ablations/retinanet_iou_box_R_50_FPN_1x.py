"""
Table 2, IoU / Box (37.0 AP; Table 1's last column): RetinaNet #A=1 with all of Table 1's
improvements, positives by IoU >= 0.5 (negatives < 0.4) and centre inside the GT ("In GT Box").
"""
from ..ATSS.atss_R_50_FPN_1x import dataloader, lr_multiplier, model, optimizer, train

model.assignment.rule = "max_iou"
model.assignment.iou_thresholds = (0.4, 0.5)
model.assignment.allow_low_quality_matches = True
model.assignment.require_center_in_gt = True
train.output_dir = "./output/ablations/retinanet_iou_box_R_50_FPN_1x"
