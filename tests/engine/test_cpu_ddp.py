"""
Distributed training on CPUs over gloo: 2 processes with one image each compute the same losses
and (all-reduced) gradients as one process with both images, which checks that the loss
normalisers are averaged over processes; the processes split the cores' threads between them;
``train_net.py --num-gpus 2`` trains without CUDA.
"""

import json
import os
import pytest

pytestmark = pytest.mark.detectron2
pytest.importorskip("detectron2", reason="detectron2 not installed")

import torch  # noqa: E402

from detectron2.engine import launch  # noqa: E402
from detectron2.structures import Boxes, Instances  # noqa: E402
from detectron2.utils import comm  # noqa: E402
from detectron2.utils.events import EventStorage  # noqa: E402

from atss.engine import create_ddp_model  # noqa: E402
from tiny_model import tiny_atss  # noqa: E402
from tiny_run import TINY_CONFIG, run_train_net, tiny_run_env  # noqa: E402


def images():
    """Two 64x64 images with different numbers of objects (so, of positives)."""
    generator = torch.Generator().manual_seed(0)
    out = []
    for boxes in ([[4.0, 6.0, 40.0, 30.0]], [[10.0, 10.0, 60.0, 58.0], [2.0, 30.0, 20.0, 50.0]]):
        instances = Instances((64, 64))
        instances.gt_boxes = Boxes(torch.tensor(boxes))
        instances.gt_classes = torch.arange(len(boxes)) % 2
        image = torch.rand(3, 64, 64, generator=generator) * 255
        out.append({"image": image, "instances": instances})
    return out


def losses_and_gradients(batch):
    """Losses of one training step on ``batch`` and the (all-reduced under DDP) gradients."""
    torch.manual_seed(0)
    model = create_ddp_model(tiny_atss())
    with EventStorage():
        losses = model(batch)
    sum(losses.values()).backward()
    module = model.module if hasattr(model, "module") else model
    grads = {name: p.grad.clone() for name, p in module.named_parameters()}
    return {k: v.detach() for k, v in losses.items()}, grads


def _distributed_step(out_dir):
    rank = comm.get_rank()
    assert comm.get_world_size() == 2
    losses, grads = losses_and_gradients([images()[rank]])
    torch.save({"losses": losses, "grads": grads}, os.path.join(out_dir, f"rank{rank}.pth"))


def test_two_cpu_processes_with_one_image_each_match_one_process_with_both(tmp_path):
    launch(_distributed_step, 2, dist_url="auto", args=(str(tmp_path),))
    ranks = [torch.load(tmp_path / f"rank{r}.pth", weights_only=False) for r in range(2)]
    losses, grads = losses_and_gradients(images())
    for name, value in losses.items():
        per_process = torch.stack([r["losses"][name] for r in ranks])
        # Each process normalises by the mean over processes of the normaliser (e.g. positives),
        # so the processes' mean loss is the single process's loss.
        torch.testing.assert_close(per_process.mean(), value, rtol=1e-5, atol=1e-6)
    for r in ranks:
        # DDP averaged the gradients over the processes: each holds the same.
        for name, grad in grads.items():
            torch.testing.assert_close(r["grads"][name], grad, rtol=1e-4, atol=1e-6)


def _threads_around_ddp(out_dir):
    before = torch.get_num_threads()
    create_ddp_model(tiny_atss())
    with open(os.path.join(out_dir, f"rank{comm.get_rank()}.json"), "w") as f:
        json.dump([before, torch.get_num_threads()], f)


def test_two_cpu_processes_share_the_cores_between_their_threads(tmp_path):
    launch(_threads_around_ddp, 2, dist_url="auto", args=(str(tmp_path),))
    for rank in range(2):
        before, after = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert after == max(1, before // 2)


@pytest.mark.slow
def test_num_gpus_2_trains_on_a_machine_without_cuda(tmp_path):
    env = tiny_run_env(tmp_path)
    out = tmp_path / "out"
    proc = run_train_net(
        env,
        "--config-file",
        str(tmp_path / TINY_CONFIG),
        "--num-gpus",
        "2",
        "train.max_iter=2",
        f"train.output_dir={out}",
    )
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert "World size: 2" in proc.stdout and "Evaluation results for bbox" in proc.stdout
    with open(out / "metrics.json") as f:
        assert 1 in [json.loads(line)["iteration"] for line in f if '"total_loss"' in line]
    assert (out / "model_final.pth").is_file()
