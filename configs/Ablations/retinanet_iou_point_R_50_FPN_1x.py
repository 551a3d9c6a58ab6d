"""Table 2, IoU / Point (36.9 AP): the IoU rule, regressing (l, t, r, b) from the anchor point."""
from .retinanet_iou_box_R_50_FPN_1x import dataloader, lr_multiplier, model, optimizer, train

model.regression_type = "point"
train.output_dir = "./output/ablations/retinanet_iou_point_R_50_FPN_1x"
