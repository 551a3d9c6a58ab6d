"""Table 3, FCOS + ATSS (39.2 AP): ATSS positives from 8S anchor boxes, point regression."""
from ..ATSS.atss_R_50_FPN_1x import dataloader, lr_multiplier, model, optimizer, train

model.regression_type = "point"
train.output_dir = "./output/ablations/atss_point_R_50_FPN_1x"
