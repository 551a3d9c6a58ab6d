"""
Specification of ``atss.assignment``: each rule agrees with a plainly written reference that
follows the paper's text (Algorithm 1 for ATSS, Section 3.3 for the FCOS and RetinaNet rules) on
many random images, and behaves as documented on hand-made and degenerate inputs.
"""
import math
from typing import List, Optional, Sequence, Tuple, Union
import pytest
import torch
from torch import Tensor

from atss.assignment import (
    CENTER_IN_BOX_MARGIN,
    FCOS_CENTER_MARGIN,
    IGNORED,
    NEGATIVE,
    assignment_stats,
    atss_assign,
    atss_assign_batch,
    fcos_assign,
    max_iou_assign,
    topk_nearest_candidates,
)

STRIDES = (8, 16, 32, 64, 128)
FCOS_RANGES = ((0, 64), (64, 128), (128, 256), (256, 512), (512, math.inf))
# RetinaNet's 9 anchors per location: 3 sizes per octave from 4 * stride, 3 aspect ratios.
RETINA_SIZES = (4.0, 4.0 * 2 ** (1 / 3), 4.0 * 2 ** (2 / 3))
RETINA_RATIOS = (0.5, 1.0, 2.0)
# A reference outcome decided by a float64 comparison closer than this to its threshold may go
# either way in the implementation's float32 and is not compared (see `close_call`).
IOU_TOL = 1e-5
COORD_TOL = 1e-3
NUM_RANDOM_CASES = 60


# Inputs -----------------------------------------------------------------------------------------


def grid_anchors(
    height: int,
    width: int,
    sizes: Sequence[float] = (8.0,),
    aspect_ratios: Sequence[float] = (1.0,),
    strides: Sequence[int] = STRIDES,
) -> List[Tensor]:
    """
    Anchors laid out as detectron2's DefaultAnchorGenerator lays them out: per level the
    locations of a (ceil(H / s), ceil(W / s)) map row-major, centred at (j + 0.5) * s, and at each
    the cell anchors (sizes outer, aspect ratios inner) of side ``size * stride``.
    """
    levels = []
    for stride in strides:
        cells = []
        for size in sizes:
            for ratio in aspect_ratios:
                w = size * stride / math.sqrt(ratio)
                h = ratio * w
                cells.append([-w / 2, -h / 2, w / 2, h / 2])
        ys = (torch.arange(math.ceil(height / stride)) + 0.5) * stride
        xs = (torch.arange(math.ceil(width / stride)) + 0.5) * stride
        cy, cx = torch.meshgrid(ys, xs, indexing="ij")
        shifts = torch.stack([cx, cy, cx, cy], dim=-1).reshape(-1, 1, 4)
        levels.append((shifts + torch.tensor(cells)).reshape(-1, 4))
    return levels


def log_uniform(gen: torch.Generator, shape: Tuple[int, ...], lo: float, hi: float) -> Tensor:
    return torch.empty(shape).uniform_(math.log(lo), math.log(hi), generator=gen).exp()


def boxes_from_centers(centers: Tensor, sizes: Tensor) -> Tensor:
    return torch.cat([centers - sizes / 2, centers + sizes / 2], dim=1)


def random_anchors(gen: torch.Generator, height: int, width: int) -> List[Tensor]:
    """Anchor sets that are no grid: 0-40 random boxes per level, a few of them empty."""
    image = torch.tensor([width, height])
    levels = []
    for stride in STRIDES:
        n = int(torch.randint(0, 41, (1,), generator=gen))
        centers = (torch.rand(n, 2, generator=gen) * 1.2 - 0.1) * image
        sizes = stride * log_uniform(gen, (n, 2), 1, 16)
        sizes[torch.rand(n, generator=gen) < 0.05] = 0
        levels.append(boxes_from_centers(centers, sizes))
    return levels


def random_gt_boxes(gen: torch.Generator, height: int, width: int, max_boxes: int = 12) -> Tensor:
    """
    0-12 boxes from 0.5 px to twice the image, many over the borders; sometimes with integer
    coordinates (exact ties of distances, IoUs and areas; some empty boxes) and duplicates.
    """
    image = torch.tensor([width, height])
    n = int(torch.randint(0, max_boxes + 1, (1,), generator=gen))
    centers = (torch.rand(n, 2, generator=gen) * 1.5 - 0.25) * image
    boxes = boxes_from_centers(centers, log_uniform(gen, (n, 2), 0.5, 2 * max(height, width)))
    if torch.rand(1, generator=gen) < 0.3:
        boxes = boxes.round()
    if n > 0 and torch.rand(1, generator=gen) < 0.5:
        boxes = torch.cat([boxes, boxes[torch.randint(0, n, (3,), generator=gen)]])
    return boxes


def random_case(seed: int) -> Tuple[List[Tensor], Tensor]:
    """A random image: grid anchors with 1 or 9 anchors per location, or random anchors."""
    gen = torch.Generator().manual_seed(seed)
    height, width = (int(v) for v in torch.randint(32, 321, (2,), generator=gen))
    if seed % 3 == 0:
        anchors = grid_anchors(height, width)
    elif seed % 3 == 1:
        anchors = grid_anchors(height, width, RETINA_SIZES, RETINA_RATIOS)
    else:
        anchors = random_anchors(gen, height, width)
    return anchors, random_gt_boxes(gen, height, width)


