"""
Specification of the official code's extra "TOPK" rule (``atss.assignment.topk_iou_assign_batch``,
in none of the paper's tables): per object the k anchors of highest IoU over all levels, nearer
centre first at equal IoU, kept when their centre is inside the box; an anchor claimed twice goes
to the higher IoU, then the lower index.
"""
from typing import List
import pytest
import torch
from torch import Tensor

from atss.assignment import NEGATIVE, topk_iou_assign_batch


def boxes(*rows) -> Tensor:
    return torch.tensor(rows, dtype=torch.float32)


def assign(anchors_per_level: List[Tensor], gt_boxes: Tensor, **kwargs) -> Tensor:
    return topk_iou_assign_batch(anchors_per_level, [gt_boxes], **kwargs)[0]


def iou(a: Tensor, b: Tensor) -> float:
    lt, rb = torch.maximum(a[:2], b[:2]), torch.minimum(a[2:], b[2:])
    inter = (rb - lt).clamp(min=0).prod()
    union = (a[2:] - a[:2]).prod() + (b[2:] - b[:2]).prod() - inter
    return float(inter / union) if inter > 0 else 0.0


def reference(anchors: Tensor, gts: Tensor, topk: int, margin: float) -> List[int]:
    """The official loop over objects, written plainly in float64 for one image."""
    anchors, gts = anchors.double(), gts.double()
    centers = (anchors[:, :2] + anchors[:, 2:]) / 2
    gt_centers = (gts[:, :2] + gts[:, 2:]) / 2
    dist = torch.cdist(centers, gt_centers)  # (A, G)
    dist = dist / dist.max() / 1000
    best = [(-1.0, NEGATIVE)] * len(anchors)
    for g, gt in enumerate(gts):
        ious = [iou(a, gt) for a in anchors]
        order = sorted(range(len(anchors)), key=lambda a: (-(ious[a] - float(dist[a, g])), a))
        for a in order[:topk]:
            x, y = centers[a].tolist()
            inside = min(x - gt[0], y - gt[1], gt[2] - x, gt[3] - y) > margin
            if inside and ious[a] > best[a][0]:
                best[a] = (ious[a], g)
    return [g for _, g in best]


def random_anchors(generator: torch.Generator) -> List[Tensor]:
    levels = []
    for stride in (8, 16, 32):
        rows, cols = torch.arange(96 // stride), torch.arange(128 // stride)
        ys, xs = torch.meshgrid(rows, cols, indexing="ij")
        centers = torch.stack([xs, ys], dim=-1).reshape(-1, 2).float() * stride + stride / 2
        size = 4.0 * stride * (1 + torch.rand(1, generator=generator).item())
        levels.append(torch.cat([centers - size / 2, centers + size / 2], dim=1))
    return levels


def random_gts(generator: torch.Generator, count: int) -> Tensor:
    xy = torch.rand(count, 2, generator=generator) * torch.tensor([110.0, 80.0])
    wh = 2 + torch.rand(count, 2, generator=generator) * 60
    return torch.cat([xy, xy + wh], dim=1)


@pytest.mark.parametrize("seed", range(8))
def test_matches_the_official_loop_over_objects(seed):
    generator = torch.Generator().manual_seed(seed)
    anchors = random_anchors(generator)
    gts = random_gts(generator, 1 + seed)
    expected = reference(torch.cat(anchors), gts, topk=9, margin=0.51)
    assert any(g != NEGATIVE for g in expected)
    assert assign(anchors, gts, topk=9).tolist() == expected


def test_takes_the_k_highest_ious_over_all_levels_together():
    gt = boxes([0, 0, 10, 10])
    fine = boxes([0, 0, 10, 10], [1, 0, 11, 10], [0, 1, 10, 11])  # IoU 1, 0.82, 0.82
    # IoU 0.69, and 0.04 for an anchor centred on the box that a per-level rule would take.
    coarse = boxes([0, 0, 12, 12], [-20, -20, 30, 30])
    assigned = assign([fine, coarse], gt, topk=4)
    assert assigned.tolist() == [0, 0, 0, 0, NEGATIVE]


def test_equal_ious_go_to_the_nearer_centre():
    gt = boxes([10, 10, 20, 20])
    # Each anchor contains the box, so every IoU is 100 / 1600; centres 4.2, 1.4 and 2 px away.
    anchors = boxes([-2, -2, 38, 38], [-4, -4, 36, 36], [-3, -5, 37, 35])
    assert assign([anchors], gt, topk=1).tolist() == [NEGATIVE, 0, NEGATIVE]


def test_equal_scores_go_to_the_lower_anchor_index():
    gt = boxes([10, 10, 20, 20])
    anchors = boxes([-4, -6, 36, 34], [-6, -4, 34, 36])  # same IoU, same distance
    assert assign([anchors], gt, topk=1).tolist() == [0, NEGATIVE]


def test_candidate_centred_within_the_margin_of_a_side_is_not_positive():
    gt = boxes([0, 0, 20, 20])
    # Centres 0.5 px and 0.52 px inside the left side.
    anchors = boxes([-9.5, 0, 10.5, 20], [-9.48, 0, 10.52, 20])
    assert assign([anchors], gt, topk=2).tolist() == [NEGATIVE, 0]
    assert assign([anchors], gt, topk=2, center_margin=0.01).tolist() == [0, 0]


def test_anchor_claimed_by_two_boxes_goes_to_the_higher_iou():
    gts = boxes([0, 0, 20, 20], [2, 2, 18, 18])
    anchors = boxes([1, 1, 19, 19])  # IoU 0.81 with the first, 0.79 with the second
    assert assign([anchors], gts, topk=1).tolist() == [0]
    assert assign([anchors], gts.flip(0), topk=1).tolist() == [1]


def test_anchor_claimed_by_two_equal_boxes_goes_to_the_lower_index():
    gts = boxes([0, 0, 20, 20], [0, 0, 20, 20])
    anchors = boxes([0, 0, 20, 20], [2, 2, 22, 22])
    assert assign([anchors], gts, topk=2).tolist() == [0, 0]


def test_fewer_anchors_than_k_makes_every_anchor_a_candidate():
    gt = boxes([0, 0, 30, 30])
    anchors = boxes([0, 0, 10, 10], [10, 10, 20, 20])
    assert assign([anchors], gt, topk=9).tolist() == [0, 0]


def test_batch_equals_per_image_with_the_distance_scale_of_each_image():
    generator = torch.Generator().manual_seed(0)
    anchors = random_anchors(generator)
    images = [random_gts(generator, 3), random_gts(generator, 0), random_gts(generator, 5) * 0.3]
    batch = topk_iou_assign_batch(anchors, images, topk=9)
    for row, gts in zip(batch, images):
        assert row.tolist() == assign(anchors, gts, topk=9).tolist()


def test_no_gt_gives_all_negatives():
    anchors = boxes([0, 0, 10, 10], [5, 5, 15, 15])
    assert assign([anchors], boxes().reshape(0, 4)).tolist() == [NEGATIVE, NEGATIVE]


@pytest.mark.parametrize("topk", [0, -1, 2.0, True])
def test_bad_k_raises(topk):
    with pytest.raises(ValueError, match="topk must be a positive int"):
        assign([boxes([0, 0, 10, 10])], boxes([0, 0, 5, 5]), topk=topk)


def test_bad_box_raises_naming_the_image():
    with pytest.raises(ValueError, match=r"gt_boxes_per_image\[1\] has non-finite"):
        topk_iou_assign_batch(
            [boxes([0, 0, 10, 10])], [boxes([0, 0, 5, 5]), boxes([0, 0, float("nan"), 5])]
        )
