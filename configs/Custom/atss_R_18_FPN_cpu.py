"""
A small ATSS that trains on your own data on a CPU: the model and recipe of the long shapes config
(``Shapes/atss_R_18_FPN_shapes_long.py``: ResNet-18, FPN P3-P7, 128-channel FPN and head, AdamW;
the quick start's P2-P4 suit only small objects), with its trunk starting from torchvision's
ImageNet ResNet-18 and images resized to a shorter side of 320 pixels. The data and the number of
classes come from the command line (``configs/common/data/custom.py``)::

    python train_net.py --config-file configs/Custom/atss_R_18_FPN_cpu.py \
        dataset.train.annotations=annotations/ dataset.test.annotations=val_annotations/

``train.init_checkpoint=""`` trains the same model from scratch, as the shapes configs do
(docs/custom_data.md says when that pays).
"""

import detectron2.data.transforms as T
from detectron2.config import LazyCall as L

from ..common.data.custom import dataloader, dataset
from ..Shapes.atss_R_18_FPN_shapes_long import lr_multiplier, model, optimizer, train

model.num_classes = None  # the training set's

# The ImageNet weights of torchvision's ResNet-18, fetched into torchvision's cache on first use
# (atss/checkpoint/torchvision_resnet.py). The shapes trunk is torchvision's architecture: a 7x7/2
# stem with a 3x3/2 max-pool, two basic blocks per stage of 64-512 channels, strides in the 3x3
# convolutions and 1x1 shortcuts, res2-res5 all used: every trunk tensor loads; FPN and head start
# random.
train.init_checkpoint = "torchvision://resnet18"
# The weights' input: RGB normalised by torchvision's ImageNet mean and std (its 0-1 values
# scaled to 0-255).
model.input_format = "RGB"
model.pixel_mean = [123.675, 116.280, 103.530]
model.pixel_std = [58.395, 57.120, 57.375]
# BatchNorm stays trainable (the shapes recipe's synchronised BN, over the 16 images of a step):
# the ImageNet statistics and affine parameters initialise it, a batch this size estimates the
# statistics of the user's images well, and the same model trains from scratch with
# train.init_checkpoint="" (frozen statistics suit the 2 images per GPU of detectron2's configs).
dataloader.train.mapper.augmentations = [
    L(T.ResizeShortestEdge)(short_edge_length=320, max_size=533, sample_style="choice"),
    L(T.RandomFlip)(horizontal=True),
]
dataloader.train.mapper.image_format = "${model.input_format}"
dataloader.test.mapper.image_format = "${model.input_format}"
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