# References ------------------------------------------------------------------------------------


def centers_of(boxes: Tensor) -> Tensor:
    return (boxes[..., :2] + boxes[..., 2:]) / 2


def sides_of(points: Tensor, box: Tensor) -> Tensor:
    """(l, t, r, b) distances from (n, 2) points to the sides of one box, (n, 4)."""
    return torch.cat([points - box[:2], box[2:] - points], dim=1)


def iou_with(anchors: Tensor, box: Tensor) -> Tensor:
    """IoU of (n, 4) anchors with one box, detectron2's formula (no +1; 0 without overlap)."""
    w = (torch.minimum(anchors[:, 2], box[2]) - torch.maximum(anchors[:, 0], box[0])).clamp(min=0)
    h = (torch.minimum(anchors[:, 3], box[3]) - torch.maximum(anchors[:, 1], box[1])).clamp(min=0)
    inter = w * h
    box_area = (box[2] - box[0]) * (box[3] - box[1])
    anchor_areas = (anchors[:, 2] - anchors[:, 0]) * (anchors[:, 3] - anchors[:, 1])
    union = box_area + anchor_areas - inter
    return torch.where(inter > 0, inter / union, torch.zeros_like(inter))


def close_call(value: Tensor, bound: Union[float, Tensor], tol: float) -> Tensor:
    """
    Where a float64 reference value is within ``tol`` of the bound it is compared with, but not
    on it: the implementation's float32 may fall on either side. Exact equality is reproduced:
    inputs are float32 and the references compute centres in float32 as documented.
    """
    return ((value - bound).abs() < tol) & (value != bound)


def reference_atss(
    anchors_per_level: List[Tensor],
    gt_boxes: Tensor,
    topk: int = 9,
    center_margin: float = CENTER_IN_BOX_MARGIN,
) -> Tuple[Tensor, Tensor]:
    """
    Algorithm 1 line by line, one ground truth and one level at a time, in float64 from the
    float32 centres. Candidates are chosen on the documented float32 distance, equal distances
    to the lower anchor index.

    Returns the expected assignment and the anchors not to compare: those whose outcome rests on
    a comparison within rounding of its threshold.
    """
    anchors = torch.cat(anchors_per_level)
    anchors64, boxes64 = anchors.double(), gt_boxes.double()
    anchor_centers = centers_of(anchors).double()
    expected = torch.full((len(anchors),), NEGATIVE)
    best_iou = [-1.0] * len(anchors)
    unsure = torch.zeros(len(anchors), dtype=torch.bool)
    for g, box in enumerate(boxes64):
        # Lines 3-6: on each level the k anchors whose centres are closest to the box centre.
        candidates, start = [], 0
        for level in anchors_per_level:
            distances = (centers_of(level) - centers_of(gt_boxes[g])).pow(2).sum(dim=1).sqrt()
            candidates.append(torch.sort(distances, stable=True).indices[:topk] + start)
            start += len(level)
        candidates = torch.cat(candidates)
        # Lines 7-10: threshold = mean + standard deviation (unbiased; 0 for one candidate).
        ious = iou_with(anchors64[candidates], box)
        std = ious.std() if len(ious) > 1 else 0.0
        threshold = ious.mean() + std
        # Lines 11-15: IoU >= threshold and the centre inside the box (by > 0.51 px, official).
        margin = sides_of(anchor_centers[candidates], box).amin(dim=1)
        good_iou, inside = ious >= threshold, margin > center_margin
        iou_call = (ious - threshold).abs() < IOU_TOL  # the threshold itself is rounded
        inside_call = close_call(margin, center_margin, COORD_TOL)
        surely = good_iou & ~iou_call & inside & ~inside_call
        maybe = (good_iou | iou_call) & (inside | inside_call)
        unsure[candidates] |= maybe & ~surely
        # Claimed by several: the highest IoU wins, equal IoUs go to the lower index.
        positive = good_iou & inside
        for c, iou in zip(candidates[positive].tolist(), ious[positive].tolist()):
            if 0 < abs(iou - best_iou[c]) < IOU_TOL:
                unsure[c] = True
            if iou > best_iou[c]:
                best_iou[c], expected[c] = iou, g
    return expected, unsure


