"""
The synthetic shapes dataset (``atss.data.shapes``): generated on first use, no download.
Training with horizontal flips at the generated size, evaluation with COCOEvaluator.
"""
from omegaconf import OmegaConf

import detectron2.data.transforms as T
from detectron2.config import LazyCall as L
from detectron2.data import (
    DatasetMapper,
    build_detection_test_loader,
    build_detection_train_loader,
    get_detection_dataset_dicts,
)
from detectron2.evaluation import COCOEvaluator

import atss.data  # registers shapes_train and shapes_val

dataloader = OmegaConf.create()
dataloader.train = L(build_detection_train_loader)(
    dataset=L(get_detection_dataset_dicts)(names="shapes_train"),
    mapper=L(DatasetMapper)(
        is_train=True, augmentations=[L(T.RandomFlip)(horizontal=True)], image_format="BGR"
    ),
    total_batch_size=16,
    num_workers=1,
)
dataloader.test = L(build_detection_test_loader)(
    dataset=L(get_detection_dataset_dicts)(names="shapes_val", filter_empty=False),
    mapper=L(DatasetMapper)(is_train=False, augmentations=[], image_format="BGR"),
    num_workers=1,
)
dataloader.evaluator = L(COCOEvaluator)(dataset_name="${..test.dataset.names}")
