"""
The YAML door: a YAML config of detectron2's keys (``get_cfg()`` with :mod:`.defaults`) turned
into the LazyConfig that does what detectron2's ``DefaultTrainer`` does with it, so that nothing
past :func:`atss.config.load_config` sees a YAML config.

The model is built by detectron2's ``build_model`` from the YAML keys (:func:`yaml_model`); the
data loaders, optimizer, LR schedule and training keys are the LazyConfig nodes equivalent to
detectron2's ``build_detection_train_loader(cfg)``, ``DatasetMapper(cfg)``, ``build_optimizer``
and ``build_lr_scheduler`` (detectron2/data/build.py, solver/build.py), the test-time
augmentation that of ``TEST.AUG`` and the user's data by path that of ``DATASETS.*_ANNOTATIONS``.
"""

import os
from typing import Optional
import torch
from fvcore.common.param_scheduler import MultiStepParamScheduler
from omegaconf import DictConfig, OmegaConf
from torch import nn

import detectron2.data.transforms as T
from detectron2.config import CfgNode
from detectron2.config import LazyCall as L
from detectron2.data import (
    DatasetMapper,
    build_detection_test_loader,
    build_detection_train_loader,
    get_detection_dataset_dicts,
)
from detectron2.engine import DefaultTrainer
from detectron2.evaluation import COCOEvaluator
from detectron2.modeling import build_model
from detectron2.solver import WarmupParamScheduler
from detectron2.solver.build import get_default_optimizer_params
from detectron2.utils import comm

from ..data.user_datasets import USER_TEST, USER_TRAIN
from .errors import ConfigError

__all__ = ["lazy_config_from_yaml", "yaml_model"]

# detectron2's YAML keys the door does not translate, each with the value that means "off".
_UNSUPPORTED = {
    "MODEL.MASK_ON": False,
    "MODEL.KEYPOINT_ON": False,
    "MODEL.LOAD_PROPOSALS": False,
    "INPUT.CROP.ENABLED": False,
    "SOLVER.CLIP_GRADIENTS.ENABLED": False,
    "SOLVER.LR_SCHEDULER_NAME": "WarmupMultiStepLR",
    "TEST.EXPECTED_RESULTS": [],
}


def _head(cfg: CfgNode) -> CfgNode:
    """AutoAssign keeps its keys in MODEL.AUTOASSIGN, ATSS in MODEL.ATSS."""
    return cfg.MODEL.AUTOASSIGN if cfg.MODEL.META_ARCHITECTURE == "AutoAssign" else cfg.MODEL.ATSS


def yaml_model(cfg: dict, num_classes: Optional[int]) -> nn.Module:
    """
    detectron2's ``build_model`` of a YAML config given as a plain dict, on the CPU, predicting
    ``num_classes`` classes.
    """
    if isinstance(cfg, DictConfig):  # as instantiate passes it
        cfg = OmegaConf.to_container(cfg, resolve=True)
    node = CfgNode(cfg)
    _head(node).NUM_CLASSES = num_classes
    node.MODEL.DEVICE = "cpu"  # atss.config.build_model moves it to train.device
    return build_model(node)


def _check_supported(cfg: CfgNode) -> None:
    for key, off in _UNSUPPORTED.items():
        node = cfg
        for part in key.split("."):
            node = node[part]
        if (list(node) if isinstance(node, (list, tuple)) else node) != off:
            raise ConfigError(
                f"{key} {node!r}: the YAML configs of this project do not translate it; write "
                "the config as a LazyConfig (.py, docs/configs.md)."
            )
    if len(cfg.DATASETS.TEST) > 1:
        raise ConfigError(
            f"DATASETS.TEST {tuple(cfg.DATASETS.TEST)}: give one test set (a LazyConfig can "
            "evaluate on several through its own loaders)."
        )


def _train_augmentations(cfg: CfgNode) -> list:
    """detectron2's ``build_augmentation(cfg, is_train=True)``."""
    augmentations = [
        L(T.ResizeShortestEdge)(
            short_edge_length=list(cfg.INPUT.MIN_SIZE_TRAIN),
            max_size=cfg.INPUT.MAX_SIZE_TRAIN,
            sample_style=cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING,
        )
    ]
    if cfg.INPUT.RANDOM_FLIP != "none":
        augmentations.append(
            L(T.RandomFlip)(
                horizontal=cfg.INPUT.RANDOM_FLIP == "horizontal",
                vertical=cfg.INPUT.RANDOM_FLIP == "vertical",
            )
        )
    return augmentations


