"""The modulated deformable convolution of the dcnv2 configs runs under the CPU's bfloat16 autocast
(torchvision's CPU kernel has none of its own) and gives the float32 result there."""

import torch

from atss.layers.deform_conv import ModulatedDeformConv2d


def test_runs_under_cpu_bfloat16_autocast_with_the_float32_result():
    torch.manual_seed(0)
    layer = ModulatedDeformConv2d(8, 4)
    torch.nn.init.normal_(layer.conv_offset.weight, std=0.1)  # offsets away from the grid
    x = torch.randn(2, 8, 9, 11)
    expected = layer(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        actual = layer(x)
    assert actual.dtype == torch.float32
    # Only the offset convolution runs in bfloat16 under autocast.
    torch.testing.assert_close(actual, expected, atol=0.05, rtol=0.05)
