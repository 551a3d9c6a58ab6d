"""
The shapes model trains BatchNorm with synchronised batch statistics (detectron2's
``NaiveSyncBatchNorm``, over gloo on CPUs): 2 processes with one image each compute the losses and
the BatchNorm statistics of 1 process with both images. The running variances agree after
Bessel's correction, which ``NaiveSyncBatchNorm`` leaves out of its update when it synchronises
(and ``torch.nn.BatchNorm2d`` applies in one process). The gradients that flow back through the
synchronised statistics differ by up to about 1% of the largest (docs/getting_started.md).
"""

import os
import pytest

pytestmark = [pytest.mark.detectron2, pytest.mark.slow]  # subprocesses of a few seconds each
pytest.importorskip("detectron2", reason="detectron2 not installed")

import torch  # noqa: E402

from detectron2.engine import launch  # noqa: E402
from detectron2.layers import NaiveSyncBatchNorm  # noqa: E402
from detectron2.utils import comm  # noqa: E402
from detectron2.utils.events import EventStorage  # noqa: E402

from atss.config import build_model, load_config  # noqa: E402
from atss.engine.ddp import create_ddp_model  # noqa: E402
from tiny_model import sample  # noqa: E402
from tiny_run import ROOT  # noqa: E402

SHAPES_CONFIG = str(ROOT / "configs/Shapes/atss_R_18_FPN_shapes.py")
STEPS = 1
IMAGES = [
    sample([[8, 12, 60, 50]], [0], size=96),
    sample([[20, 20, 90, 88], [4, 50, 30, 80]], [1, 3], size=96),
]


def train_steps(batch):
    """Losses of STEPS SGD steps on ``batch``, then the BN running statistics."""
    torch.manual_seed(0)
    model = build_model(load_config(SHAPES_CONFIG), device="cpu")
    counts = {}
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            # Elements per channel of the whole batch, over all processes.
            module.register_forward_pre_hook(
                lambda m, x, name=name: counts.__setitem__(
                    name, x[0].numel() // x[0].shape[1] * comm.get_world_size()
                )
            )
    model = create_ddp_model(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    losses = []
    with EventStorage():
        for _ in range(STEPS):
            optimizer.zero_grad()
            step = model(batch)
            sum(step.values()).backward()
            optimizer.step()
            losses.append({k: v.detach() for k, v in step.items()})
    module = model.module if hasattr(model, "module") else model
    stats = {
        n: (m.running_mean.clone(), m.running_var.clone(), m.momentum)
        for n, m in module.named_modules()
        if isinstance(m, torch.nn.BatchNorm2d)
    }
    return losses, stats, counts


def _distributed(out_dir):
    rank = comm.get_rank()
    torch.save(train_steps([IMAGES[rank]]), os.path.join(out_dir, f"rank{rank}.pth"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("sync_bn")
    launch(_distributed, 2, dist_url="auto", args=(str(out),))
    two = [torch.load(out / f"rank{r}.pth", weights_only=False) for r in range(2)]
    return two, train_steps(IMAGES)


def test_the_shapes_model_synchronises_its_batch_norm():
    model = build_model(load_config(SHAPES_CONFIG), device="cpu")
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(isinstance(m, NaiveSyncBatchNorm) for m in norms)


def test_two_processes_have_the_losses_of_one_with_the_whole_batch(runs):
    two, (losses, *_) = runs
    for step, expected in enumerate(losses):
        for name, value in expected.items():
            mean = torch.stack([r[0][step][name] for r in two]).mean()
            torch.testing.assert_close(mean, value, rtol=1e-4, atol=1e-5)


def test_two_processes_have_the_batch_norm_statistics_of_one(runs):
    two, (_, stats, counts) = runs
    for name, (mean, var, momentum) in stats.items():
        two_mean, two_var, _ = two[0][1][name]
        torch.testing.assert_close(two_mean, mean, rtol=1e-4, atol=1e-5)
        # running_var = (1 - m) * 1 + m * var after one step, with the batch variance var unbiased
        # in one process and biased (times (n - 1) / n) in two.
        decay = (1 - momentum) ** STEPS
        bessel = counts[name] / (counts[name] - 1)
        torch.testing.assert_close((two_var - decay) * bessel + decay, var, rtol=1e-3, atol=1e-5)
