"""Table 1, RetinaNet (#A=1) + GroupNorm in the head towers (33.4 AP)."""
from .retinanet_A1_R_50_FPN_1x import dataloader, lr_multiplier, model, optimizer, train

model.head.norm = "GN"
train.output_dir = "./output/ablations/retinanet_A1_gn_R_50_FPN_1x"