def reference_fcos(
    anchors_per_level: List[Tensor],
    strides: Sequence[int],
    gt_boxes: Tensor,
    size_ranges: Sequence[Tuple[float, float]] = FCOS_RANGES,
    radius: Optional[float] = None,
    center_margin: float = FCOS_CENTER_MARGIN,
) -> Tuple[Tensor, Tensor]:
    """
    FCOS' spatial and scale constraint as official FCOS writes it, one level and one ground truth
    at a time, in float64 from the float32 centres. Returns the expected assignment and the
    anchors not to compare.
    """
    boxes64 = gt_boxes.double()
    box_centers = centers_of(gt_boxes).double()
    expected, unsure = [], []
    for level, stride, (lo, hi) in zip(anchors_per_level, strides, size_ranges):
        points = centers_of(level).double()
        level_expected = torch.full((len(level),), NEGATIVE)
        best_area = torch.full((len(level),), math.inf, dtype=torch.float64)
        level_unsure = torch.zeros(len(level), dtype=torch.bool)
        for g, box in enumerate(boxes64):
            sides = sides_of(points, box)
            # Spatial: inside the box by more than the margin (official FCOS' "> 0" in its index
            # frame); with center sampling also strictly inside the square of half-side
            # radius * stride around the box centre (get_sample_region).
            margin = sides.amin(dim=1) - center_margin
            if radius is not None:
                half = radius * stride
                square = torch.cat([box_centers[g] - half, box_centers[g] + half])
                margin = torch.minimum(margin, sides_of(points, square).amin(dim=1))
            # Scale: the largest distance in the level's range, both ends included.
            largest = sides.amax(dim=1)
            tests = [margin > 0, largest >= lo, largest <= hi]
            calls = [
                close_call(margin, 0, COORD_TOL),
                close_call(largest, lo, COORD_TOL),
                close_call(largest, hi, COORD_TOL),
            ]
            ok = tests[0] & tests[1] & tests[2]
            surely, maybe = ok.clone(), torch.ones_like(ok)
            for test, call in zip(tests, calls):
                surely &= ~call
                maybe &= test | call
            level_unsure |= maybe & ~surely
            # Several boxes: the smallest area wins, equal areas go to the lower index.
            area = (box[2] - box[0]) * (box[3] - box[1])
            level_unsure |= ok & close_call(area, best_area, 1e-6 * max(float(area), 1.0))
            better = ok & (area < best_area)
            best_area = torch.where(better, area, best_area)
            level_expected = torch.where(better, g, level_expected)
        expected.append(level_expected)
        unsure.append(level_unsure)
    return torch.cat(expected), torch.cat(unsure)


def reference_max_iou(
    anchors_per_level: List[Tensor],
    gt_boxes: Tensor,
    fg_iou: float = 0.5,
    bg_iou: float = 0.4,
    allow_low_quality_matches: bool = True,
    require_center_in_gt: bool = False,
    center_margin: float = CENTER_IN_BOX_MARGIN,
) -> Tensor:
    """
    RetinaNet's rule as Section 3.3 and detectron2's Matcher state it, one ground truth at a time.
    In float32 with detectron2's IoU formula: the same arithmetic as the implementation, so the
    IoU ties that decide the low-quality matches are the same ties and the comparison is exact.
    """
    anchors = torch.cat(anchors_per_level)
    best = torch.full((len(anchors),), -1.0)
    matched = torch.full((len(anchors),), NEGATIVE)
    ious = [iou_with(anchors, box) for box in gt_boxes]
    for g, iou in enumerate(ious):
        better = iou > best  # equal IoUs keep the lower index
        best = torch.where(better, iou, best)
        matched = torch.where(better, g, matched)
    expected = torch.where(best >= fg_iou, matched, torch.where(best < bg_iou, NEGATIVE, IGNORED))
    if allow_low_quality_matches:
        # Each box's best anchors (all ties, if that IoU > 0) are positive, for their own best box.
        for iou in ious:
            if iou.max() > 0:
                expected = torch.where(iou == iou.max(), matched, expected)
    if require_center_in_gt and len(gt_boxes) > 0:
        # "In GT Box": a positive whose centre is not inside its box (by > 0.51 px) is ignored.
        box = gt_boxes[matched.clamp(min=0)]
        points = centers_of(anchors)
        margin = torch.cat([points - box[:, :2], box[:, 2:] - points], dim=1).amin(dim=1)
        expected = torch.where((expected >= 0) & (margin <= center_margin), IGNORED, expected)
    return expected


def assert_equal_where_sure(actual: Tensor, expected: Tensor, unsure: Tensor) -> None:
    assert actual.dtype == torch.long and actual.shape == expected.shape
    # The skipped anchors are those on a threshold: a handful, never the bulk of the positives.
    assert int(unsure.sum()) <= max(3, 0.002 * len(unsure))
    mismatch = (actual != expected) & ~unsure
    assert not mismatch.any(), (
        f"anchors {mismatch.nonzero().flatten().tolist()[:10]}: got "
        f"{actual[mismatch].tolist()[:10]}, expected {expected[mismatch].tolist()[:10]}"
    )


# Agreement with the references on random images -------------------------------------------------


@pytest.mark.parametrize("use_grid", [False, True], ids=["dense", "grid"])
@pytest.mark.parametrize("seed", range(NUM_RANDOM_CASES))
def test_atss_matches_algorithm_1(seed, use_grid):
    anchors, gt_boxes = random_case(seed)
    expected, unsure = reference_atss(anchors, gt_boxes)
    assert_equal_where_sure(atss_assign(anchors, gt_boxes, use_grid=use_grid), expected, unsure)


@pytest.mark.parametrize("topk", [1, 4, 17])
def test_atss_matches_algorithm_1_for_other_k(topk):
    for seed in range(6):
        anchors, gt_boxes = random_case(seed)
        expected, unsure = reference_atss(anchors, gt_boxes, topk)
        assert_equal_where_sure(atss_assign(anchors, gt_boxes, topk=topk), expected, unsure)


