"""DistributedDataParallel for CUDA and CPU (gloo) processes alike."""

import torch
from torch.nn.parallel import DistributedDataParallel

from detectron2.utils import comm

__all__ = ["create_ddp_model"]


def create_ddp_model(model, *, fp16_compression: bool = False, **kwargs):
    """
    detectron2's ``create_ddp_model``, except that a model on the CPU gets no ``device_ids``
    (detectron2 passes the local rank as a CUDA device, which DDP rejects for CPU modules), so
    ``--num-gpus N`` trains N CPU processes over gloo on a machine without CUDA. Those processes
    share the machine's cores: each keeps its share of the intra-op threads, as ``torchrun`` does,
    because more busy OpenMP threads than cores make every one of them wait (docs/benchmarks.md).
    """
    if comm.get_world_size() == 1:
        return model
    on_cuda = next(model.parameters()).is_cuda
    if on_cuda and "device_ids" not in kwargs:
        kwargs["device_ids"] = [comm.get_local_rank()]
    if not on_cuda:
        torch.set_num_threads(max(1, torch.get_num_threads() // comm.get_local_size()))
    ddp = DistributedDataParallel(model, **kwargs)
    if fp16_compression:
        from torch.distributed.algorithms.ddp_comm_hooks import default as comm_hooks

        ddp.register_comm_hook(state=None, hook=comm_hooks.fp16_compress_hook)
    return ddp
