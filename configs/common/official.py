"""
Test-time settings of the authors' ATSS models (maskrcnn-benchmark), for checkpoints converted by
``tools/convert_official_checkpoint.py``: BGR input in 0-255 minus maskrcnn-benchmark's pixel mean
with unit std (its ``INPUT.PIXEL_MEAN``, ``PIXEL_STD``, ``TO_BGR255``), shorter side 800 and longer
at most 1333 (``MIN_SIZE_TEST``, ``MAX_SIZE_TEST``), padding to a multiple of 32 (the FPN's
``size_divisibility``, the official ``DATALOADER.SIZE_DIVISIBILITY``), and the official anchor
centres, half a pixel from detectron2's (``ATSSAnchorGenerator.center_shift``).
"""
import detectron2.data.transforms as T
from detectron2.config import LazyCall as L

PIXEL_MEAN = [102.9801, 115.9465, 122.7717]
PIXEL_STD = [1.0, 1.0, 1.0]


def use_official_inference(model, dataloader) -> None:
    """Set ``model`` and ``dataloader.test`` (LazyConfig nodes) to the official test settings."""
    model.pixel_mean = PIXEL_MEAN
    model.pixel_std = PIXEL_STD
    model.input_format = "BGR"
    model.anchor_generator.center_shift = 0.5
    dataloader.train.mapper.image_format = "BGR"
    dataloader.test.mapper.augmentations = [
        L(T.ResizeShortestEdge)(short_edge_length=800, max_size=1333),
    ]
