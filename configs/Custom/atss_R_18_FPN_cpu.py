"""
A small ATSS that trains on your own data on a CPU: the model and recipe of the long shapes config
(``Shapes/atss_R_18_FPN_shapes_long.py``: ResNet-18 from scratch, FPN P3-P7, 128-channel FPN and
head, AdamW; the quick start's P2-P4 suit only small objects),
with images resized to a shorter side of 320 pixels. The data and the number of classes come from
the command line (``configs/common/data/custom.py``)::

    python train_net.py --config-file configs/Custom/atss_R_18_FPN_cpu.py \
        dataset.train.annotations=annotations/ dataset.test.annotations=val_annotations/
"""

import detectron2.data.transforms as T
from detectron2.config import LazyCall as L

from ..common.data.custom import dataloader, dataset
from ..Shapes.atss_R_18_FPN_shapes_long import lr_multiplier, model, optimizer, train

model.num_classes = None  # the training set's
dataloader.train.mapper.augmentations = [
    L(T.ResizeShortestEdge)(short_edge_length=320, max_size=533, sample_style="choice"),
    L(T.RandomFlip)(horizontal=True),
]
dataloader.test.mapper.augmentations = [
    L(T.ResizeShortestEdge)(short_edge_length=320, max_size=533)
]
dataloader.train.num_workers = 1
dataloader.test.num_workers = 1
train.output_dir = "./output/custom/atss_R_18_FPN_cpu"
# Evaluation every 200 of the 1400 iterations keeps model_best.pth meaningful and lets early
# stopping end a run whose AP no longer improves (docs/evaluation.md has the measured cost).
train.eval_period = 200
train.early_stop.enabled = True
train.early_stop.patience = 3
train.validation_loss = True
