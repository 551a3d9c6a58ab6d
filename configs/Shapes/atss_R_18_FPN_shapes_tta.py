"""
The shapes model of the long recipe (``atss_R_18_FPN_shapes_long.py``, whose finest level has
stride 8) evaluated with multi-scale and flip testing and
soft box voting, scaled to its images: they are 96-128 px a side and the model trained at that
size only, so the test keeps the native size (0: no resize, the plain test) and adds upscaled
passes (1.5-2.7x) that keep only detections below 48 px there (18-32 px in the image): the small
objects, which the native pass misses most (the way the official COCO scales
1100-1800 keep only boxes below 256-96 px). Evaluates that model, once trained, beside the plain
test:

    python train_net.py --config-file configs/Shapes/atss_R_18_FPN_shapes_tta.py --eval-only \\
        --compare-plain
"""
from ..common.test import test
from .atss_R_18_FPN_shapes_long import dataloader, lr_multiplier, model, optimizer, train

test.aug.enabled = True
test.aug.min_sizes = [0, 192, 256]
test.aug.max_sizes = [1333, 1333, 1333]
test.aug.size_ranges = [[0, float("inf")], [0, 48], [0, 48]]

train.init_checkpoint = "./output/atss_R_18_FPN_shapes_long/model_final.pth"
train.output_dir = "./output/atss_R_18_FPN_shapes_tta"
