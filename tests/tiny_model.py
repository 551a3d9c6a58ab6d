"""A small ATSS for fast tests: a few strided convs as backbone, five levels, 64 channels."""
from typing import Dict
import torch
from torch import nn

from detectron2.layers import ShapeSpec
from detectron2.modeling import Backbone
from detectron2.structures import Boxes, Instances

from atss import ATSS, ATSSAnchorGenerator, ATSSHead

STRIDES = [8, 16, 32, 64, 128]
CHANNELS = 64
SIZE = 128  # image side of ``sample``: levels of 16, 8, 4, 2 and 1 locations


class TinyBackbone(Backbone):
    """Strided 3x3 convs; p3-p7 at strides 8-128."""

    def __init__(self, channels: int = CHANNELS):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, channels, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.stages = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels, channels, 3, stride=2, padding=1), nn.ReLU())
            for _ in STRIDES
        )
        self.names = [f"p{i}" for i in range(3, 8)]

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        x = self.stem(x)
        out = {}
        for name, stage in zip(self.names, self.stages):
            x = stage(x)
            out[name] = x
        return out

    def output_shape(self):
        return {n: ShapeSpec(channels=CHANNELS, stride=s) for n, s in zip(self.names, STRIDES)}


def tiny_atss(num_classes: int = 2, num_anchors_cfg=None, **kwargs) -> ATSS:
    anchor_kwargs = num_anchors_cfg or {}
    anchor_generator = ATSSAnchorGenerator(strides=STRIDES, **anchor_kwargs)
    head = ATSSHead(
        input_shape=[ShapeSpec(channels=CHANNELS, stride=s) for s in STRIDES],
        num_classes=num_classes,
        num_anchors=anchor_generator.num_cell_anchors[0],
        regression_type=kwargs.get("regression_type", "box"),
    )
    return ATSS(
        backbone=TinyBackbone(),
        head=head,
        anchor_generator=anchor_generator,
        num_classes=num_classes,
        pixel_mean=[128.0, 128.0, 128.0],
        pixel_std=[64.0, 64.0, 64.0],
        **kwargs,
    )


def sample(boxes, classes, size: int = SIZE) -> Dict:
    """
    A training input: a dark image with each box painted bright in a channel chosen by its
    class, and its ground truth.
    """
    image = torch.full((3, size, size), 30.0)
    for (x1, y1, x2, y2), c in zip(boxes, classes):
        image[c % 3, int(y1) : int(y2), int(x1) : int(x2)] = 220.0
    instances = Instances((size, size))
    instances.gt_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    instances.gt_classes = torch.tensor(classes, dtype=torch.long)
    return {"image": image, "instances": instances}
