"""
Specification of ``atss.anchor_grid``: the grid selection of ATSS candidates returns exactly what
the dense ``topk_nearest_candidates`` returns (same anchors, same order, ties to the lower index),
or None for anchors that are not a detectron2 grid.
"""
import math
from typing import List, Sequence
import pytest
import torch

from atss.anchor_grid import detect_anchor_grid, grid_topk_candidates
from atss.assignment import atss_assign, atss_assign_batch, topk_nearest_candidates

STRIDES = (8, 16, 32, 64, 128)


def cell_anchors(sizes: Sequence[float], aspect_ratios: Sequence[float]) -> torch.Tensor:
    """Boxes centred at (0, 0) of area size**2 and height / width = ratio, as detectron2's."""
    boxes = []
    for size in sizes:
        for ratio in aspect_ratios:
            w = math.sqrt(size * size / ratio)
            h = ratio * w
            boxes.append([-w / 2, -h / 2, w / 2, h / 2])
    return torch.tensor(boxes, dtype=torch.float32)


def grid_anchors(
    height: int, width: int, stride: int, offset: float, cells: torch.Tensor
) -> torch.Tensor:
    """(height * width * len(cells), 4) anchors in DefaultAnchorGenerator's layout."""
    xs = torch.arange(offset * stride, width * stride, step=stride, dtype=torch.float32)
    ys = torch.arange(offset * stride, height * stride, step=stride, dtype=torch.float32)
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    shifts = torch.stack([x, y, x, y], dim=-1).reshape(-1, 1, 4)
    return (shifts + cells.view(1, -1, 4)).reshape(-1, 4)


def pyramid(
    image_h: int, image_w: int, cells_per_location: int = 1, offset: float = 0.5
) -> List[torch.Tensor]:
    """Anchors of P3-P7: one square of side 8 * stride, or RetinaNet's 3 scales x 3 ratios."""
    levels = []
    for stride in STRIDES:
        if cells_per_location == 1:
            cells = cell_anchors([8 * stride], [1.0])
        else:
            cells = cell_anchors([4 * stride * 2 ** (i / 3) for i in range(3)], [0.5, 1.0, 2.0])
        h, w = math.ceil(image_h / stride), math.ceil(image_w / stride)
        levels.append(grid_anchors(h, w, stride, offset, cells))
    return levels


def random_centers(num: int, image_h: int, image_w: int, generator: torch.Generator):
    """Centres anywhere in the image and up to a fifth of it outside."""
    size = torch.tensor([image_w, image_h], dtype=torch.float32)
    return (torch.rand(num, 2, generator=generator) * 1.4 - 0.2) * size


def random_boxes(num: int, image_h: int, image_w: int, generator: torch.Generator):
    centers = random_centers(num, image_h, image_w, generator)
    half = torch.rand(num, 2, generator=generator) * 150 + 1
    return torch.cat([centers - half, centers + half], dim=1)


def assert_same_as_dense(anchors_per_level, centers, topk):
    fast = grid_topk_candidates(anchors_per_level, centers, topk)
    assert fast is not None
    assert torch.equal(fast, topk_nearest_candidates(anchors_per_level, centers, topk))


@pytest.mark.parametrize("offset", [0.0, 0.5])
@pytest.mark.parametrize("cells_per_location", [1, 9])
def test_detects_the_default_anchor_generator_layout(offset, cells_per_location):
    levels = pyramid(203, 317, cells_per_location, offset)
    for stride, anchors in zip(STRIDES, levels):
        grid = detect_anchor_grid(anchors)
        assert grid is not None
        assert (grid.height, grid.width) == (math.ceil(203 / stride), math.ceil(317 / stride))
        assert grid.num_cell_anchors == cells_per_location
        assert grid.stride == (stride, stride)
        assert grid.origin == (offset * stride, offset * stride)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("cells_per_location", [1, 9])
def test_equals_dense_selection_on_random_grids(seed, cells_per_location):
    g = torch.Generator().manual_seed(seed)
    image_h, image_w = (int(x) * 2 + 1 for x in torch.randint(20, 300, (2,), generator=g))
    topk = int(torch.randint(1, 20, (1,), generator=g))
    levels = pyramid(image_h, image_w, cells_per_location, offset=0.5 * (seed % 2))
    assert_same_as_dense(levels, random_centers(300, image_h, image_w, g), topk)


@pytest.mark.parametrize("cells_per_location", [1, 9])
def test_equals_dense_selection_on_tiny_images_with_levels_smaller_than_k(cells_per_location):
    g = torch.Generator().manual_seed(0)
    levels = pyramid(61, 45, cells_per_location)
    assert min(len(a) for a in levels) < 17 < max(len(a) for a in levels)
    for topk in (1, 9, 10, 17, 40):
        assert_same_as_dense(levels, random_centers(100, 61, 45, g), topk)


