"""
The official schedules: LR x0.1 at two steps, after a warmup that holds the LR at 1/3 for the
first 500 iterations (WARMUP_METHOD "constant", WARMUP_FACTOR 1/3, WARMUP_ITERS 500).
"""
from fvcore.common.param_scheduler import MultiStepParamScheduler

from detectron2.config import LazyCall as L
from detectron2.solver import WarmupParamScheduler


def multistep_with_warmup(max_iter, steps):
    return L(WarmupParamScheduler)(
        scheduler=L(MultiStepParamScheduler)(
            values=[1.0, 0.1, 0.01], milestones=[*steps, max_iter]
        ),
        warmup_length=500 / max_iter,
        warmup_method="constant",
        warmup_factor=1.0 / 3,
    )


lr_multiplier_1x = multistep_with_warmup(90000, [60000, 80000])
lr_multiplier_2x = multistep_with_warmup(180000, [120000, 160000])
