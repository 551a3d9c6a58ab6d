"""
Your own data, given on the command line (docs/custom_data.md):

    dataset.train.annotations=PATH dataset.train.images=DIR
    dataset.test.annotations=PATH dataset.test.images=DIR

PATH is a COCO JSON file or a folder of Pascal-VOC XML files; the images default to the folder
of the annotations. ``train_net.py`` registers them as ``custom_train`` and ``custom_test``
(``atss.data.user_datasets``), fills ``dataset.classes`` from the training set and sets the
model's number of classes from it. Training keeps images without objects, as negatives; the test
set is evaluated with COCOEvaluator, per class.
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

from atss.data.user_datasets import USER_TEST, USER_TRAIN

dataset = OmegaConf.create(
    {
        "train": {"annotations": "", "images": ""},
        "test": {"annotations": "", "images": ""},
        "classes": [],
    }
)

dataloader = OmegaConf.create()
dataloader.train = L(build_detection_train_loader)(
    dataset=L(get_detection_dataset_dicts)(names=USER_TRAIN, filter_empty=False),
    mapper=L(DatasetMapper)(
        is_train=True,
        augmentations=[
            L(T.ResizeShortestEdge)(short_edge_length=800, max_size=1333, sample_style="choice"),
            L(T.RandomFlip)(horizontal=True),
        ],
        image_format="BGR",
    ),
    total_batch_size=16,
    num_workers=4,
)
dataloader.test = L(build_detection_test_loader)(
    dataset=L(get_detection_dataset_dicts)(names=USER_TEST, filter_empty=False),
    mapper=L(DatasetMapper)(
        is_train=False,
        augmentations=[L(T.ResizeShortestEdge)(short_edge_length=800, max_size=1333)],
        image_format="BGR",
    ),
    num_workers=4,
)
# A VOC test set has no JSON file: COCOEvaluator converts it in the output folder, afresh each run.
dataloader.evaluator = L(COCOEvaluator)(
    dataset_name="${..test.dataset.names}",
    output_dir="${train.output_dir}",
    allow_cached_coco=False,
)