@pytest.mark.parametrize("radius", [None, 1.5, 0.5])
@pytest.mark.parametrize("seed", range(0, NUM_RANDOM_CASES, 2))
def test_fcos_matches_spatial_and_scale_constraint(seed, radius):
    anchors, gt_boxes = random_case(seed)
    expected, unsure = reference_fcos(anchors, STRIDES, gt_boxes, radius=radius)
    actual = fcos_assign(anchors, STRIDES, gt_boxes, center_sampling_radius=radius)
    assert_equal_where_sure(actual, expected, unsure)


@pytest.mark.parametrize(
    "low_quality, center_in_gt, thresholds",
    [(True, False, (0.4, 0.5)), (False, False, (0.4, 0.5)), (True, True, (0.3, 0.6))],
)
@pytest.mark.parametrize("seed", range(0, NUM_RANDOM_CASES, 2))
def test_max_iou_matches_retinanet_rule(seed, low_quality, center_in_gt, thresholds):
    anchors, gt_boxes = random_case(seed)
    kwargs = dict(
        fg_iou=thresholds[1],
        bg_iou=thresholds[0],
        allow_low_quality_matches=low_quality,
        require_center_in_gt=center_in_gt,
    )
    expected = reference_max_iou(anchors, gt_boxes, **kwargs)
    assert torch.equal(max_iou_assign(anchors, gt_boxes, **kwargs), expected)


def test_random_cases_exercise_the_rules():
    # Guards the random comparisons against passing vacuously.
    num_pos = {"atss": 0, "fcos": 0, "max_iou": 0}
    for seed in range(NUM_RANDOM_CASES):
        anchors, gt_boxes = random_case(seed)
        num_pos["atss"] += int((atss_assign(anchors, gt_boxes) >= 0).sum())
        num_pos["fcos"] += int((fcos_assign(anchors, STRIDES, gt_boxes) >= 0).sum())
        num_pos["max_iou"] += int((max_iou_assign(anchors, gt_boxes) >= 0).sum())
    assert min(num_pos.values()) > 100, num_pos


# Batches and candidates -------------------------------------------------------------------------


@pytest.mark.parametrize("use_grid", [False, True], ids=["dense", "grid"])
def test_batch_equals_per_image(use_grid):
    for seed in range(0, 9, 3):
        anchors, _ = random_case(seed)
        gen = torch.Generator().manual_seed(seed)
        images = [random_gt_boxes(gen, 320, 320) for _ in range(5)] + [torch.zeros(0, 4)]
        batch = atss_assign_batch(anchors, images, use_grid=use_grid)
        per_image = torch.stack([atss_assign(anchors, b, use_grid=use_grid) for b in images])
        assert torch.equal(batch, per_image)


def test_candidates_are_ordered_by_distance_then_index():
    # Level 0 centres at x = 10, 0, 20, 10 and level 1 at x = 30, 12; the box centre is x = 10.
    level0 = torch.tensor([[5.0, 0, 15, 10], [-5, 0, 5, 10], [15, 0, 25, 10], [0, 0, 20, 10]])
    level1 = torch.tensor([[20.0, 0, 40, 10], [2, 0, 22, 10]])
    centers = torch.tensor([[10.0, 5.0]])
    assert topk_nearest_candidates([level0, level1], centers, 3).tolist() == [[0, 3, 1, 5, 4]]
    assert topk_nearest_candidates([level0, level1], centers, 9).tolist() == [[0, 3, 1, 2, 5, 4]]


def test_candidates_with_equal_float32_distances_tie_to_the_lower_index():
    # Centres (5000, 1.2) and (5000, 0): float32 squared distances 25000002 and 25000000
    # differ, their square roots do not (both 5000).
    level = torch.tensor([[4999.0, 0.2, 5001, 2.2], [4999, -1, 5001, 1]])
    centers = torch.tensor([[0.0, 0.0]])
    assert topk_nearest_candidates([level], centers, 1).tolist() == [[0]]


# Hand-made cases --------------------------------------------------------------------------------


def concentric_anchors(ious: Sequence[float]) -> List[Tensor]:
    """
    One anchor per level centred on the box (0, 0, 100, 100) with the given IoU (alternately
    inside and around the box), plus two far-away anchors per level that are never candidates
    with k = 1.
    """
    levels = []
    for i, iou in enumerate(ious):
        side = 100 * math.sqrt(iou) if i % 2 else 100 / math.sqrt(iou)
        near = [50 - side / 2, 50 - side / 2, 50 + side / 2, 50 + side / 2]
        levels.append(torch.tensor([[400.0, 400, 460, 460], near, [-300, 0, -200, 100]]))
    return levels


def test_high_mean_and_std_takes_positives_from_one_level():
    # Figure 3(a): one level fits the object much better than the others (threshold 0.61).
    anchors = concentric_anchors([0.2, 0.8, 0.4, 0.1, 0.05])
    assigned = atss_assign(anchors, torch.tensor([[0.0, 0, 100, 100]]), topk=1)
    assert (assigned == 0).nonzero().flatten().tolist() == [4]  # level 1's concentric anchor


