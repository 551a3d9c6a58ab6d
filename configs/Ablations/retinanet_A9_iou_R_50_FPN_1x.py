"""
Table 7, "+Imprs." (38.4 AP): RetinaNet #A=9 (3 octave scales x 3 aspect ratios of 4S anchors) with
the IoU rule and Table 1's improvements.
"""
from .retinanet_iou_box_R_50_FPN_1x import dataloader, lr_multiplier, model, optimizer, train

model.anchor_generator.anchor_scale = 4.0
model.anchor_generator.scales_per_octave = 3
model.anchor_generator.aspect_ratios = [0.5, 1.0, 2.0]
model.head.num_anchors = 9
train.output_dir = "./output/ablations/retinanet_A9_iou_R_50_FPN_1x"
