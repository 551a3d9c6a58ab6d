from .deform_conv import ModulatedDeformConv2d
