"""Table 3, FCOS + center sampling (38.6 AP): the "lite" ATSS, radius 1.5 strides."""
from .fcos_point_R_50_FPN_1x import dataloader, lr_multiplier, model, optimizer, train

model.assignment.rule = "center_sampling"
model.assignment.center_sampling_radius = 1.5
train.output_dir = "./output/ablations/fcos_center_sampling_point_R_50_FPN_1x"
