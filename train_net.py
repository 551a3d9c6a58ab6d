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
    # ... with the multi-scale and flip test (test.aug / TEST.AUG), beside the plain test:
    python train_net.py --config-file configs/ATSS/atss_dcnv2_X_101_64x4d_FPN_2x_tta.py \
        --eval-only --compare-plain train.init_checkpoint=/path/to/model.pth

Overrides follow the config file: ``key=value`` for LazyConfigs (``train.max_iter=1000``),
``KEY VALUE`` pairs for YAML (``SOLVER.MAX_ITER 1000``); a LazyConfig override must have the type
of the value it replaces. Multi-GPU and multi-machine runs use detectron2's ``launch``
(``--num-gpus``, ``--num-machines``, ``--machine-rank``, ``--dist-url``); without CUDA,
``--num-gpus N`` runs N CPU processes over gloo.

Reliability (``atss.engine``, ``atss.data``): datasets are checked before the first iteration;
the training data order is a function of the seed and the iteration, so ``--resume`` continues
the interrupted run exactly; checkpoints are written atomically and resume falls back to the
newest intact one; ``--eval-only`` refuses random weights unless ``--allow-unloaded-weights``.
"""

import os

# Before anything loads torch's OpenMP runtime: its threads otherwise spin while they wait, which
# on 2 CPU cores shared with other work made training iterations 13x slower (6.1 s vs 0.47 s,
# measured); waiting passively cost about 7% on idle cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import copy  # noqa: E402
import logging  # noqa: E402
import weakref  # noqa: E402
from fvcore.nn.precise_bn import get_bn_modules  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from detectron2.config import LazyConfig, get_cfg, instantiate  # noqa: E402
from detectron2.data import (  # noqa: E402
    DatasetMapper,
    build_detection_test_loader,
    get_detection_dataset_dicts,
)
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
from detectron2.evaluation import (  # noqa: E402
    COCOEvaluator,
    inference_on_dataset,
    print_csv_format,
    verify_results,
)
from detectron2.modeling import build_model  # noqa: E402
from detectron2.utils import comm  # noqa: E402
from detectron2.utils.logger import setup_logger  # noqa: E402

import atss  # noqa: E402
from atss.data import (  # noqa: E402
    CheckedCOCOEvaluator,
    ImageErrorNamingMapper,
    check_dataset_classes,
    check_image_files,
    drop_invalid_annotations,
    has_fast_coco_eval,
)
from atss.engine import (  # noqa: E402
    ResilientCheckpointer,
    ResumableTrainLoader,
    apply_overrides_checked,
    build_resumable_train_loader,
    create_ddp_model,
    lazy_tta_model,
    take_flags_from_overrides,
    test_with_tta,
)
from atss.engine.data_setup import (  # noqa: E402
    configure_lazy_data,
    dataset_names,
    preflight_datasets,
)
from atss.modeling import ATSSWithTTA  # noqa: E402

logger = logging.getLogger("detectron2")


def setup_atss_logger(cfg) -> None:
    """Log the warnings of atss.data and atss.engine like detectron2's, to the same log file."""
    output_dir = cfg.OUTPUT_DIR if hasattr(cfg, "OUTPUT_DIR") else cfg.train.output_dir
    setup_logger(output_dir, distributed_rank=comm.get_rank(), name="atss", abbrev_name="atss")


# A checkpoint of the same model with another number of classes still loads over 99%; ImageNet
# weights of the trunk alone are 73% of ATSS R-50's parameters and leave its FPN and head random.
MIN_EVAL_LOADED_FRACTION = 0.9


def check_eval_weights(args, checkpointer: ResilientCheckpointer, source: str) -> None:
    """
    ``--eval-only`` must evaluate trained weights: without a checkpoint, or with one that leaves
    more than MIN_EVAL_LOADED_FRACTION of the model's weights unloaded (another model's, or
    backbone-only ImageNet weights), refuse unless ``--allow-unloaded-weights``.
    """
    fraction = checkpointer.loaded_fraction
    enough = fraction is not None and fraction >= MIN_EVAL_LOADED_FRACTION
    if args.allow_unloaded_weights or enough:
        return
    if fraction is None:
        problem = "no checkpoint was loaded, so the model has random weights"
    else:
        problem = f"the checkpoint provided only {fraction:.0%} of the model's weights"
    raise ValueError(
        f"--eval-only: {problem}. Give the weights to evaluate ({source}=/path/to/model.pth, "
        "or --resume for the last checkpoint of the output directory), or pass "
        "--allow-unloaded-weights to evaluate them anyway."
    )


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
    # Problems of the evaluation data stop the run now, not after training.
    if "test" in cfg.dataloader:
        preflight_datasets(dataset_names(cfg.dataloader.test))
    resumable = isinstance(train_loader, ResumableTrainLoader)
    data_order = {"data_order": train_loader} if resumable else {}
    if data_order:
        check_image_files(train_loader.dataset, ", ".join(dataset_names(cfg.dataloader.train)))

    model = create_ddp_model(model, **cfg.train.ddp)
    trainer = (AMPTrainer if cfg.train.amp.enabled else SimpleTrainer)(
        model, train_loader, optimizer
    )
    checkpointer = ResilientCheckpointer(
        model, cfg.train.output_dir, trainer=trainer, **data_order
    )
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
    if data_order:
        train_loader.set_start_iter(start_iter)
    trainer.train(start_iter, cfg.train.max_iter)