def test_low_mean_and_std_takes_positives_from_several_levels():
    # Figure 3(b): no level fits well, two fit about as well (threshold 0.31); a fixed IoU
    # threshold of 0.5 would give the object no positive at all.
    anchors = concentric_anchors([0.32, 0.33, 0.12, 0.11, 0.12])
    gt_boxes = torch.tensor([[0.0, 0, 100, 100]])
    assigned = atss_assign(anchors, gt_boxes, topk=1)
    assert (assigned == 0).nonzero().flatten().tolist() == [1, 4]  # levels 0 and 1
    fixed = max_iou_assign(anchors, gt_boxes, allow_low_quality_matches=False)
    assert not (fixed >= 0).any()


def test_anchor_claimed_by_two_boxes_goes_to_the_higher_iou():
    anchors = [torch.tensor([[0.0, 0, 10, 10]])]
    # The anchor is the only candidate of both boxes, with IoU 0.64 and 0.81.
    gt_boxes = torch.tensor([[1.0, 1, 9, 9], [0.5, 0.5, 9.5, 9.5]])
    assert atss_assign(anchors, gt_boxes).tolist() == [1]


def test_fcos_size_ranges_include_both_ends():
    # The anchor centre (64, 64) is 64 from every side: in [0, 64] and in [64, 128].
    anchors = [torch.tensor([[60.0, 60, 68, 68]]), torch.tensor([[56.0, 56, 72, 72]])]
    gt_boxes = torch.tensor([[0.0, 0, 128, 128]])
    ranges = ((0, 64), (64, 128))
    assert fcos_assign(anchors, (8, 16), gt_boxes, size_ranges=ranges).tolist() == [0, 0]
    ranges = ((0, 63), (65, 128))
    assert fcos_assign(anchors, (8, 16), gt_boxes, size_ranges=ranges).tolist() == [-1, -1]


def test_fcos_prefers_the_smaller_box():
    anchors = [torch.tensor([[45.0, 45, 55, 55]])]
    gt_boxes = torch.tensor([[0.0, 0, 100, 100], [40, 40, 60, 60], [0, 0, 90, 90]])
    assert fcos_assign(anchors, (8,), gt_boxes, size_ranges=((0, 1000),)).tolist() == [1]


def test_center_sampling_keeps_anchors_near_the_box_centre():
    # Stride 8, radius 1.5: the centre must be within 12 px of (100, 100) on each axis.
    anchors = grid_anchors(200, 200, strides=(8,))
    gt_boxes = torch.tensor([[20.0, 20, 180, 180]])
    ranges = ((0, math.inf),)
    sampled = fcos_assign(anchors, (8,), gt_boxes, size_ranges=ranges, center_sampling_radius=1.5)
    centers = centers_of(anchors[0])
    near = ((centers - 100).abs() < 12).all(dim=1)
    assert torch.equal(sampled >= 0, near)
    everywhere = fcos_assign(anchors, (8,), gt_boxes, size_ranges=ranges)
    assert torch.equal(everywhere >= 0, ((centers > 20.5) & (centers < 179.5)).all(dim=1))


def test_center_sampling_region_is_clipped_to_the_box():
    # A 10 px wide box: the 2 * 1.5 * 16 px square around its centre is cut to the box.
    anchors = [torch.tensor([[-8.0, 42, 24, 58], [8, 42, 40, 58]])]  # centres x = 8 and 24
    gt_boxes = torch.tensor([[0.0, 0, 10, 100]])
    kwargs = dict(size_ranges=((0, 1000),), center_sampling_radius=1.5)
    assert fcos_assign(anchors, (16,), gt_boxes, **kwargs).tolist() == [0, -1]


def test_low_quality_match_makes_every_tying_anchor_positive():
    # Both anchors have the box's highest IoU (0.25), below the background threshold.
    anchors = [torch.tensor([[0.0, 0, 20, 20], [10, 0, 30, 20], [40, 0, 60, 20]])]
    gt_boxes = torch.tensor([[10.0, 5, 20, 15]])
    assert max_iou_assign(anchors, gt_boxes).tolist() == [0, 0, -1]
    no_low_quality = max_iou_assign(anchors, gt_boxes, allow_low_quality_matches=False)
    assert no_low_quality.tolist() == [-1, -1, -1]


def test_require_center_in_gt_ignores_positives_centred_outside():
    # The box's best anchor (a low-quality match) has its centre outside the box.
    anchors = [torch.tensor([[-20.0, -20, 1, 1], [50, 50, 60, 60]])]
    gt_boxes = torch.tensor([[0.0, 0, 10, 10]])
    assert max_iou_assign(anchors, gt_boxes).tolist() == [0, -1]
    in_gt = max_iou_assign(anchors, gt_boxes, require_center_in_gt=True)
    assert in_gt.tolist() == [IGNORED, NEGATIVE]


def test_iou_thresholds_include_foreground_and_exclude_background_bound():
    gt_boxes = torch.tensor([[0.0, 0, 10, 10]])
    on_fg = [torch.tensor([[0.0, 0, 10, 20]])]  # IoU 100 / 200 = 0.5
    on_bg = [torch.tensor([[0.0, 0, 10, 25]])]  # IoU 100 / 250 = 0.4
    kwargs = dict(allow_low_quality_matches=False)
    assert max_iou_assign(on_fg, gt_boxes, **kwargs).tolist() == [0]
    assert max_iou_assign(on_bg, gt_boxes, **kwargs).tolist() == [IGNORED]