def lazy_config_from_yaml(cfg: CfgNode) -> DictConfig:
    """The LazyConfig equivalent to the YAML config ``cfg`` (overrides already merged)."""
    _check_supported(cfg)
    if cfg.SOLVER.REFERENCE_WORLD_SIZE:
        # DefaultTrainer's scaling of the batch, LR and schedule to the processes in use.
        cfg = DefaultTrainer.auto_scale_workers(cfg, comm.get_world_size())
    head, solver = _head(cfg), cfg.SOLVER
    by_path = any(cfg.DATASETS[k] for k in ("TRAIN_ANNOTATIONS", "TEST_ANNOTATIONS")) or (
        not head.NUM_CLASSES  # NUM_CLASSES 0 (configs/Custom/*.yaml): the data's classes
    )
    train_names = USER_TRAIN if by_path else list(cfg.DATASETS.TRAIN)
    test_names = USER_TEST if by_path else (cfg.DATASETS.TEST[0] if cfg.DATASETS.TEST else "")

    lazy = OmegaConf.create()
    lazy.model = L(yaml_model)(
        cfg=_plain(cfg), num_classes=head.NUM_CLASSES or None
    )
    lazy.dataloader = OmegaConf.create()
    lazy.dataloader.train = L(build_detection_train_loader)(
        dataset=L(get_detection_dataset_dicts)(
            names=train_names, filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS
        ),
        mapper=L(DatasetMapper)(
            is_train=True,
            augmentations=_train_augmentations(cfg),
            image_format=cfg.INPUT.FORMAT,
        ),
        total_batch_size=solver.IMS_PER_BATCH,
        aspect_ratio_grouping=cfg.DATALOADER.ASPECT_RATIO_GROUPING,
        num_workers=cfg.DATALOADER.NUM_WORKERS,
    )
    if test_names:
        lazy.dataloader.test = L(build_detection_test_loader)(
            dataset=L(get_detection_dataset_dicts)(names=test_names, filter_empty=False),
            mapper=L(DatasetMapper)(
                is_train=False,
                augmentations=[
                    L(T.ResizeShortestEdge)(
                        short_edge_length=cfg.INPUT.MIN_SIZE_TEST, max_size=cfg.INPUT.MAX_SIZE_TEST
                    )
                ],
                image_format=cfg.INPUT.FORMAT,
            ),
            num_workers=cfg.DATALOADER.NUM_WORKERS,
        )
        # COCOEvaluator in the output folder, as DefaultTrainer's; a dataset without a JSON file
        # (a VOC folder) is converted afresh each time.
        lazy.dataloader.evaluator = L(COCOEvaluator)(
            dataset_name="${..test.dataset.names}",
            output_dir=os.path.join(cfg.OUTPUT_DIR, "inference"),
            allow_cached_coco=False,
        )
    lazy.optimizer = L(torch.optim.SGD)(
        params=L(get_default_optimizer_params)(
            base_lr=solver.BASE_LR,
            weight_decay_norm=solver.WEIGHT_DECAY_NORM,
            bias_lr_factor=solver.BIAS_LR_FACTOR,
            weight_decay_bias=solver.WEIGHT_DECAY_BIAS,
        ),
        lr=solver.BASE_LR,
        momentum=solver.MOMENTUM,
        nesterov=solver.NESTEROV,
        weight_decay=solver.WEIGHT_DECAY,
        foreach=True,
    )
    steps = [s for s in solver.STEPS if s <= solver.MAX_ITER]
    lazy.lr_multiplier = L(WarmupParamScheduler)(
        scheduler=L(MultiStepParamScheduler)(
            values=[solver.GAMMA**k for k in range(len(steps) + 1)],
            milestones=steps,
            num_updates=solver.MAX_ITER,
        ),
        warmup_factor=solver.WARMUP_FACTOR,
        warmup_length=min(solver.WARMUP_ITERS / solver.MAX_ITER, 1.0),
        warmup_method=solver.WARMUP_METHOD,
        rescale_interval=solver.RESCALE_INTERVAL,
    )
    lazy.train = dict(
        output_dir=cfg.OUTPUT_DIR,
        init_checkpoint=cfg.MODEL.WEIGHTS,
        max_iter=solver.MAX_ITER,
        amp=dict(enabled=solver.AMP.ENABLED),
        ddp=dict(broadcast_buffers=False, find_unused_parameters=False, fp16_compression=False),
        checkpointer=dict(period=solver.CHECKPOINT_PERIOD),
        eval_period=cfg.TEST.EVAL_PERIOD,
        log_period=20,
        device=cfg.MODEL.DEVICE,
        seed=cfg.SEED,
        drop_invalid_annotations=cfg.DATASETS.DROP_INVALID_ANNOTATIONS,
        precise_bn=dict(
            enabled=cfg.TEST.PRECISE_BN.ENABLED, num_iter=cfg.TEST.PRECISE_BN.NUM_ITER
        ),
    )
    aug = cfg.TEST.AUG
    lazy.test = dict(
        aug=dict(
            enabled=aug.ENABLED,
            min_sizes=list(aug.MIN_SIZES),
            # Empty: detectron2's single TEST.AUG.MAX_SIZE for every scale.
            max_sizes=list(aug.MAX_SIZES) or [aug.MAX_SIZE] * len(aug.MIN_SIZES),
            flip=aug.FLIP,
            size_ranges=[list(r) for r in aug.SIZE_RANGES] or None,
            merge=aug.MERGE,
            vote_iou=aug.VOTE_IOU,
        )
    )
    if by_path:
        data = cfg.DATASETS
        lazy.dataset = dict(
            train=dict(annotations=data.TRAIN_ANNOTATIONS, images=data.TRAIN_IMAGES),
            test=dict(annotations=data.TEST_ANNOTATIONS, images=data.TEST_IMAGES),
            classes=list(data.CLASSES),
        )
    return lazy


def _plain(node):
    """A CfgNode as plain dicts and lists (tuples become lists), which a LazyConfig can hold."""
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_plain(v) for v in node]
    return node
