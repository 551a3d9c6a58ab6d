import torch
from torch import nn
from torchvision.ops import DeformConv2d, deform_conv2d

__all__ = ["ModulatedDeformConv2d"]


class ModulatedDeformConv2d(DeformConv2d):
    """
    Modulated deformable convolution (DCNv2) that predicts its own offsets and masks, built on
    torchvision's ``deform_conv2d`` so it runs on CPU and CUDA (detectron2's own deformable
    convolution is CUDA-only). The kernel is this module's own ``weight`` and ``bias``, named as
    in a plain convolution, so ImageNet checkpoints of a plain 3x3 conv load into it. The
    offset/mask predictor starts at zero: at initialisation the layer is a plain convolution with
    every tap weighted by sigmoid(0) = 0.5, as in DCNv2.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int = 1,
        dilation: int = 1,
        groups: int = 1,
        deformable_groups: int = 1,
        bias: bool = True,
        norm: nn.Module = None,
        activation=None,
    ):
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            bias=bias,
        )
        self._taps = deformable_groups * kernel_size * kernel_size
        self.conv_offset = nn.Conv2d(
            in_channels,
            3 * self._taps,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
        )
        nn.init.zeros_(self.conv_offset.weight)
        nn.init.zeros_(self.conv_offset.bias)
        self.norm = norm
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        offset, mask = self.conv_offset(x).split([2 * self._taps, self._taps], dim=1)
        # torchvision's CPU kernel has no bfloat16 variant: under the CPU's bfloat16 autocast
        # (atss.config.precision) the deformable convolution runs in float32, as torchvision's own
        # autocast rule runs it on CUDA. A no-op in float32.
        x, offset, mask = x.float(), offset.float(), mask.float()
        # torchvision's function rather than super().forward, which TorchScript cannot compile.
        x = deform_conv2d(
            x,
            offset,
            self.weight,
            self.bias,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            mask=mask.sigmoid(),
        )
        if self.norm is not None:
            x = self.norm(x)
        if self.activation is not None:
            x = self.activation(x)
        return x
