#!/usr/bin/env python
"""
Train and evaluate ATSS with detectron2, from a LazyConfig (``.py``) or a YAML config: the
wiring of detectron2's ``tools/lazyconfig_train_net.py`` and ``tools/train_net.py``, with the
checks and the resumable data order of ``atss.engine`` (docs/getting_started.md).

    python train_net.py --config-file configs/Shapes/atss_R_18_FPN_shapes.py
    python train_net.py --config-file configs/ATSS/atss_R_50_FPN_1x.py --num-gpus 8
    python train_net.py --config-file ... --resume
    python train_net.py --config-file ... --eval-only train.init_checkpoint=/path/to/model.pth
"""

import logging
import sys
from fvcore.nn.precise_bn import get_bn_modules
from omegaconf import OmegaConf

from detectron2.config import instantiate
from detectron2.engine import default_setup, default_writers, hooks, launch
from detectron2.evaluation import inference_on_dataset, print_csv_format, verify_results
from detectron2.utils import comm

from atss.checkpoint.resilient import (
    CheckpointError,
    ResilientCheckpointer,
    check_checkpoint_fits,
    require_trained_weights,
)
from atss.engine.arguments import argument_parser, take_flags_from_overrides
from atss.engine.data_setup import (
    check_loader_classes,
    configure_lazy_data,
    configure_user_datasets,
    preflight_loaders,
)
from atss.engine.ddp import create_ddp_model
from atss.engine.defaults import ConfigError, build_model, get_weights, is_lazy, load_config
from atss.engine.evaluation import lazy_tta_test, yaml_tta_test
from atss.engine.precision import apply_precision, build_trainer, precision_of_config
from atss.engine.train_loader import ResumableTrainLoader
from atss.engine.trainer import Trainer, setup_atss_logger

logger = logging.getLogger("detectron2")


def do_test(cfg, model) -> dict:
    if "evaluator" not in cfg.dataloader:
        return {}
    # The loader before the evaluator: loading a generated dataset writes the JSON it reads.
    loader = instantiate(cfg.dataloader.test)
    check_loader_classes(cfg, cfg.dataloader.test)
    results = inference_on_dataset(model, loader, instantiate(cfg.dataloader.evaluator))
    print_csv_format(results)
    return results


def do_train(args, cfg) -> None:
    precision = precision_of_config(cfg)
    model = apply_precision(build_model(cfg), precision)
    logger.info("Model:\n{}".format(model))
    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)
    train_loader = instantiate(cfg.dataloader.train)
    check_loader_classes(cfg, cfg.dataloader.train)
    preflight_loaders(cfg, train_loader)  # the test set's problems stop the run now, not later

    model = create_ddp_model(model, **cfg.train.ddp)
    trainer = build_trainer(model, train_loader, optimizer, precision)
    resumable = isinstance(train_loader, ResumableTrainLoader)
    checkpointer = ResilientCheckpointer(
        model, cfg.train.output_dir, trainer=trainer, data_order=train_loader if resumable else None
    )
    precise_bn = OmegaConf.select(cfg, "train.precise_bn", default=None)
    main_process = comm.is_main_process()
    trainer.register_hooks(
        [
            hooks.IterationTimer(),
            hooks.LRScheduler(scheduler=instantiate(cfg.lr_multiplier)),
            hooks.PreciseBN(
                cfg.train.eval_period, model, instantiate(cfg.dataloader.train), precise_bn.num_iter
            )
            if precise_bn and precise_bn.enabled and get_bn_modules(model)
            else None,
            hooks.PeriodicCheckpointer(checkpointer, **cfg.train.checkpointer)
            if main_process
            else None,
            None
            if args.no_eval
            else hooks.EvalHook(cfg.train.eval_period, lambda: do_test(cfg, model)),
            hooks.PeriodicWriter(
                default_writers(cfg.train.output_dir, cfg.train.max_iter),
                period=cfg.train.log_period,
            )
            if main_process
            else None,
        ]
    )
    checkpointer.resume_or_load(cfg.train.init_checkpoint, resume=args.resume)
    # A checkpoint stores the iteration that had just finished.
    start_iter = trainer.iter + 1 if args.resume and checkpointer.has_checkpoint() else 0
    if resumable:
        train_loader.set_start_iter(start_iter)
    trainer.train(start_iter, cfg.train.max_iter)


def eval_only(args, cfg):
    """Evaluate the checkpoint of ``train.init_checkpoint`` / ``MODEL.WEIGHTS`` (or --resume)."""
    model = create_ddp_model(apply_precision(build_model(cfg), precision_of_config(cfg)))
    output_dir = cfg.train.output_dir if is_lazy(cfg) else cfg.OUTPUT_DIR
    checkpointer = ResilientCheckpointer(model, output_dir)
    weights = cfg.train.init_checkpoint if is_lazy(cfg) else cfg.MODEL.WEIGHTS
    checkpointer.resume_or_load(weights, resume=args.resume)
    require_trained_weights(checkpointer, args.allow_unloaded_weights)
    if is_lazy(cfg):
        if OmegaConf.select(cfg, "test.aug.enabled", default=False):
            return lazy_tta_test(cfg, model, do_test, args.compare_plain)
        return do_test(cfg, model)
    if cfg.TEST.AUG.ENABLED:
        results = yaml_tta_test(cfg, model, Trainer.test, args.compare_plain)
    else:
        results = Trainer.test(cfg, model)
    if comm.is_main_process():
        verify_results(cfg, results)
    return results


def main(args):
    cfg = load_config(args.config_file, args.opts)
    configure_user_datasets(cfg, evaluate=args.eval_only or not args.no_eval)
    if get_weights(cfg) and not args.resume:
        # A checkpoint that does not fit stops the run here, before it writes anything.
        check_checkpoint_fits(build_model(cfg, device="cpu"), get_weights(cfg))
    if is_lazy(cfg):
        configure_lazy_data(cfg)
    else:
        cfg.freeze()
    default_setup(cfg, args)
    setup_atss_logger(cfg)
    if args.eval_only:
        return eval_only(args, cfg)
    if is_lazy(cfg):
        return do_train(args, cfg)
    trainer = Trainer(cfg, evaluate=not args.no_eval)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


def invoke_main() -> None:
    parser = argument_parser()
    args = parser.parse_args()
    try:
        args = take_flags_from_overrides(parser, args)
        if not args.config_file:
            raise ConfigError(
                "No config given: pass --config-file, e.g. "
                "--config-file configs/Shapes/atss_R_18_FPN_shapes.py"
            )
        # Problems of the config and of data given by path stop here, before any process starts.
        configure_user_datasets(
            load_config(args.config_file, args.opts), args.eval_only or not args.no_eval
        )
    except ConfigError as e:
        sys.exit(f"{parser.prog}: error: {e}")
    try:
        launch(
            main,
            args.num_gpus,
            num_machines=args.num_machines,
            machine_rank=args.machine_rank,
            dist_url=args.dist_url,
            args=(args,),
        )
    except (ConfigError, CheckpointError) as e:
        sys.exit(f"{parser.prog}: error: {e}")


if __name__ == "__main__":
    invoke_main()
