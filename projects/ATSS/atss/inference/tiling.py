"""
Tiled inference of large images: the grid of overlapping tiles, which tile reports which
detection, and the merge of the tiles' detections with those of the whole image. Pure torch;
never imports detectron2.

Each tile reports only the objects it sees whole and whose centre lies in the part of the image
it owns. The owned parts split the image at the middle of each overlap, so they cover it without
overlapping: an object no larger than the overlap (less the edge margin) lies whole in the tile
that owns its centre and is reported by that tile alone, and a box cut by a tile edge is never
reported. Larger objects are left to the whole image, run downscaled beside the tiles.
"""

import math
from dataclasses import dataclass
from typing import Tuple
import torch
from torch import Tensor
from torchvision.ops import batched_nms

from ..box_voting import MERGE_METHODS, box_voting

__all__ = [
    "MERGE_METHODS",
    "TileGrid",
    "check_tiling",
    "merge_detections",
    "reported_by_tile",
    "tile_grid",
]

# The names of the test-time augmentation's merges (atss.modeling.test_time_augmentation).


@dataclass(frozen=True)
class TileGrid:
    """
    The tiles of one image, T of them, row by row.

    Attributes:
        windows: (T, 4) int64 pixel windows (x0, y0, x1, y1), x1 and y1 exclusive.
        owned: (T, 4) float (x0, y0, x1, y1) of the part of the image whose detections (by box
            centre) the tile reports, -inf or inf at the image's borders; they tile the plane.
        inner_edges: (T, 4) bool, whether each window edge (left, top, right, bottom) lies
            inside the image, where a box touching it may be cut.
    """

    windows: Tensor
    owned: Tensor
    inner_edges: Tensor

    def __len__(self) -> int:
        return len(self.windows)


def check_tiling(tile: int, overlap: float, largest_stride: int) -> None:
    """ValueError naming the problem when tiles of ``tile`` pixels overlapping by ``overlap``
    (a fraction of the tile) cannot be run by a model whose coarsest level has
    ``largest_stride``."""
    if tile < largest_stride:
        raise ValueError(
            f"--tile {tile} is smaller than the model's largest stride {largest_stride}: a tile "
            "must hold at least one location of every level."
        )
    if not 0 <= overlap < 1:
        raise ValueError(f"--overlap {overlap} must lie in [0, 1) (a fraction of the tile).")


def _axis(length: int, tile: int, overlap: float) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Starts, ends, owned lower and upper bounds of the tiles along one image axis."""
    if length <= tile:
        starts = torch.zeros(1, dtype=torch.long)
    else:
        step = max(1, math.floor(tile * (1 - overlap)))
        count = math.ceil((length - tile) / step) + 1
        # Spread evenly from border to border: every overlap is at least the asked one.
        starts = torch.linspace(0, length - tile, count, dtype=torch.float64).floor().long()
    ends = (starts + tile).clamp(max=length)
    middles = (starts[1:] + ends[:-1]).double() / 2
    inf = torch.tensor([math.inf], dtype=torch.float64)
    return starts, ends, torch.cat([-inf, middles]), torch.cat([middles, inf])


def tile_grid(height: int, width: int, tile: int, overlap: float) -> TileGrid:
    """
    Square tiles of ``tile`` pixels (cut to the image where it is smaller) covering an image of
    ``height`` x ``width``: along each axis, the fewest tiles that advance by at most
    ``floor(tile * (1 - overlap))`` pixels, spread evenly from the first border to the last, so
    that consecutive tiles overlap by at least ``tile - floor(tile * (1 - overlap))`` pixels.
    """
    x0, x1, own_x0, own_x1 = _axis(width, tile, overlap)
    y0, y1, own_y0, own_y1 = _axis(height, tile, overlap)
    rows, cols = len(y0), len(x0)
    iy = torch.arange(rows).repeat_interleave(cols)
    ix = torch.arange(cols).repeat(rows)
    windows = torch.stack([x0[ix], y0[iy], x1[ix], y1[iy]], dim=1)
    owned = torch.stack([own_x0[ix], own_y0[iy], own_x1[ix], own_y1[iy]], dim=1)
    inner_edges = torch.stack([ix > 0, iy > 0, ix < cols - 1, iy < rows - 1], dim=1)
    return TileGrid(windows, owned.float(), inner_edges)


def reported_by_tile(
    boxes: Tensor, tile_index: Tensor, grid: TileGrid, edge_margin: float = 1.0
) -> Tensor:
    """
    Which detections their tile reports: the box does not come within ``edge_margin`` pixels
    of an edge of its tile that lies inside the image (where it may be cut), and its centre
    lies in the tile's owned part.

    Args:
        boxes: (N, 4) boxes (x0, y0, x1, y1) in the image's pixels.
        tile_index: (N,) index into ``grid`` of the tile each box was detected in.
        grid: the image's tiles.
        edge_margin: how close to an inner edge a box counts as cut, in pixels.

    Returns:
        (N,) bool.
    """
    windows = grid.windows.to(boxes)[tile_index]
    owned = grid.owned.to(boxes)[tile_index]
    inner = grid.inner_edges.to(boxes.device)[tile_index]
    # Distance of each box side to its window's side: left, top, right, bottom.
    gaps = torch.cat([boxes[:, :2] - windows[:, :2], windows[:, 2:] - boxes[:, 2:]], dim=1)
    cut = (inner & (gaps < edge_margin)).any(dim=1)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    inside = ((centres >= owned[:, :2]) & (centres < owned[:, 2:])).all(dim=1)
    return inside & ~cut


def merge_detections(
    boxes: Tensor,
    scores: Tensor,
    classes: Tensor,
    *,
    method: str,
    iou_threshold: float,
    score_threshold: float = 0.05,
) -> Tuple[Tensor, Tensor, Tensor]:
    """
    Merge the detections of several passes over one image (tiles and the whole image) of the
    same objects: by :func:`atss.box_voting` (``"soft_vote"``, ``score_threshold`` for its soft
    copies) or by class-wise NMS (``"nms"``) at ``iou_threshold``. Nothing is dropped for
    number: every pass has already capped its own.

    Args:
        boxes: (N, 4) boxes (x0, y0, x1, y1) in the image's pixels.
        scores: (N,) scores; classes: (N,) integer classes.

    Returns:
        boxes (M, 4), scores (M,) and classes (M,) by decreasing score.
    """
    if method not in MERGE_METHODS:
        raise ValueError(f"merge must be one of {MERGE_METHODS}, got {method!r}")
    if len(boxes) == 0:
        return boxes, scores, classes
    if method == "soft_vote":
        return box_voting(
            boxes,
            scores,
            classes,
            iou_threshold=iou_threshold,
            score_threshold=score_threshold,
            max_detections=len(boxes) * 2,
        )
    keep = batched_nms(boxes, scores, classes, iou_threshold)
    return boxes[keep], scores[keep], classes[keep]
