"""
Table 7, RetinaNet (#A=9) (36.3 AP): 3 octave scales x 3 aspect ratios of 4S anchors with none of
Table 1's improvements (as retinanet_A1_R_50_FPN_1x); retinanet_A9_iou adds them all (38.4).
"""
from .retinanet_A1_R_50_FPN_1x import dataloader, lr_multiplier, model, optimizer, train

model.anchor_generator.anchor_scale = 4.0
model.anchor_generator.scales_per_octave = 3
model.anchor_generator.aspect_ratios = [0.5, 1.0, 2.0]
model.head.num_anchors = 9
train.output_dir = "./output/ablations/retinanet_A9_R_50_FPN_1x"
