"""
Backbones of the official ATSS models: ResNet and ResNeXt trunks, optionally with modulated
deformable convolutions (DCNv2) in chosen stages, under an FPN with P3-P7 where P6/P7 come from P5.

detectron2's ``ResNet.make_default_stages`` gives every stage ``out_channels // 4`` bottleneck
channels, which is right for ResNet but not ResNeXt, and its ``DeformBottleneckBlock`` runs only on
CUDA. :func:`make_resnet_stages` builds both (the deformable 3x3 uses
:class:`atss.layers.ModulatedDeformConv2d`, which also runs on CPU);
``build_atss_resnet_fpn_backbone`` does the same for YAML configs.
"""

from typing import List, Optional, Sequence
from fvcore.nn import weight_init

from detectron2.config import CfgNode
from detectron2.layers import CNNBlockBase, ShapeSpec, get_norm
from detectron2.modeling.backbone import BACKBONE_REGISTRY, FPN, BasicStem, ResNet
from detectron2.modeling.backbone.fpn import LastLevelP6P7
from detectron2.modeling.backbone.resnet import BasicBlock, BottleneckBlock

from ..layers.deform_conv import ModulatedDeformConv2d

__all__ = [
    "ModulatedDeformBottleneckBlock",
    "make_resnet_stages",
    "build_atss_resnet_fpn_backbone",
]

_BLOCKS_PER_STAGE = {
    18: [2, 2, 2, 2],
    34: [3, 4, 6, 3],
    50: [3, 4, 6, 3],
    101: [3, 4, 23, 3],
    152: [3, 8, 36, 3],
}


