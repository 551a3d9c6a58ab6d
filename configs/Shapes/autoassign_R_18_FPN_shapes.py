"""
AutoAssign trained from scratch on the synthetic shapes dataset with everything of the quick start
``atss_R_18_FPN_shapes.py`` but the detector: its data, trunk, FPN P2-P4, head width, optimizer,
schedule, seed and evaluation, so that the two compare side by side:
``python train_net.py --config-file configs/Shapes/autoassign_R_18_FPN_shapes.py``.
"""
from ..common.models.autoassign import model
from .atss_R_18_FPN_shapes import dataloader, lr_multiplier, optimizer, train
from .atss_R_18_FPN_shapes import model as atss

for key in ("backbone", "head_in_features", "num_classes", "pixel_mean", "pixel_std"):
    model[key] = atss[key]
model.head.input_shape = atss.head.input_shape

train.output_dir = "./output/autoassign_R_18_FPN_shapes"
