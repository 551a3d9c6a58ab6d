#!/usr/bin/env python
"""
Train and evaluate ATSS with detectron2, from a LazyConfig (``.py``) or a YAML config.

    # COCO, 8 GPUs (DETECTRON2_DATASETS holds coco/):
    python train_net.py --config-file configs/ATSS/atss_R_50_FPN_1x.py --num-gpus 8
    # The synthetic shapes dataset on a CPU, from scratch, in minutes:
    python train_net.py --config-file configs/Shapes/atss_R_18_FPN_shapes.py
    # Continue an interrupted run from the last checkpoint of its output directory:
    python train_net.py --config-file ... --resume
    # Evaluate a checkpoint (or, with --resume, the last one of the output directory):
    python train_net.py --config-file ... --eval-only train.init_checkpoint=/path/to/model.pth

Overrides follow the config file: ``key=value`` for LazyConfigs (``train.max_iter=1000``),
``KEY VALUE`` pairs for YAML (``SOLVER.MAX_ITER 1000``). Multi-GPU and multi-machine runs use
detectron2's ``launch`` (``--num-gpus``, ``--num-machines``, ``--machine-rank``, ``--dist-url``).
"""

import os

# Before anything loads torch's OpenMP runtime: its threads otherwise spin while they wait, which
# on 2 CPU cores shared with other work made training iterations 13x slower (6.1 s vs 0.47 s,
# measured); waiting passively cost about 7% on idle cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import logging  # noqa: E402
from fvcore.nn.precise_bn import get_bn_modules  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from detectron2.checkpoint import DetectionCheckpointer  # noqa: E402
from detectron2.config import LazyConfig, get_cfg, instantiate  # noqa: E402
from detectron2.engine import (  # noqa: E402
    AMPTrainer,
    DefaultTrainer,
    SimpleTrainer,
    default_argument_parser,
    default_setup,
    default_writers,
    hooks,
    launch,
)
from detectron2.engine.defaults import create_ddp_model  # noqa: E402
from detectron2.evaluation import (  # noqa: E402
    COCOEvaluator,
    inference_on_dataset,
    print_csv_format,
    verify_results,
)
from detectron2.modeling import build_model  # noqa: E402
from detectron2.utils import comm  # noqa: E402

import atss  # noqa: E402
from atss.data import check_dataset_classes  # noqa: E402

logger = logging.getLogger("detectron2")


def has_fast_coco_eval() -> bool:
    """Whether detectron2 was built with its C++ extension, which COCOEvaluator's fast path uses."""
    try:
        from detectron2 import _C  # noqa: F401
    except ImportError:
        return False
    return True


def _check_classes(cfg, loader_cfg) -> None:
    """The (loaded) datasets of ``loader_cfg`` must have the classes of ``cfg.model``."""
    num_classes = OmegaConf.select(cfg, "model.num_classes", default=None)
    names = OmegaConf.select(loader_cfg, "dataset.names", default=None)
    if num_classes is not None and names is not None:
        check_dataset_classes([names] if isinstance(names, str) else names, num_classes)


# ------------------------------------------------------------------------------------------------
# LazyConfig route (detectron2's tools/lazyconfig_train_net.py)
# ------------------------------------------------------------------------------------------------
def lazy_do_test(cfg, model) -> dict:
    if "evaluator" not in cfg.dataloader:
        return {}
    # The loader before the evaluator: loading a lazily generated dataset writes the JSON that
    # COCOEvaluator reads.
    loader = instantiate(cfg.dataloader.test)
    _check_classes(cfg, cfg.dataloader.test)
    evaluator = instantiate(cfg.dataloader.evaluator)
    results = inference_on_dataset(model, loader, evaluator)
    print_csv_format(results)
    return results


