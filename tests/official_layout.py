"""
Synthetic checkpoints laid out as the authors' ATSS code (maskrcnn-benchmark) saves them, written
from the official module structure (``atss_core/modeling/backbone/resnet.py``, ``fpn.py``,
``rpn/atss/atss.py``, ``layers/misc.py``'s DFConv2d) independently of the converter, with random
values. Pure torch.
"""
from typing import Dict, Sequence
import torch
from torch import Tensor

STRIDES = (8, 16, 32, 64, 128)
BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}


def official_state_dict(
    *,
    depth: int = 50,
    num_groups: int = 1,
    width_per_group: int = 64,
    stem_channels: int = 64,
    fpn_channels: int = 256,
    deform_on_per_stage: Sequence[bool] = (False, False, False, False),
    dcn_in_tower: bool = False,
    num_classes: int = 80,
    num_convs: int = 4,
    seed: int = 0,
) -> Dict[str, Tensor]:
    """
    The state dict of an official ATSS model. ``stem_channels`` sets the trunk's widths
    (the official 64 gives res2-res5 outputs 256-2048); smaller ones make tiny checkpoints.
    """
    gen = torch.Generator().manual_seed(seed)
    sd: Dict[str, Tensor] = {}

    def conv(name: str, out_c: int, in_c: int, k: int, bias: bool) -> None:
        sd[f"{name}.weight"] = torch.randn(out_c, in_c, k, k, generator=gen) * 0.01
        if bias:
            sd[f"{name}.bias"] = torch.randn(out_c, generator=gen) * 0.01

    def frozen_bn(name: str, c: int) -> None:
        sd[f"{name}.weight"] = torch.rand(c, generator=gen) + 0.5
        sd[f"{name}.bias"] = torch.randn(c, generator=gen)
        sd[f"{name}.running_mean"] = torch.randn(c, generator=gen)
        sd[f"{name}.running_var"] = torch.rand(c, generator=gen) + 0.01

    conv("backbone.body.stem.conv1", stem_channels, 3, 7, False)
    frozen_bn("backbone.body.stem.bn1", stem_channels)
    in_c = stem_channels
    for stage, num_blocks in enumerate(BLOCKS[depth]):
        bottleneck = num_groups * width_per_group * 2**stage
        out_c = stem_channels * 4 * 2**stage
        for b in range(num_blocks):
            p = f"backbone.body.layer{stage + 1}.{b}"
            if in_c != out_c:
                conv(f"{p}.downsample.0", out_c, in_c, 1, False)
                frozen_bn(f"{p}.downsample.1", out_c)
            conv(f"{p}.conv1", bottleneck, in_c, 1, False)
            frozen_bn(f"{p}.bn1", bottleneck)
            if deform_on_per_stage[stage]:
                conv(f"{p}.conv2.offset", 27, bottleneck, 3, True)
                conv(f"{p}.conv2.conv", bottleneck, bottleneck // num_groups, 3, False)
            else:
                conv(f"{p}.conv2", bottleneck, bottleneck // num_groups, 3, False)
            frozen_bn(f"{p}.bn2", bottleneck)
            conv(f"{p}.conv3", out_c, bottleneck, 1, False)
            frozen_bn(f"{p}.bn3", out_c)
            in_c = out_c
    # in_channels_list [0, C3, C4, C5]: blocks numbered from 1, C2's absent.
    for idx, stage_channels in zip((2, 3, 4), (8, 16, 32)):
        channels = stem_channels * stage_channels
        conv(f"backbone.fpn.fpn_inner{idx}", fpn_channels, channels, 1, True)
        conv(f"backbone.fpn.fpn_layer{idx}", fpn_channels, fpn_channels, 3, True)
    conv("backbone.fpn.top_blocks.p6", fpn_channels, fpn_channels, 3, True)
    conv("backbone.fpn.top_blocks.p7", fpn_channels, fpn_channels, 3, True)
    for tower in ("cls_tower", "bbox_tower"):
        for i in range(num_convs):
            p = f"rpn.head.{tower}.{3 * i}"
            if dcn_in_tower and i == num_convs - 1:
                conv(f"{p}.offset", 27, fpn_channels, 3, True)
                conv(f"{p}.conv", fpn_channels, fpn_channels, 3, True)
            else:
                conv(p, fpn_channels, fpn_channels, 3, True)
            sd[f"rpn.head.{tower}.{3 * i + 1}.weight"] = torch.rand(fpn_channels, generator=gen)
            sd[f"rpn.head.{tower}.{3 * i + 1}.bias"] = torch.randn(fpn_channels, generator=gen)
    conv("rpn.head.cls_logits", num_classes, fpn_channels, 3, True)
    conv("rpn.head.bbox_pred", 4, fpn_channels, 3, True)
    conv("rpn.head.centerness", 1, fpn_channels, 3, True)
    for level in range(len(STRIDES)):
        sd[f"rpn.head.scales.{level}.scale"] = torch.rand(1, generator=gen) + 0.5
    for level, s in enumerate(STRIDES):
        # generate_anchors: centre S / 2 of the index frame, side 8S spanning x2 - x1 + 1.
        half = 0.5 * (8 * s - 1)
        sd[f"rpn.anchor_generator.cell_anchors.{level}"] = torch.tensor(
            [[s / 2 - half, s / 2 - half, s / 2 + half, s / 2 + half]]
        )
    return sd


def tiny(**kwargs) -> Dict[str, Tensor]:
    """A small official-layout state dict (8-channel stem, 32-channel FPN) for fast tests."""
    return official_state_dict(
        stem_channels=8, width_per_group=kwargs.pop("width_per_group", 8), fpn_channels=32, **kwargs
    )