def use_available_coco_eval(cfg) -> None:
    """Without detectron2's C++ extension, COCOEvaluator must use pycocotools' evaluation."""
    target = OmegaConf.select(cfg, "dataloader.evaluator._target_")
    if isinstance(target, type) and issubclass(target, COCOEvaluator) and not has_fast_coco_eval():
        cfg.dataloader.evaluator.use_fast_impl = False


def lazy_main(args):
    cfg = LazyConfig.load(args.config_file)
    cfg = apply_overrides_checked(cfg, args.opts)
    configure_lazy_data(cfg)
    use_available_coco_eval(cfg)
    default_setup(cfg, args)
    setup_atss_logger(cfg)

    if args.eval_only:
        model = instantiate(cfg.model)
        model.to(cfg.train.device)
        model = create_ddp_model(model)
        checkpointer = ResilientCheckpointer(model, cfg.train.output_dir)
        checkpointer.resume_or_load(cfg.train.init_checkpoint, resume=args.resume)
        check_eval_weights(args, checkpointer, "train.init_checkpoint")
        if OmegaConf.select(cfg, "test.aug.enabled", default=False):
            # The passes are made from the dataset's image (official), not from the test input.
            tta_cfg = copy.deepcopy(cfg)
            if OmegaConf.select(tta_cfg, "dataloader.test.mapper.augmentations") is not None:
                tta_cfg.dataloader.test.mapper.augmentations = []
            return test_with_tta(
                lambda m, is_tta: lazy_do_test(tta_cfg if is_tta else cfg, m),
                model,
                lazy_tta_model(cfg, model),
                args.compare_plain,
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
    """
    detectron2's DefaultTrainer, evaluating with COCOEvaluator and checking dataset classes, with
    the LazyConfig route's reliability: datasets checked before training, a resumable data order,
    atomic checkpoints with fallback, image errors that name the file.
    """

    def __init__(self, cfg):
        drop_invalid_annotations(
            [*cfg.DATASETS.TRAIN, *cfg.DATASETS.TEST], drop=cfg.DATASETS.DROP_INVALID_ANNOTATIONS
        )
        preflight_datasets(cfg.DATASETS.TEST)
        super().__init__(cfg)

    def build_hooks(self):
        # DefaultTrainer.__init__ made a DetectionCheckpointer just before calling this.
        self.checkpointer = ResilientCheckpointer(
            self.checkpointer.model,
            self.cfg.OUTPUT_DIR,
            trainer=weakref.proxy(self),
            data_order=self.data_loader,
        )
        return super().build_hooks()

    def resume_or_load(self, resume=True):
        super().resume_or_load(resume=resume)
        self.data_loader.set_start_iter(self.start_iter)

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        return CheckedCOCOEvaluator(
            dataset_name,
            output_dir=output_folder or os.path.join(cfg.OUTPUT_DIR, "inference"),
            use_fast_impl=has_fast_coco_eval(),
        )

    @classmethod
    def build_train_loader(cls, cfg):
        names = cfg.DATASETS.TRAIN
        dataset = get_detection_dataset_dicts(
            names, filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS
        )
        check_image_files(dataset, ", ".join(names))
        loader = build_resumable_train_loader(
            dataset,
            mapper=ImageErrorNamingMapper(DatasetMapper(cfg, True), names),
            total_batch_size=cfg.SOLVER.IMS_PER_BATCH,
            aspect_ratio_grouping=cfg.DATALOADER.ASPECT_RATIO_GROUPING,
            num_workers=cfg.DATALOADER.NUM_WORKERS,
            seed=cfg.SEED,
        )
        check_dataset_classes(names, yaml_num_classes(cfg))
        return loader

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        loader = build_detection_test_loader(
            cfg,
            dataset_name,
            mapper=ImageErrorNamingMapper(DatasetMapper(cfg, False), dataset_name),
        )
        check_dataset_classes([dataset_name], yaml_num_classes(cfg))
        return loader


def yaml_setup(args):
    cfg = get_cfg()
    atss.add_atss_config(cfg)
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(args.opts)
    cfg.freeze()
    default_setup(cfg, args)
    setup_atss_logger(cfg)
    return cfg


def yaml_main(args):
    cfg = yaml_setup(args)
    if args.eval_only:
        model = build_model(cfg)
        checkpointer = ResilientCheckpointer(model, save_dir=cfg.OUTPUT_DIR)
        checkpointer.resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
        check_eval_weights(args, checkpointer, "MODEL.WEIGHTS")
        if cfg.TEST.AUG.ENABLED:
            # The passes are made from the dataset's image (official): MIN_SIZE_TEST 0 makes
            # detectron2's test mapper keep it as it is.
            tta_cfg = cfg.clone()
            tta_cfg.defrost()
            tta_cfg.INPUT.MIN_SIZE_TEST = 0
            results = test_with_tta(
                lambda m, is_tta: Trainer.test(tta_cfg if is_tta else cfg, m),
                model,
                ATSSWithTTA(cfg, model),
                args.compare_plain,
            )
        else:
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


def argument_parser():
    parser = default_argument_parser()
    parser.add_argument(
        "--allow-unloaded-weights",
        action="store_true",
        help="with --eval-only, evaluate even when no checkpoint, or one providing less than 90%% "
        "of the model's weights, was loaded (random weights)",
    )
    parser.add_argument(
        "--compare-plain",
        action="store_true",
        help="with test-time augmentation (test.aug.enabled / TEST.AUG.ENABLED), also evaluate "
        "without it and print both side by side",
    )
    return parser


def invoke_main() -> None:
    parser = argument_parser()
    try:
        args = take_flags_from_overrides(parser, parser.parse_args())
    except ValueError as e:
        parser.error(str(e))
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
