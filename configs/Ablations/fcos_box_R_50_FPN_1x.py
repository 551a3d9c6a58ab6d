"""Table 2, Spatial and Scale Constraint / Box (37.8 AP): FCOS's rule, regressing from the box."""
from ..ATSS.atss_R_50_FPN_1x import dataloader, lr_multiplier, model, optimizer, train

model.assignment.rule = "fcos"
train.output_dir = "./output/ablations/fcos_box_R_50_FPN_1x"
