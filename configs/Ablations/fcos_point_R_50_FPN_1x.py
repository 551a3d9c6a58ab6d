"""Tables 2 and 3, FCOS (37.8 AP): the spatial and scale constraint with point regression."""
from .fcos_box_R_50_FPN_1x import dataloader, lr_multiplier, model, optimizer, train

model.regression_type = "point"
train.output_dir = "./output/ablations/fcos_point_R_50_FPN_1x"