@pytest.mark.parametrize("offset", [0.0, 0.5])
@pytest.mark.parametrize("cells_per_location", [1, 9])
def test_equals_dense_selection_for_centres_on_cell_borders(offset, cells_per_location):
    # Multiples of 4 are half strides of P3, cell borders and locations of every level: the
    # nearest locations tie in x, in y or both.
    g = torch.Generator().manual_seed(1)
    levels = pyramid(160, 224, cells_per_location, offset)
    centers = (torch.randint(-8, 65, (400, 2), generator=g) * 4).float()
    for topk in (1, 2, 9, 13):
        assert_same_as_dense(levels, centers, topk)


def test_equal_distances_go_to_the_lower_anchor_index():
    levels = pyramid(64, 64)
    # Exactly between the P3 locations (0, 0) and (0, 1), and between (0, 0) and (1, 0).
    centers = torch.tensor([[8.0, 4.0], [4.0, 8.0]])
    candidates = grid_topk_candidates(levels, centers, 1)
    assert candidates[:, 0].tolist() == [0, 0]
    candidates = grid_topk_candidates(levels, centers, 2)
    assert candidates[:, :2].tolist() == [[0, 1], [0, 8]]


@pytest.mark.parametrize("cells_per_location", [1, 9])
def test_equals_dense_selection_for_centres_outside_the_image(cells_per_location):
    g = torch.Generator().manual_seed(2)
    levels = pyramid(160, 224, cells_per_location)
    directions = torch.randn(300, 2, generator=g)
    distances = torch.rand(300, 1, generator=g) * 2000
    centers = torch.tensor([112.0, 80.0]) + directions / directions.norm(dim=1, keepdim=True) * (
        distances + 140
    )
    for topk in (1, 9, 17):
        assert_same_as_dense(levels, centers, topk)


def test_far_above_the_image_the_candidates_are_a_row_not_a_square():
    levels = pyramid(160, 224)
    centers = torch.tensor([[100.0, -400.0]])
    candidates = grid_topk_candidates(levels, centers, 9)[0, :9]
    width = math.ceil(224 / 8)
    assert (candidates < width).all()  # all in the first row of P3
    assert torch.equal(candidates, topk_nearest_candidates(levels, centers, 9)[0, :9])


def test_extremely_distant_centres_give_the_dense_result_or_none():
    # Thousands of strides away, float32 distances of neighbouring anchors nearly collide: the
    # grid path must either prove its result or hand over to the dense one.
    levels = pyramid(160, 224, 9)
    centers = torch.tensor([[100.0, -1e5], [3e4, 50.0], [-1e6, -1e6], [100.0, 50.0]])
    fast = grid_topk_candidates(levels, centers, 9)
    dense = topk_nearest_candidates(levels, centers, 9)
    assert fast is None or torch.equal(fast, dense)
    boxes = torch.cat([centers - 10, centers + 10], dim=1)
    assert torch.equal(atss_assign(levels, boxes), atss_assign(levels, boxes, use_grid=False))


def test_duplicate_centres_get_identical_candidates():
    g = torch.Generator().manual_seed(3)
    levels = pyramid(128, 96, 9)
    centers = random_centers(20, 128, 96, g).repeat(3, 1)
    candidates = grid_topk_candidates(levels, centers, 9)
    assert torch.equal(candidates[:20], candidates[20:40])
    assert torch.equal(candidates[:20], candidates[40:])
    assert_same_as_dense(levels, centers, 9)


def test_anchors_off_the_grid_by_rounding_still_give_the_dense_result():
    # One float32 ulp up or down on random coordinates, as another way of computing them gives.
    g = torch.Generator().manual_seed(4)
    levels = []
    for anchors in pyramid(96, 128, 9):
        direction = torch.randint(-1, 2, anchors.shape, generator=g)
        towards = torch.where(direction > 0, math.inf, -math.inf)
        levels.append(torch.where(direction != 0, torch.nextafter(anchors, towards), anchors))
    assert all(detect_anchor_grid(a) is not None for a in levels)
    assert_same_as_dense(levels, random_centers(200, 96, 128, g), 9)


def test_anchors_jittered_beyond_rounding_are_no_grid_and_assignment_falls_back_to_dense():
    g = torch.Generator().manual_seed(10)
    levels = pyramid(96, 128, 9)
    levels[1] = levels[1] + (torch.rand(levels[1].shape, generator=g) - 0.5) * 0.1
    assert detect_anchor_grid(levels[1]) is None
    boxes = random_boxes(30, 96, 128, g)
    assert torch.equal(atss_assign(levels, boxes), atss_assign(levels, boxes, use_grid=False))


@pytest.mark.parametrize("cells_per_location", [1, 9])
def test_atss_assign_with_grid_equals_dense(cells_per_location):
    g = torch.Generator().manual_seed(5)
    levels = pyramid(301, 417, cells_per_location)
    boxes = random_boxes(200, 301, 417, g)
    boxes[100:110] = boxes[:10]  # duplicate ground truths
    assert grid_topk_candidates(levels, (boxes[:, :2] + boxes[:, 2:]) / 2, 9) is not None
    assert torch.equal(atss_assign(levels, boxes), atss_assign(levels, boxes, use_grid=False))