def lazy_do_train(args, cfg) -> None:
    model = instantiate(cfg.model)
    logger.info("Model:\n{}".format(model))
    model.to(cfg.train.device)

    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)

    train_loader = instantiate(cfg.dataloader.train)
    _check_classes(cfg, cfg.dataloader.train)

    model = create_ddp_model(model, **cfg.train.ddp)
    trainer = (AMPTrainer if cfg.train.amp.enabled else SimpleTrainer)(
        model, train_loader, optimizer
    )
    checkpointer = DetectionCheckpointer(model, cfg.train.output_dir, trainer=trainer)
    # PreciseBN recomputes the statistics of BatchNorm layers that train (not frozen) before each
    # evaluation, when the config asks for it with train.precise_bn.
    precise_bn = OmegaConf.select(cfg, "train.precise_bn", default=None)
    use_precise_bn = bool(precise_bn and precise_bn.enabled and get_bn_modules(model))
    trainer.register_hooks(
        [
            hooks.IterationTimer(),
            hooks.LRScheduler(scheduler=instantiate(cfg.lr_multiplier)),
            (
                hooks.PreciseBN(
                    cfg.train.eval_period,
                    model,
                    instantiate(cfg.dataloader.train),
                    precise_bn.num_iter,
                )
                if use_precise_bn
                else None
            ),
            (
                hooks.PeriodicCheckpointer(checkpointer, **cfg.train.checkpointer)
                if comm.is_main_process()
                else None
            ),
            hooks.EvalHook(cfg.train.eval_period, lambda: lazy_do_test(cfg, model)),
            (
                hooks.PeriodicWriter(
                    default_writers(cfg.train.output_dir, cfg.train.max_iter),
                    period=cfg.train.log_period,
                )
                if comm.is_main_process()
                else None
            ),
        ]
    )

    checkpointer.resume_or_load(cfg.train.init_checkpoint, resume=args.resume)
    # A checkpoint stores the iteration that had just finished.
    start_iter = trainer.iter + 1 if args.resume and checkpointer.has_checkpoint() else 0
    trainer.train(start_iter, cfg.train.max_iter)


def use_available_coco_eval(cfg) -> None:
    """Without detectron2's C++ extension, COCOEvaluator must use pycocotools' evaluation."""
    if (
        OmegaConf.select(cfg, "dataloader.evaluator._target_") is COCOEvaluator
        and not has_fast_coco_eval()
    ):
        cfg.dataloader.evaluator.use_fast_impl = False


def lazy_main(args):
    cfg = LazyConfig.load(args.config_file)
    cfg = LazyConfig.apply_overrides(cfg, args.opts)
    use_available_coco_eval(cfg)
    default_setup(cfg, args)

    if args.eval_only:
        model = instantiate(cfg.model)
        model.to(cfg.train.device)
        model = create_ddp_model(model)
        DetectionCheckpointer(model, cfg.train.output_dir).resume_or_load(
            cfg.train.init_checkpoint, resume=args.resume
        )
        return lazy_do_test(cfg, model)
    lazy_do_train(args, cfg)


# ------------------------------------------------------------------------------------------------
# YAML route (detectron2's tools/train_net.py): MODEL.META_ARCHITECTURE "ATSS"
# ------------------------------------------------------------------------------------------------
def yaml_num_classes(cfg) -> int:
    """Classes predicted by the YAML config's model (AutoAssign keeps them in MODEL.AUTOASSIGN)."""
    if cfg.MODEL.META_ARCHITECTURE == "AutoAssign":
        return cfg.MODEL.AUTOASSIGN.NUM_CLASSES
    return cfg.MODEL.ATSS.NUM_CLASSES


class Trainer(DefaultTrainer):
    """detectron2's DefaultTrainer, evaluating with COCOEvaluator and checking dataset classes."""

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        return COCOEvaluator(
            dataset_name,
            output_dir=output_folder or os.path.join(cfg.OUTPUT_DIR, "inference"),
            use_fast_impl=has_fast_coco_eval(),
        )

    @classmethod
    def build_train_loader(cls, cfg):
        loader = super().build_train_loader(cfg)
        check_dataset_classes(cfg.DATASETS.TRAIN, yaml_num_classes(cfg))
        return loader

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        loader = super().build_test_loader(cfg, dataset_name)
        check_dataset_classes([dataset_name], yaml_num_classes(cfg))
        return loader


def yaml_setup(args):
    cfg = get_cfg()
    atss.add_atss_config(cfg)
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(args.opts)
    cfg.freeze()
    default_setup(cfg, args)
    return cfg


def yaml_main(args):
    cfg = yaml_setup(args)
    if args.eval_only:
        model = build_model(cfg)
        DetectionCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(
            cfg.MODEL.WEIGHTS, resume=args.resume
        )
        results = Trainer.test(cfg, model)
        if comm.is_main_process():
            verify_results(cfg, results)
        return results
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


def main(args):
    if args.config_file.endswith(".yaml"):
        return yaml_main(args)
    return lazy_main(args)


def invoke_main() -> None:
    args = default_argument_parser().parse_args()
    launch(
        main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )


if __name__ == "__main__":
    invoke_main()
