"""
Every config under configs/ runs through ``train_net.py --config-file`` from start-up to the AP
table, as a user runs it: the COCO configs on a tiny generated COCO 2017 tree (``coco_tree``)
under ``DETECTRON2_DATASETS``, the shapes configs on the generated shapes dataset, the Custom
configs on a COCO JSON training set and a VOC test set given by path (``custom_data``). Configs
meant for testing (the converted official models, the test-time augmentation ones) run with
``--eval-only`` on a checkpoint of their own model.

The overrides only shrink the run (one iteration, batch 1, no workers, 64 px images, fewer test
scales), put it on the CPU, and start from no weights where a config downloads ImageNet ones.
One test case a config, so a broken config names itself.
"""

import os
import re
from pathlib import Path
from typing import List
import pytest

pytestmark = [pytest.mark.detectron2, pytest.mark.slow]
pytest.importorskip("detectron2", reason="detectron2 not installed")

import torch  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from atss.engine.defaults import build_model, load_config  # noqa: E402
from coco_tree import write_coco_tree  # noqa: E402
from custom_data import write_custom_data  # noqa: E402
from tiny_run import ROOT, run_train_net  # noqa: E402

CONFIGS = sorted(
    str(path.relative_to(ROOT))
    for path in (ROOT / "configs").rglob("*")
    if path.suffix in (".py", ".yaml") and "common" not in path.parts
)
EVAL_ONLY = re.compile(r"configs/Official/|_tta\.py$")
# Short sides of the test images: a plain test size for the resize of the COCO configs, and two
# test-time augmentation scales.
SIZE, MAX_SIZE = 64, 128


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> Path:
    """One directory for the COCO tree and the shapes dataset, made once for the module."""
    return write_coco_tree(tmp_path_factory.mktemp("datasets"))


@pytest.fixture(scope="module")
def custom_data(tmp_path_factory):
    """The user's own data for configs/Custom: a COCO JSON training set, a VOC test set."""
    return write_custom_data(tmp_path_factory.mktemp("custom"))


def custom_overrides(config: str, data, weights_dir: Path) -> List[str]:
    if config.endswith(".yaml"):
        return [
            "DATASETS.TRAIN_ANNOTATIONS", str(data["coco_train"]),
            "DATASETS.TEST_ANNOTATIONS", str(data["voc_test"]),
        ]  # fmt: skip
    overrides = [
        f"dataset.train.annotations={data['coco_train']}",
        f"dataset.test.annotations={data['voc_test']}",
    ]
    if "finetune" in config:
        # A COCO model of 80 classes stands in for the converted official checkpoint.
        weights = weights_dir / "coco_model.pth"
        model = build_model(load_config(str(ROOT / "configs/Official/atss_R_50_FPN_1x.py")), "cpu")
        torch.save({"model": model.state_dict()}, weights)
        overrides.append(f"train.init_checkpoint={weights}")
    return overrides


def _resize_overrides(cfg, loader: str) -> List[str]:
    key = f"dataloader.{loader}.mapper.augmentations"
    augmentations = OmegaConf.select(cfg, key, default=None) or []
    overrides = []
    for i, aug in enumerate(augmentations):
        if "short_edge_length" in aug:
            short = aug.short_edge_length
            sizes = f"[{SIZE},{SIZE + 16}]" if OmegaConf.is_list(short) else str(SIZE)
            overrides += [f"{key}.{i}.short_edge_length={sizes}", f"{key}.{i}.max_size={MAX_SIZE}"]
    return overrides


def lazy_overrides(cfg, output_dir: Path) -> List[str]:
    overrides = [
        "train.max_iter=1",
        f"train.output_dir={output_dir}",
        "train.device=cpu",
        "dataloader.train.total_batch_size=1",
        "dataloader.train.num_workers=0",
        "dataloader.test.num_workers=0",
    ]
    if OmegaConf.select(cfg, "train.early_stop.enabled", default=False):
        overrides.append("train.early_stop.enabled=False")  # it needs evaluations before the end
    if "://" in str(cfg.train.init_checkpoint):
        overrides.append("train.init_checkpoint=")  # a download; the tests run offline
    overrides += _resize_overrides(cfg, "train") + _resize_overrides(cfg, "test")
    if OmegaConf.select(cfg, "test.aug.enabled", default=False):
        first = cfg.test.aug.min_sizes[0]  # 0 keeps the image's size (the shapes TTA)
        overrides += [
            f"test.aug.min_sizes=[{first},{2 * SIZE}]",
            f"test.aug.max_sizes=[{MAX_SIZE},{2 * MAX_SIZE}]",
            "test.aug.size_ranges=[[0,100000],[0,48]]",
        ]
    return overrides


def yaml_overrides(output_dir: Path) -> List[str]:
    return [
        "SOLVER.MAX_ITER", "1",
        "SOLVER.IMS_PER_BATCH", "1",
        "DATALOADER.NUM_WORKERS", "0",
        "INPUT.MIN_SIZE_TRAIN", f"({SIZE},)",
        "INPUT.MAX_SIZE_TRAIN", str(MAX_SIZE),
        "INPUT.MIN_SIZE_TEST", str(SIZE),
        "INPUT.MAX_SIZE_TEST", str(MAX_SIZE),
        "MODEL.WEIGHTS", "",
        "MODEL.DEVICE", "cpu",
        "OUTPUT_DIR", str(output_dir),
    ]  # fmt: skip


def test_the_configs_are_found():
    assert len(CONFIGS) >= 40 and "configs/Shapes/atss_R_18_FPN_shapes.py" in CONFIGS


@pytest.mark.parametrize("config", CONFIGS)
def test_config_runs_end_to_end(config, datasets, custom_data, tmp_path):
    output_dir = tmp_path / "output"
    args = ["--config-file", config]
    if config.endswith(".yaml"):
        args += yaml_overrides(output_dir)
    else:
        overrides = lazy_overrides(load_config(str(ROOT / config)), output_dir)
        if EVAL_ONLY.search(config):
            # A checkpoint of the config's own model stands in for the trained weights.
            weights = tmp_path / "weights.pth"
            model = build_model(load_config(str(ROOT / config)), device="cpu")
            torch.save({"model": model.state_dict()}, weights)
            args.append("--eval-only")
            overrides.append(f"train.init_checkpoint={weights}")
        args += overrides
    if config.startswith("configs/Custom/"):
        args += custom_overrides(config, custom_data, tmp_path)
    env = dict(
        os.environ,
        DETECTRON2_DATASETS=str(datasets),
        ATSS_DATASETS=str(datasets),
        CUDA_VISIBLE_DEVICES="",
    )
    proc = run_train_net(env, *args)
    assert proc.returncode == 0, proc.stdout[-6000:]
    assert "copypaste: AP,AP50,AP75,APs,APm,APl" in proc.stdout, proc.stdout[-3000:]