def test_atss_assign_batch_with_grid_equals_dense():
    g = torch.Generator().manual_seed(6)
    levels = pyramid(256, 320, 9)
    gts = [random_boxes(n, 256, 320, g) for n in (0, 7, 50)]
    all_gts = torch.cat(gts)
    assert grid_topk_candidates(levels, (all_gts[:, :2] + all_gts[:, 2:]) / 2, 9) is not None
    assert torch.equal(
        atss_assign_batch(levels, gts), atss_assign_batch(levels, gts, use_grid=False)
    )


def test_shuffled_anchors_are_no_grid_and_assignment_falls_back_to_dense():
    g = torch.Generator().manual_seed(7)
    levels = pyramid(96, 128)
    levels[0] = levels[0][torch.randperm(len(levels[0]), generator=g)]
    assert detect_anchor_grid(levels[0]) is None
    assert grid_topk_candidates(levels, random_centers(5, 96, 128, g), 9) is None
    boxes = random_boxes(30, 96, 128, g)
    assert torch.equal(atss_assign(levels, boxes), atss_assign(levels, boxes, use_grid=False))


def test_column_major_and_irregular_layouts_are_no_grid():
    anchors = grid_anchors(6, 10, 8, 0.5, cell_anchors([64], [1.0]))
    column_major = anchors.view(6, 10, 4).transpose(0, 1).reshape(-1, 4)
    assert detect_anchor_grid(column_major) is None
    moved = anchors.clone()
    moved[37] += 3.0
    assert detect_anchor_grid(moved) is None
    # Cell anchors with different centres break "the anchors of a location share its centre".
    off_centre = grid_anchors(6, 10, 8, 0.5, torch.tensor([[-4.0, -4, 4, 4], [0, 0, 8, 8]]))
    assert detect_anchor_grid(off_centre) is None
    not_finite = anchors.clone()
    not_finite[20, 0] = math.nan
    assert detect_anchor_grid(not_finite) is None


def test_single_row_single_column_and_single_location_levels_are_grids():
    cells = cell_anchors([32, 64], [0.5, 1.0, 2.0])
    for height, width in ((1, 13), (13, 1), (1, 1)):
        anchors = grid_anchors(height, width, 16, 0.5, cells)
        grid = detect_anchor_grid(anchors)
        assert (grid.height, grid.width, grid.num_cell_anchors) == (height, width, 6)
        centers = torch.tensor([[0.0, 0.0], [100.0, 30.0], [-50.0, 300.0], [8.0, 8.0]])
        assert_same_as_dense([anchors], centers, 5)


def test_no_centres_give_an_empty_selection():
    levels = pyramid(64, 96)
    candidates = grid_topk_candidates(levels, torch.zeros(0, 2), 9)
    assert candidates.shape == (0, sum(min(9, len(a)) for a in levels))
    assert candidates.dtype == torch.long


@pytest.mark.parametrize(
    "centers, topk, message",
    [
        (torch.zeros(3, 2), 0, "topk"),
        (torch.zeros(3, 2), 2.0, "topk"),
        (torch.zeros(3), 9, "centers"),
        (torch.tensor([[0.0, float("nan")]]), 9, "finite"),
    ],
)
def test_bad_input_raises_a_value_error_naming_it(centers, topk, message):
    with pytest.raises(ValueError, match=message):
        grid_topk_candidates(pyramid(64, 64), centers, topk)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("cells_per_location", [1, 9])
def test_cuda_selection_equals_cpu_and_dense(cells_per_location):
    g = torch.Generator().manual_seed(8)
    levels = pyramid(800, 1216, cells_per_location)
    centers = random_centers(2000, 800, 1216, g)
    cpu = grid_topk_candidates(levels, centers, 9)
    levels_cuda, centers_cuda = [a.cuda() for a in levels], centers.cuda()
    cuda = grid_topk_candidates(levels_cuda, centers_cuda, 9)
    assert torch.equal(cuda.cpu(), cpu)
    assert torch.equal(cuda, topk_nearest_candidates(levels_cuda, centers_cuda, 9))


@pytest.mark.detectron2
@pytest.mark.parametrize("offset", [0.0, 0.5])
def test_detectron2_default_anchor_generator_output_is_a_grid(offset):
    from detectron2.modeling.anchor_generator import DefaultAnchorGenerator

    generator = DefaultAnchorGenerator(
        sizes=[[4 * s * 2 ** (i / 3) for i in range(3)] for s in STRIDES],
        aspect_ratios=[0.5, 1.0, 2.0],
        strides=list(STRIDES),
        offset=offset,
    )
    features = [torch.zeros(1, 1, math.ceil(203 / s), math.ceil(317 / s)) for s in STRIDES]
    levels = [boxes.tensor for boxes in generator(features)]
    assert all(detect_anchor_grid(a).num_cell_anchors == 9 for a in levels)
    g = torch.Generator().manual_seed(9)
    assert_same_as_dense(levels, random_centers(300, 203, 317, g), 9)