def test_anchor_centre_inside_by_at_most_0_51_px_is_outside_for_atss_and_in_gt_box():
    # The official "> 0.01" of the index frame is 0.51 px in the continuous one.
    anchors = [torch.tensor([[0.0, 0, 20, 20]])]  # centre (10, 10)
    by_0_50 = torch.tensor([[9.5, 0, 30, 20]])
    by_0_52 = torch.tensor([[9.48, 0, 30, 20]])
    assert atss_assign(anchors, by_0_50).tolist() == [NEGATIVE]
    assert atss_assign(anchors, by_0_52).tolist() == [0]
    assert max_iou_assign(anchors, by_0_50, require_center_in_gt=True).tolist() == [IGNORED]
    assert max_iou_assign(anchors, by_0_52, require_center_in_gt=True).tolist() == [0]


def test_center_margin_0_01_gives_the_former_behaviour():
    anchors = [torch.tensor([[0.0, 0, 20, 20]])]  # centre (10, 10)
    by_0_005 = torch.tensor([[9.995, 0, 30, 20]])
    by_0_02 = torch.tensor([[9.98, 0, 30, 20]])
    assert atss_assign(anchors, by_0_005, center_margin=0.01).tolist() == [NEGATIVE]
    assert atss_assign(anchors, by_0_02, center_margin=0.01).tolist() == [0]
    assert atss_assign_batch(anchors, [by_0_02], center_margin=0.01).tolist() == [[0]]
    in_gt = dict(require_center_in_gt=True, center_margin=0.01)
    assert max_iou_assign(anchors, by_0_005, **in_gt).tolist() == [IGNORED]
    assert max_iou_assign(anchors, by_0_02, **in_gt).tolist() == [0]


def test_fcos_centre_must_be_inside_by_more_than_half_a_pixel():
    # Official FCOS' "> 0" of the index frame; the ATSS code's copy of the rule asks 0.51 px.
    anchors = [torch.tensor([[0.0, 0, 20, 20]])]  # centre (10, 10)
    ranges = ((0, 100),)
    assert fcos_assign(anchors, (8,), torch.tensor([[9.5, 0, 30, 20]]), size_ranges=ranges) == -1
    assert fcos_assign(anchors, (8,), torch.tensor([[9.49, 0, 30, 20]]), size_ranges=ranges) == 0
    by_0_505 = torch.tensor([[9.495, 0, 30, 20]])
    assert fcos_assign(anchors, (8,), by_0_505, size_ranges=ranges, center_margin=0.51) == -1


def test_margin_0_51_is_the_official_index_frame_test():
    # Integer COCO-like boxes and the official anchor centres: a continuous box [x1, x2] is the
    # index box [x1, x2 - 1], a continuous point p the index point p - 0.5.
    torch.manual_seed(0)
    points = torch.arange(0, 64, dtype=torch.float64) + 0.5  # every half-pixel centre
    x1 = torch.randint(0, 60, (200, 1)).double()
    x2 = x1 + torch.randint(1, 8, (200, 1)).double()
    official = ((points - 0.5) - x1 > 0.01) & ((x2 - 1) - (points - 0.5) > 0.01)
    continuous = torch.minimum(points - x1, x2 - points) > CENTER_IN_BOX_MARGIN
    assert torch.equal(official, continuous)
    assert not torch.equal(official, torch.minimum(points - x1, x2 - points) > 0.01)


@pytest.mark.parametrize("center_margin", [0.01, 1.5])
def test_rules_match_the_references_with_other_margins(center_margin):
    for seed in range(0, NUM_RANDOM_CASES, 6):
        anchors, gt_boxes = random_case(seed)
        expected, unsure = reference_atss(anchors, gt_boxes, center_margin=center_margin)
        actual = atss_assign(anchors, gt_boxes, center_margin=center_margin)
        assert_equal_where_sure(actual, expected, unsure)
        expected, unsure = reference_fcos(anchors, STRIDES, gt_boxes, center_margin=center_margin)
        actual = fcos_assign(anchors, STRIDES, gt_boxes, center_margin=center_margin)
        assert_equal_where_sure(actual, expected, unsure)
        kwargs = dict(require_center_in_gt=True, center_margin=center_margin)
        expected = reference_max_iou(anchors, gt_boxes, **kwargs)
        assert torch.equal(max_iou_assign(anchors, gt_boxes, **kwargs), expected)


def test_only_max_iou_ignores_anchors():
    anchors = grid_anchors(128, 128, strides=(8, 16))
    gt_boxes = torch.tensor([[10.0, 10, 70, 60], [50, 40, 120, 128]])
    assert (max_iou_assign(anchors, gt_boxes) == IGNORED).any()
    assert (atss_assign(anchors, gt_boxes) >= NEGATIVE).all()
    assert (fcos_assign(anchors, (8, 16), gt_boxes, size_ranges=FCOS_RANGES[:2]) >= NEGATIVE).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_the_references():
    for seed in range(9):
        anchors, gt_boxes = random_case(seed)
        cuda_anchors, cuda_boxes = [a.cuda() for a in anchors], gt_boxes.cuda()
        expected, unsure = reference_atss(anchors, gt_boxes)
        for use_grid in (False, True):
            assigned = atss_assign(cuda_anchors, cuda_boxes, use_grid=use_grid)
            assert assigned.is_cuda
            assert_equal_where_sure(assigned.cpu(), expected, unsure)
        batch = atss_assign_batch(cuda_anchors, [cuda_boxes, cuda_boxes[:2]])
        assert_equal_where_sure(batch[0].cpu(), expected, unsure)
        expected, unsure = reference_fcos(anchors, STRIDES, gt_boxes, radius=1.5)
        assigned = fcos_assign(cuda_anchors, STRIDES, cuda_boxes, center_sampling_radius=1.5)
        assert_equal_where_sure(assigned.cpu(), expected, unsure)
        assigned = max_iou_assign(cuda_anchors, cuda_boxes, require_center_in_gt=True)
        expected = reference_max_iou(anchors, gt_boxes, require_center_in_gt=True)
        assert torch.equal(assigned.cpu(), expected)


