"""
atss.objects_without_positives names the objects that ATSS leaves without a positive anchor and
the reason, from the same steps as the assignment (atss.assignment.atss_candidates).
"""

import torch

from atss.assignment import NEGATIVE, assignment_stats, atss_assign_batch, atss_candidates
from atss.objects_without_positives import (
    BELOW_THRESHOLD,
    HAS_POSITIVE,
    NO_CENTER_INSIDE,
    TAKEN_BY_OTHERS,
    no_positive_reasons,
    positives_per_object,
)

STRIDES = (4, 8, 16)  # the shapes quick start's P2-P4, one 8S anchor per location
IMAGE = 128


def grid_anchors(stride: int, size: int = IMAGE) -> torch.Tensor:
    """detectron2's layout: row-major locations at (i + 0.5) * stride, one 8S square each."""
    centers = (torch.arange(size // stride) + 0.5) * stride
    y, x = torch.meshgrid(centers, centers, indexing="ij")
    x, y, half = x.flatten(), y.flatten(), 4.0 * stride
    return torch.stack([x - half, y - half, x + half, y + half], dim=1)


ANCHORS = [grid_anchors(s) for s in STRIDES]


def reasons_of(boxes: torch.Tensor) -> torch.Tensor:
    assigned = atss_assign_batch(ANCHORS, [boxes])
    num_pos = positives_per_object(assigned, [len(boxes)])
    return no_positive_reasons(atss_candidates(ANCHORS, boxes), num_pos)


def test_a_box_thinner_than_the_finest_stride_between_anchor_centres_has_no_centre_inside():
    # 3 x 36 px (1:12). The levels' centres cover every even x but the multiples of 16: the
    # nearest columns are at 46 and 50, outside by more than the margin.
    box = torch.tensor([[46.6, 40.0, 49.6, 76.0]])
    assert reasons_of(box).tolist() == [NO_CENTER_INSIDE]


def test_a_square_between_two_anchor_sizes_can_stay_below_its_threshold():
    box = torch.tensor([[40.0, 40.0, 84.0, 84.0]])  # 44 px, between the 32 and 64 px anchors
    candidates = atss_candidates(ANCHORS, box)
    inside = candidates.center_inside[0]
    assert inside.any()
    assert (candidates.ious[0][inside] < candidates.threshold[0]).all()
    assert reasons_of(box).tolist() == [BELOW_THRESHOLD]


def test_the_second_of_two_identical_boxes_has_its_positives_taken():
    box = torch.tensor([[30.0, 30.0, 70.0, 62.0]])
    assert reasons_of(torch.cat([box, box])).tolist() == [HAS_POSITIVE, TAKEN_BY_OTHERS]


def test_positives_per_object_are_the_assignment_stats_of_each_image():
    gen = torch.Generator().manual_seed(0)
    images = []
    for count in (3, 0, 5):
        xy = torch.rand(count, 2, generator=gen) * 100
        wh = torch.rand(count, 2, generator=gen) * 40 + 2
        images.append(torch.cat([xy, xy + wh], dim=1))
    assigned = atss_assign_batch(ANCHORS, images)
    counted = positives_per_object(assigned, [len(b) for b in images])
    expected = torch.cat(
        [
            assignment_stats(row, boxes, [len(a) for a in ANCHORS])["num_pos_per_gt"]
            for row, boxes in zip(assigned, images)
        ]
    )
    assert counted.tolist() == expected.tolist()


def test_reasons_are_given_exactly_to_the_objects_without_positives():
    gen = torch.Generator().manual_seed(1)
    xy = torch.rand(200, 2, generator=gen) * 110
    wh = torch.rand(200, 2, generator=gen) ** 2 * 80 + 1
    boxes = torch.cat([xy, xy + wh], dim=1)
    reasons = reasons_of(boxes)
    assigned = atss_assign_batch(ANCHORS, [boxes])[0]
    has_positive = torch.zeros(len(boxes), dtype=torch.bool)
    has_positive[assigned[assigned != NEGATIVE]] = True
    assert ((reasons == HAS_POSITIVE) == has_positive).all()
    assert set(reasons.tolist()) >= {HAS_POSITIVE, NO_CENTER_INSIDE, BELOW_THRESHOLD}
