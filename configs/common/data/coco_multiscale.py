"""
COCO as the official 2x models train: shorter side drawn uniformly from [640, 800]
(INPUT.MIN_SIZE_RANGE_TRAIN (640, 800), i.e. detectron2's sample_style "range").
"""
from .coco import dataloader

dataloader.train.mapper.augmentations[0].short_edge_length = (640, 800)
dataloader.train.mapper.augmentations[0].sample_style = "range"
