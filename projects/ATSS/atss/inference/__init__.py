"""
Inference on the user's images, folders and videos (``demo/demo.py``): the tiling of large images
(:mod:`.tiling`, pure torch), the batched and tiled ``Predictor`` (:mod:`.predictor`) and the
COCO results file (:mod:`.coco_results`); the last two need detectron2 and are imported from
their modules.
"""

from .tiling import (
    MERGE_METHODS,
    TileGrid,
    check_tiling,
    merge_detections,
    reported_by_tile,
    tile_grid,
)

__all__ = [
    "MERGE_METHODS",
    "TileGrid",
    "check_tiling",
    "merge_detections",
    "reported_by_tile",
    "tile_grid",
]
