"""
A tiny training run of train_net.py for the tests: the shapes config on generated splits of a
few 64x64 images, batch 2, 6 iterations, a checkpoint every 3 (a few seconds an iteration).
"""

import os
import subprocess
import sys
from pathlib import Path

from atss.data import ShapesSpec, generate_shapes

ROOT = Path(__file__).resolve().parents[1]
TINY_CONFIG = "tiny.py"

_CONFIG_TEXT = '''
import os

from detectron2.config import LazyConfig
from detectron2.data import DatasetCatalog

from atss.data import register_coco_instances_checked

for split in ("tiny_train", "tiny_val"):
    if split not in DatasetCatalog.list():
        root = os.path.join(os.environ["ATSS_TINY_ROOT"], split)
        register_coco_instances_checked(
            split, {}, os.path.join(root, "annotations.json"), os.path.join(root, "images")
        )
_cfg = LazyConfig.load(
    os.path.join(os.environ["ATSS_REPO"], "configs/Shapes/atss_R_18_FPN_shapes.py")
)
model, optimizer, lr_multiplier, train, dataloader = (
    _cfg.model, _cfg.optimizer, _cfg.lr_multiplier, _cfg.train, _cfg.dataloader
)
dataloader.train.dataset.names = "tiny_train"
dataloader.test.dataset.names = "tiny_val"
dataloader.train.total_batch_size = 2
dataloader.train.num_workers = 0
dataloader.test.num_workers = 0
train.max_iter = 6
train.eval_period = 6
train.checkpointer.period = 3
train.log_period = 1
# A model trained for a few iterations scores below the config's 0.05: keep every detection, so
# that the evaluator gets some and prints its table.
model.inference.score_thresh = 0.0
'''


def tiny_run_env(directory: Path) -> dict:
    """Write the splits and ``TINY_CONFIG`` into ``directory``; the environment to run it."""
    for split, seed in (("tiny_train", 0), ("tiny_val", 1)):
        generate_shapes(
            str(directory / "data" / split),
            ShapesSpec(num_images=6, seed=seed, min_image_side=64, max_image_side=80),
        )
    (directory / TINY_CONFIG).write_text(_CONFIG_TEXT)
    return dict(
        os.environ,
        ATSS_TINY_ROOT=str(directory / "data"),
        ATSS_REPO=str(ROOT),
        CUDA_VISIBLE_DEVICES="",
    )


def run_train_net(env: dict, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """``python train_net.py *args`` from the repository root, stdout and stderr together."""
    return subprocess.run(
        [sys.executable, "train_net.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )


def run_refused(*args: str) -> subprocess.CompletedProcess:
    """A script run from the repository root on the CPU that must stop with an error message,
    not a traceback (stdout and stderr together in ``stdout``)."""
    proc = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=dict(os.environ, CUDA_VISIBLE_DEVICES=""),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert "Traceback" not in proc.stdout, proc.stdout[-3000:]
    return proc