# Degenerate inputs ------------------------------------------------------------------------------


def all_rules(anchors: List[Tensor], gt_boxes: Tensor) -> List[Tensor]:
    strides = STRIDES[: len(anchors)]
    ranges = FCOS_RANGES[: len(anchors)]
    return [
        atss_assign(anchors, gt_boxes),
        atss_assign(anchors, gt_boxes, use_grid=False),
        fcos_assign(anchors, strides, gt_boxes, size_ranges=ranges),
        fcos_assign(anchors, strides, gt_boxes, size_ranges=ranges, center_sampling_radius=1.5),
        max_iou_assign(anchors, gt_boxes),
        max_iou_assign(anchors, gt_boxes, require_center_in_gt=True),
    ]


def test_no_gt_gives_all_negatives():
    anchors = grid_anchors(96, 64)
    num_anchors = sum(len(a) for a in anchors)
    for assigned in all_rules(anchors, torch.zeros(0, 4)):
        assert assigned.dtype == torch.long and assigned.tolist() == [NEGATIVE] * num_anchors
    batch = atss_assign_batch(anchors, [torch.zeros(0, 4)] * 2)
    assert batch.shape == (2, num_anchors) and (batch == NEGATIVE).all()
    assert atss_assign_batch(anchors, []).shape == (0, num_anchors)


def test_empty_boxes_get_no_positives_and_change_nothing_else():
    anchors = grid_anchors(128, 128)
    box = torch.tensor([[20.0, 30, 90, 80]])
    empty = torch.tensor([[50.0, 50, 50, 70], [30, 40, 60, 40], [55, 55, 55, 55]])
    with_empty = all_rules(anchors, torch.cat([box, empty]))
    for alone, with_them in zip(all_rules(anchors, box), with_empty):
        assert torch.equal(alone, with_them)


def test_duplicate_boxes_go_to_the_lower_index():
    anchors = grid_anchors(128, 128, RETINA_SIZES, RETINA_RATIOS)
    box = torch.tensor([[20.0, 30, 90, 80]])
    for alone, twice in zip(all_rules(anchors, box), all_rules(anchors, torch.cat([box, box]))):
        assert (alone >= 0).any() and torch.equal(alone, twice)


def test_levels_with_fewer_anchors_than_topk():
    anchors = [grid_anchors(64, 64, strides=(8,))[0], torch.tensor([[0.0, 0, 60, 60]] * 3)]
    anchors.append(torch.zeros(0, 4))
    gt_boxes = torch.tensor([[10.0, 10, 50, 40], [0, 0, 64, 64]])
    candidates = topk_nearest_candidates(anchors, centers_of(gt_boxes), 9)
    assert candidates.shape == (2, 12)
    assert sorted(candidates[0, 9:].tolist()) == [64, 65, 66]
    expected, unsure = reference_atss(anchors, gt_boxes)
    assert_equal_where_sure(atss_assign(anchors, gt_boxes), expected, unsure)
    single = [torch.tensor([[0.0, 0, 10, 10]])]  # one candidate in all: its std is taken as 0
    assert atss_assign(single, torch.tensor([[2.0, 2, 9, 9]])).tolist() == [0]


def test_slightly_inverted_boxes_are_accepted_as_empty():
    anchors = grid_anchors(64, 64)
    gt_boxes = torch.tensor([[500.0, 20, 500 - 1e-5, 40], [10, 10, 40, 40]])
    for with_it, without in zip(all_rules(anchors, gt_boxes), all_rules(anchors, gt_boxes[1:])):
        assert torch.equal(with_it, torch.where(without >= 0, without + 1, without))


