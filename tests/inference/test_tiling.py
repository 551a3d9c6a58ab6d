"""
Tiled inference as pure tensor functions: the tiles cover the image with the asked overlap, each
detection is reported by one tile only (the one that owns its centre and sees it whole), boxes
cut by a tile edge are not reported, bad tilings are refused, and the merge fuses duplicates.
"""

import pytest
import torch

from atss.inference import check_tiling, merge_detections, reported_by_tile, tile_grid


@pytest.mark.parametrize(
    "height, width, tile, overlap",
    [(2000, 2000, 512, 0.2), (300, 250, 128, 0.25), (700, 129, 128, 0.0)],
)
def test_tiles_cover_the_image_within_its_borders_and_overlap_as_asked(
    height, width, tile, overlap
):
    grid = tile_grid(height, width, tile, overlap)
    covered = torch.zeros(height, width, dtype=torch.int)
    for x0, y0, x1, y1 in grid.windows.tolist():
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
        assert (x1 - x0, y1 - y0) == (min(tile, width), min(tile, height))
        covered[y0:y1, x0:x1] += 1
    assert covered.min() >= 1
    xs = sorted(set(grid.windows[:, 0].tolist()))
    min_overlap = tile - int(tile * (1 - overlap))
    assert all(tile - (b - a) >= min_overlap for a, b in zip(xs, xs[1:]))


def test_an_image_smaller_than_the_tile_is_one_tile_of_its_size():
    grid = tile_grid(100, 80, 512, 0.2)
    assert grid.windows.tolist() == [[0, 0, 80, 100]]
    assert not grid.inner_edges.any()


def test_the_owned_parts_split_the_image_into_one_owner_per_point():
    grid = tile_grid(300, 250, 128, 0.25)
    ys, xs = torch.meshgrid(torch.arange(0, 300, 0.5), torch.arange(0, 250, 0.5), indexing="ij")
    points = torch.stack([xs.flatten(), ys.flatten()], dim=1)
    owned = grid.owned
    inside = (points[:, None] >= owned[None, :, :2]) & (points[:, None] < owned[None, :, 2:])
    assert (inside.all(dim=2).sum(dim=1) == 1).all()


def boxes_in_every_tile(grid, box):
    """The same image box as detected in each tile that sees it whole, and its tile index."""
    x0, y0, x1, y1 = box
    windows = grid.windows.float()
    whole = (
        (windows[:, 0] <= x0)
        & (windows[:, 1] <= y0)
        & (windows[:, 2] >= x1)
        & (windows[:, 3] >= y1)
    )
    tiles = torch.nonzero(whole).flatten()
    return torch.tensor([box] * len(tiles), dtype=torch.float), tiles


@pytest.mark.parametrize(
    "box", [[100.0, 100.0, 120.0, 118.0], [5.0, 90.0, 25.0, 110.0], [130.0, 175.0, 158.0, 200.0]]
)
def test_an_object_seen_whole_by_several_tiles_is_reported_by_one(box):
    grid = tile_grid(300, 250, 128, 0.25)  # overlaps of at least 32 px, objects of 30 px
    boxes, tiles = boxes_in_every_tile(grid, box)
    assert len(tiles) >= 2  # in an overlap
    assert reported_by_tile(boxes, tiles, grid).sum() == 1


def test_a_box_cut_by_an_inner_tile_edge_is_not_reported():
    grid = tile_grid(300, 250, 128, 0.25)
    # Tile 0 is [0, 128) x [0, 128); an object at x 100..140 is cut at its right edge x = 128.
    cut = torch.tensor([[100.0, 10.0, 128.0, 30.0]])
    assert not reported_by_tile(cut, torch.tensor([0]), grid).any()


def test_a_box_at_the_image_border_is_reported():
    grid = tile_grid(300, 250, 128, 0.25)
    at_border = torch.tensor([[0.0, 0.0, 20.0, 15.0]])
    assert reported_by_tile(at_border, torch.tensor([0]), grid).all()


@pytest.mark.parametrize(
    "tile, overlap, message",
    [
        (64, 0.2, "smaller than the model's largest stride 128"),
        (512, 1.0, "must lie in"),
        (512, -0.1, "must lie in"),
    ],
)
def test_bad_tilings_are_refused_with_the_reason(tile, overlap, message):
    with pytest.raises(ValueError, match=message):
        check_tiling(tile, overlap, largest_stride=128)


@pytest.mark.parametrize("method", ["soft_vote", "nms"])
def test_the_merge_fuses_the_same_object_seen_twice(method):
    boxes = torch.tensor(
        [[10.0, 10.0, 30.0, 30.0], [10.5, 10.0, 30.0, 30.5], [50.0, 50.0, 60.0, 60.0]]
    )
    scores = torch.tensor([0.9, 0.8, 0.7])
    classes = torch.tensor([0, 0, 0])
    merged, merged_scores, _ = merge_detections(
        boxes, scores, classes, method=method, iou_threshold=0.6, score_threshold=0.05
    )
    assert len(merged) == 2
    assert merged_scores.tolist() == pytest.approx([0.9, 0.7])


def test_an_unknown_merge_is_refused():
    with pytest.raises(ValueError, match="merge must be one of"):
        merge_detections(
            torch.zeros(0, 4), torch.zeros(0), torch.zeros(0), method="mean", iou_threshold=0.5
        )
