"""
Table 7, "+Imprs.+ATSS" with 3 scales x 3 ratios (39.2 AP): nine anchors per location, positives by
ATSS. The rows with one scale or one ratio are overrides, e.g.
``model.anchor_generator.aspect_ratios=[1.0] model.head.num_anchors=3``.
"""
from ..ATSS.atss_R_50_FPN_1x import dataloader, lr_multiplier, model, optimizer, train

model.anchor_generator.anchor_scale = 4.0
model.anchor_generator.scales_per_octave = 3
model.anchor_generator.aspect_ratios = [0.5, 1.0, 2.0]
model.head.num_anchors = 9
train.output_dir = "./output/ablations/retinanet_A9_atss_R_50_FPN_1x"