def _good() -> Tuple[List[Tensor], Tensor]:
    return grid_anchors(64, 64), torch.tensor([[10.0, 10, 40, 40]])


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda a, g: atss_assign(a, g[0]), r"gt_boxes must be an \(N, 4\) tensor"),
        (lambda a, g: atss_assign(a, g[:, :3]), r"gt_boxes must be an \(N, 4\) tensor"),
        (lambda a, g: atss_assign(a, g.long()), "gt_boxes must be a floating point"),
        (lambda a, g: atss_assign(a, g * math.nan), "gt_boxes has non-finite"),
        (lambda a, g: atss_assign(a, g[:, [2, 1, 0, 3]]), "gt_boxes has x2 < x1 or y2 < y1"),
        (lambda a, g: atss_assign([], g), "anchors_per_level must be a non-empty list"),
        (lambda a, g: atss_assign(a[:2] + [a[2][:, :3]], g), r"anchors_per_level\[2\] must be"),
        (
            lambda a, g: atss_assign(a[:3] + [a[3] * math.inf] + a[4:], g),
            r"anchors_per_level\[3\] has non-finite",
        ),
        (lambda a, g: atss_assign(a, g, topk=0), "topk must be a positive int"),
        (lambda a, g: atss_assign_batch(a, [g, g.flip(1)]), r"gt_boxes_per_image\[1\] has x2"),
        (lambda a, g: fcos_assign(a, STRIDES[:4], g), "strides has 4 entries for 5 levels"),
        (
            lambda a, g: fcos_assign(a, STRIDES, g, size_ranges=FCOS_RANGES[:3]),
            "size_ranges has 3 entries for 5 levels",
        ),
        (lambda a, g: max_iou_assign(a, g, fg_iou=0.4, bg_iou=0.5), "bg_iou <= fg_iou"),
        (lambda a, g: max_iou_assign(a, g.double().reshape(1, 1, 4)), "gt_boxes must be an"),
    ],
)
def test_malformed_input_raises_naming_the_problem(call, message):
    anchors, gt_boxes = _good()
    with pytest.raises(ValueError, match=message):
        call(anchors, gt_boxes)


# Statistics -------------------------------------------------------------------------------------


def test_assignment_stats_counts_positives():
    num_anchors_per_level = [4, 2, 1]
    assigned = torch.tensor([0, -1, 1, 0, -2, 0, 1])
    stats = assignment_stats(assigned, torch.zeros(3, 4), num_anchors_per_level)
    assert stats["num_pos_per_gt_per_level"].tolist() == [[2, 1, 0], [1, 0, 1], [0, 0, 0]]
    assert stats["num_pos_per_gt"].tolist() == [3, 2, 0]
    assert stats["num_pos_per_level"].tolist() == [3, 1, 1]
    assert stats["mean_pos_per_gt"].item() == pytest.approx(5 / 3)
    with pytest.raises(ValueError, match="assigned must have shape"):
        assignment_stats(assigned[:-1], torch.zeros(3, 4), num_anchors_per_level)
    with pytest.raises(ValueError, match="assigned has values outside"):
        assignment_stats(assigned, torch.zeros(1, 4), num_anchors_per_level)


def test_atss_gives_about_0_2_k_l_positives_per_object_whatever_its_size():
    """
    Section 4.1: "each object has about 0.2 kL positive samples, which is invariant to its scale,
    aspect ratio and location", while FCOS' rule gives larger objects many more. 800 x 1216
    images, P3-P7, k = 9, up to 10 boxes each of log-uniform size 16-512 px (aspect 1:2 to 2:1).
    """
    gen = torch.Generator().manual_seed(0)
    height, width, topk = 800, 1216, 9
    anchors = grid_anchors(height, width)
    num_anchors_per_level = [len(a) for a in anchors]
    sizes, atss_pos, fcos_pos = [], [], []
    for _ in range(60):
        n = int(torch.randint(1, 11, (1,), generator=gen))
        size = log_uniform(gen, (n,), 16, 512)
        aspect = log_uniform(gen, (n,), 0.5, 2).sqrt()
        wh = torch.stack([size * aspect, size / aspect], dim=1)
        centers = wh / 2 + torch.rand(n, 2, generator=gen) * (torch.tensor([width, height]) - wh)
        gt_boxes = boxes_from_centers(centers, wh)
        sizes.append(size)
        atss = atss_assign(anchors, gt_boxes, topk=topk)
        fcos = fcos_assign(anchors, STRIDES, gt_boxes)
        for assigned, positives in ((atss, atss_pos), (fcos, fcos_pos)):
            stats = assignment_stats(assigned, gt_boxes, num_anchors_per_level)
            positives.append(stats["num_pos_per_gt"])
    sizes = torch.cat(sizes)
    atss_pos, fcos_pos = torch.cat(atss_pos).float(), torch.cat(fcos_pos).float()

    expected = 0.2 * topk * len(STRIDES)
    print(f"\npositives per object, {len(sizes)} objects (0.2 * k * L = {expected}):")
    print(f"{'size (px)':>10} {'objects':>8} {'ATSS':>6} {'FCOS':>6}")
    atss_means, fcos_means = [], []
    for lo in (16, 32, 64, 128, 256):
        bucket = (sizes >= lo) & (sizes < 2 * lo)
        atss_means.append(atss_pos[bucket].mean().item())
        fcos_means.append(fcos_pos[bucket].mean().item())
        row = (f"{lo}-{2 * lo}", int(bucket.sum()), atss_means[-1], fcos_means[-1])
        print("{:>10} {:>8} {:>6.2f} {:>6.2f}".format(*row))
    row = ("all", len(sizes), atss_pos.mean().item(), fcos_pos.mean().item())
    print("{:>10} {:>8} {:>6.2f} {:>6.2f}".format(*row))

    assert atss_pos.mean().item() == pytest.approx(expected, rel=0.25)
    # Fairness across sizes: the spread of the per-size means is far smaller than FCOS'.
    assert max(atss_means) / min(atss_means) < max(fcos_means) / min(fcos_means)
