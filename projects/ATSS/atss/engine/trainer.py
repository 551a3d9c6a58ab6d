"""
The YAML route's trainer: detectron2's ``DefaultTrainer`` with the LazyConfig route's checks and
reliability (``tools/train_net.py`` of detectron2, with ``MODEL.META_ARCHITECTURE "ATSS"``).
"""

import os
import weakref

from detectron2.data import DatasetMapper, build_detection_test_loader, get_detection_dataset_dicts
from detectron2.engine import DefaultTrainer, hooks
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

from ..checkpoint.resilient import ResilientCheckpointer
from ..data import (
    CheckedCOCOEvaluator,
    ImageErrorNamingMapper,
    check_dataset_classes,
    check_image_files,
    drop_invalid_annotations,
    has_fast_coco_eval,
)
from .data_setup import preflight_datasets
from .defaults import get_num_classes
from .precision import apply_precision, build_trainer, precision_of_config
from .train_loader import build_resumable_train_loader

__all__ = ["Trainer", "setup_atss_logger"]


def setup_atss_logger(cfg) -> None:
    """Log the warnings of ``atss`` like detectron2's, to the same log file."""
    output_dir = cfg.OUTPUT_DIR if hasattr(cfg, "OUTPUT_DIR") else cfg.train.output_dir
    setup_logger(output_dir, distributed_rank=comm.get_rank(), name="atss", abbrev_name="atss")


class Trainer(DefaultTrainer):
    """
    detectron2's DefaultTrainer, evaluating with COCOEvaluator and checking dataset classes, with
    the LazyConfig route's reliability: datasets checked before training, a resumable data order,
    atomic checkpoints with fallback, image errors that name the file, and the precision of
    :mod:`.precision` (``SOLVER.AMP.ENABLED``: bfloat16 on a CPU). ``evaluate=False`` trains
    without evaluating.
    """

    def __init__(self, cfg, evaluate: bool = True):
        drop_invalid_annotations(
            [*cfg.DATASETS.TRAIN, *cfg.DATASETS.TEST], drop=cfg.DATASETS.DROP_INVALID_ANNOTATIONS
        )
        preflight_datasets(cfg.DATASETS.TEST)
        self.evaluate = evaluate
        super().__init__(cfg)
        # DefaultTrainer takes AMPTrainer for SOLVER.AMP.ENABLED, which needs CUDA.
        trainer = self._trainer
        self._trainer = build_trainer(
            trainer.model, trainer.data_loader, trainer.optimizer, precision_of_config(cfg)
        )

    @classmethod
    def build_model(cls, cfg):
        return apply_precision(super().build_model(cfg), precision_of_config(cfg))

    def build_hooks(self):
        # DefaultTrainer.__init__ made a DetectionCheckpointer just before calling this.
        self.checkpointer = ResilientCheckpointer(
            self.checkpointer.model,
            self.cfg.OUTPUT_DIR,
            trainer=weakref.proxy(self),
            data_order=self.data_loader,
        )
        return [
            h for h in super().build_hooks() if self.evaluate or not isinstance(h, hooks.EvalHook)
        ]

    def resume_or_load(self, resume=True):
        super().resume_or_load(resume=resume)
        self.data_loader.set_start_iter(self.start_iter)

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        return CheckedCOCOEvaluator(
            dataset_name,
            output_dir=output_folder or os.path.join(cfg.OUTPUT_DIR, "inference"),
            use_fast_impl=has_fast_coco_eval(),
            allow_cached_coco=False,  # a dataset without json_file is converted afresh each time
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
        check_dataset_classes(names, get_num_classes(cfg))
        return loader

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        loader = build_detection_test_loader(
            cfg,
            dataset_name,
            mapper=ImageErrorNamingMapper(DatasetMapper(cfg, False), dataset_name),
        )
        check_dataset_classes([dataset_name], get_num_classes(cfg))
        return loader
