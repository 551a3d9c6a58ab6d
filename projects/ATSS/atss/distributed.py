"""Averaging over the processes of a distributed run, in pure torch."""

import torch.distributed as dist
from torch import Tensor

__all__ = ["reduce_mean"]


def reduce_mean(x: Tensor) -> Tensor:
    """
    The mean of ``x`` over the processes (``x`` itself in a single process), as the official code
    averages its loss normalisers (``reduce_sum(...) / num_gpus`` in ``atss_core/modeling/rpn/
    atss/loss.py``). Not differentiable: it is for normalisers.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    x = x.clone()
    dist.all_reduce(x)
    return x / dist.get_world_size()