class ModulatedDeformBottleneckBlock(BottleneckBlock):
    """
    detectron2's :class:`BottleneckBlock` whose 3x3 convolution is a modulated deformable one
    (DCNv2, one deformable group by default, as in the official dcnv2 models). Its offsets start
    at zero, so the block starts as a plain bottleneck.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        bottleneck_channels: int,
        stride: int = 1,
        num_groups: int = 1,
        norm: str = "BN",
        stride_in_1x1: bool = False,
        dilation: int = 1,
        deform_num_groups: int = 1,
    ):
        super().__init__(
            in_channels,
            out_channels,
            bottleneck_channels=bottleneck_channels,
            stride=stride,
            num_groups=num_groups,
            norm=norm,
            stride_in_1x1=stride_in_1x1,
            dilation=dilation,
        )
        self.conv2 = ModulatedDeformConv2d(
            bottleneck_channels,
            bottleneck_channels,
            kernel_size=3,
            stride=1 if stride_in_1x1 else stride,
            padding=dilation,
            dilation=dilation,
            groups=num_groups,
            deformable_groups=deform_num_groups,
            bias=False,
            norm=get_norm(norm, bottleneck_channels),
        )
        weight_init.c2_msra_fill(self.conv2)


def make_resnet_stages(
    depth: int,
    *,
    num_groups: int = 1,
    width_per_group: int = 64,
    stride_in_1x1: bool = True,
    norm: str = "FrozenBN",
    deform_on_per_stage: Sequence[bool] = (False, False, False, False),
    deform_num_groups: int = 1,
    stem_out_channels: int = 64,
    res2_out_channels: Optional[int] = None,
    res5_dilation: int = 1,
) -> List[List[CNNBlockBase]]:
    """
    The stages res2-res5 of a ResNet (``num_groups=1``) or ResNeXt, for
    :class:`detectron2.modeling.backbone.ResNet`. Stage i (0 for res2) has
    ``num_groups * width_per_group * 2**i`` bottleneck channels and ``res2_out_channels * 2**i``
    outputs.

    Args:
        depth: 18, 34 (basic blocks), 50, 101 or 152 (bottleneck blocks).
        num_groups, width_per_group: ResNeXt's cardinality and group width, e.g. 32 and 8
            for X-101-32x8d; 1 and 64 give ResNet.
        stride_in_1x1: put a block's stride in its first 1x1 conv (MSRA ResNet weights) instead
            of the 3x3 (ResNeXt and torchvision weights).
        norm: see :func:`detectron2.layers.get_norm`.
        deform_on_per_stage: which of res2-res5 use modulated deformable 3x3 convolutions.
        deform_num_groups: deformable groups of those convolutions.
        stem_out_channels: channels coming from the stem.
        res2_out_channels: outputs of res2, doubled at each later stage; by default 64 for basic
            blocks and 256 for bottleneck blocks, as in ResNet (the quick-start shapes model uses
            a ResNet-18 with 16).
        res5_dilation: 1, or 2 to keep res5 at stride 16.
    """
    if depth not in _BLOCKS_PER_STAGE:
        raise ValueError(f"ResNet depth must be one of {sorted(_BLOCKS_PER_STAGE)}, got {depth}.")
    if len(deform_on_per_stage) != 4:
        raise ValueError(
            f"deform_on_per_stage needs one flag for each of res2-res5, got {deform_on_per_stage}."
        )
    if res5_dilation not in (1, 2):
        raise ValueError(f"res5_dilation must be 1 or 2, got {res5_dilation}.")
    basic = depth < 50
    if basic and (num_groups != 1 or any(deform_on_per_stage) or res5_dilation != 1):
        raise ValueError(
            f"ResNet-{depth} (basic blocks) supports neither groups, deformable stages nor "
            f"dilation; got num_groups={num_groups}, deform_on_per_stage={deform_on_per_stage}, "
            f"res5_dilation={res5_dilation}."
        )

    if res2_out_channels is None:
        res2_out_channels = 64 if basic else 256
    stages = []
    in_channels = stem_out_channels
    for i, num_blocks in enumerate(_BLOCKS_PER_STAGE[depth]):
        dilation = res5_dilation if i == 3 else 1
        first_stride = 1 if i == 0 or dilation == 2 else 2
        out_channels = res2_out_channels * 2**i
        kwargs = {"stride_per_block": [first_stride] + [1] * (num_blocks - 1), "norm": norm}
        if basic:
            block_class = BasicBlock
        else:
            kwargs.update(
                bottleneck_channels=num_groups * width_per_group * 2**i,
                num_groups=num_groups,
                stride_in_1x1=stride_in_1x1,
                dilation=dilation,
            )
            if deform_on_per_stage[i]:
                block_class = ModulatedDeformBottleneckBlock
                kwargs["deform_num_groups"] = deform_num_groups
            else:
                block_class = BottleneckBlock
        stages.append(
            ResNet.make_stage(
                block_class,
                num_blocks,
                in_channels=in_channels,
                out_channels=out_channels,
                **kwargs,
            )
        )
        in_channels = out_channels
    return stages


@BACKBONE_REGISTRY.register()
def build_atss_resnet_fpn_backbone(cfg: CfgNode, input_shape: ShapeSpec) -> FPN:
    """
    ResNet/ResNeXt (``cfg.MODEL.RESNETS``, deformable stages by ``DEFORM_ON_PER_STAGE``) under an
    FPN (``cfg.MODEL.FPN``) whose P6 and P7 are computed from P5, as in the official ATSS (and
    FCOS) code, rather than from C5 as in RetinaNet.
    """
    r = cfg.MODEL.RESNETS
    if any(r.DEFORM_ON_PER_STAGE) and not r.DEFORM_MODULATED:
        raise ValueError(
            "Only modulated deformable convolutions (DCNv2) are implemented; set "
            "MODEL.RESNETS.DEFORM_MODULATED True."
        )
    res2_channels = 64 if r.DEPTH < 50 else 256
    if r.RES2_OUT_CHANNELS != res2_channels:
        raise ValueError(
            f"ResNet-{r.DEPTH} needs MODEL.RESNETS.RES2_OUT_CHANNELS {res2_channels}, "
            f"got {r.RES2_OUT_CHANNELS}."
        )
    bottom_up = ResNet(
        BasicStem(input_shape.channels, r.STEM_OUT_CHANNELS, norm=r.NORM),
        make_resnet_stages(
            r.DEPTH,
            num_groups=r.NUM_GROUPS,
            width_per_group=r.WIDTH_PER_GROUP,
            stride_in_1x1=r.STRIDE_IN_1X1,
            norm=r.NORM,
            deform_on_per_stage=r.DEFORM_ON_PER_STAGE,
            deform_num_groups=r.DEFORM_NUM_GROUPS,
            stem_out_channels=r.STEM_OUT_CHANNELS,
            res5_dilation=r.RES5_DILATION,
        ),
        out_features=r.OUT_FEATURES,
        freeze_at=cfg.MODEL.BACKBONE.FREEZE_AT,
    )
    out_channels = cfg.MODEL.FPN.OUT_CHANNELS
    return FPN(
        bottom_up=bottom_up,
        in_features=cfg.MODEL.FPN.IN_FEATURES,
        out_channels=out_channels,
        norm=cfg.MODEL.FPN.NORM,
        top_block=LastLevelP6P7(out_channels, out_channels, in_feature="p5"),
        fuse_type=cfg.MODEL.FPN.FUSE_TYPE,
    )
