#!/usr/bin/env python
"""
Train and evaluate ATSS with detectron2, from a LazyConfig (``.py``) or a YAML config (turned
into a LazyConfig as it is loaded): the wiring of detectron2's ``tools/lazyconfig_train_net.py``,
with the checks and the resumable data order of ``atss.engine`` (docs/getting_started.md).

    python train_net.py --config-file configs/Shapes/atss_R_18_FPN_shapes.py
    python train_net.py --config-file configs/ATSS/atss_R_50_FPN_1x.py --num-gpus 8
    python train_net.py --config-file ... --resume
    python train_net.py --config-file ... --eval-only train.init_checkpoint=/path/to/model.pth
"""

import atss.require_detectron2  # noqa: F401  (without detectron2: exit 2, naming the set-up)
import logging
import sys
from fvcore.nn.precise_bn import get_bn_modules
from omegaconf import OmegaConf

from detectron2.config import instantiate
from detectron2.engine import default_setup, default_writers, hooks, launch
from detectron2.evaluation import inference_on_dataset, print_csv_format
from detectron2.utils import comm
from detectron2.utils.env import seed_all_rng
from detectron2.utils.logger import setup_logger

from atss.checkpoint.loading import load_model
from atss.checkpoint.resilient import CheckpointError, ResilientCheckpointer, check_checkpoint_fits
from atss.config import (
    ConfigError,
    build_model,
    configure_user_datasets,
    dataset_names,
    get_output_dir,
    get_weights,
    load_config,
)
from atss.config.precision import apply_precision, precision_of_config
from atss.engine.arguments import argument_parser, take_flags_from_overrides
from atss.engine.data_setup import check_loader_classes, configure_lazy_data, preflight_loaders
from atss.engine.ddp import create_ddp_model
from atss.engine.early_stopping import EarlyStop
from atss.engine.evaluation import tta_test
from atss.engine.evaluation_hooks import check_evaluation_options, evaluation_hooks
from atss.engine.evaluation_report import report_evaluation
from atss.engine.train_loader import ResumableTrainLoader
from atss.engine.trainer import build_trainer

logger = logging.getLogger("detectron2")


def setup_atss_logger(cfg) -> None:
    """Log the warnings of ``atss`` like detectron2's, to the same log file."""
    setup_logger(
        get_output_dir(cfg), distributed_rank=comm.get_rank(), name="atss", abbrev_name="atss"
    )


def do_test(cfg, model) -> dict:
    if "evaluator" not in cfg.dataloader:
        return {}
    # The loader before the evaluator: loading a generated dataset writes the JSON it reads.
    loader = instantiate(cfg.dataloader.test)
    check_loader_classes(cfg, cfg.dataloader.test)
    evaluator = instantiate(cfg.dataloader.evaluator)
    results = inference_on_dataset(model, loader, evaluator)
    print_csv_format(results)
    report_evaluation(evaluator, dataset_names(cfg.dataloader.test)[0], cfg.train.output_dir)
    return results


def do_train(args, cfg, model) -> None:
    """Train ``model``, built by :func:`main` from the config with its initial weights."""
    precision = precision_of_config(cfg)
    model = apply_precision(model, precision)
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
            *(
                []
                if args.no_eval
                else evaluation_hooks(
                    cfg, model, checkpointer, lambda: do_test(cfg, model), main_process
                )
            ),
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
    try:
        trainer.train(start_iter, cfg.train.max_iter)
    except EarlyStop:
        pass  # logged with its reason; the hooks have ended the run as at its last iteration


def eval_only(args, cfg, model):
    """Evaluate ``model``, loaded by :func:`main` with its checkpoint."""
    model = create_ddp_model(apply_precision(model, precision_of_config(cfg)))
    if OmegaConf.select(cfg, "test.aug.enabled", default=False):
        return tta_test(cfg, model, do_test, args.compare_plain)
    return do_test(cfg, model)


def load_and_register(args):
    """The config, with the user's data given by path registered and its classes recorded."""
    cfg = load_config(args.config_file, args.opts)
    configure_user_datasets(cfg, evaluate=args.eval_only or not args.no_eval)
    return cfg


def main(args, cfg=None):
    """
    Train or evaluate ``cfg`` (from :func:`load_and_register`); None in each process that
    ``launch`` starts, which loads it and registers the data itself.
    """
    if cfg is None:
        cfg = load_and_register(args)
    configure_lazy_data(cfg)
    # The model and its checkpoint before default_setup writes into the output directory, so that
    # a checkpoint that cannot be used stops the run before it writes anything.
    if args.eval_only:
        model = load_model(
            cfg,
            strict=False,
            resume_dir=get_output_dir(cfg) if args.resume else "",
            allow_unloaded_weights=args.allow_unloaded_weights,
        )
        default_setup(cfg, args)
        setup_atss_logger(cfg)
        return eval_only(args, cfg, model)
    # Seeded as default_setup seeds, so that the initial weights follow train.seed.
    seed = OmegaConf.select(cfg, "train.seed", default=-1)
    seed_all_rng(None if seed is None or seed < 0 else seed + comm.get_rank())
    model = build_model(cfg)
    if not args.resume:
        check_checkpoint_fits(model, get_weights(cfg))
    default_setup(cfg, args)
    setup_atss_logger(cfg)
    return do_train(args, cfg, model)


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
        cfg = load_and_register(args)
        check_evaluation_options(cfg, evaluate=not (args.eval_only or args.no_eval))
    except ConfigError as e:
        sys.exit(f"{parser.prog}: error: {e}")
    try:
        launch(
            main,
            args.num_gpus,
            num_machines=args.num_machines,
            machine_rank=args.machine_rank,
            dist_url=args.dist_url,
            # One process runs main here, with the config as loaded; several load it each.
            args=(args, cfg if args.num_gpus * args.num_machines == 1 else None),
        )
    except (ConfigError, CheckpointError) as e:
        sys.exit(f"{parser.prog}: error: {e}")


if __name__ == "__main__":
    invoke_main()
