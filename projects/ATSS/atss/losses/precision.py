"""Mixed precision: the losses compute in at least float32 whatever type the head outputs have."""
import torch
from torch import Tensor

__all__ = ["at_least_float32"]


def at_least_float32(x: Tensor) -> Tensor:
    """
    ``x`` upcast to float32 if it has a narrower floating-point type (float16 and bfloat16, as
    head outputs under autocast); float32, float64 and integer tensors are returned unchanged.
    The cast is differentiable: gradients flow back in the type of ``x``.
    """
    # Written for TorchScript too: the scripted inference (atss.export) decodes boxes through it.
    if x.dtype == torch.float16 or x.dtype == torch.bfloat16:
        return x.float()
    return x
