"""The assignment rules the detector picks by name, with their parameters."""
import pytest
import torch

pytestmark = pytest.mark.detectron2
pytest.importorskip("detectron2", reason="detectron2 not installed")

from atss.assignment import atss_assign_batch, fcos_assign, max_iou_assign
from atss.modeling.assignment_registry import AssignmentParams, build_assignment

STRIDES = [8, 16, 32, 64, 128]


def grid_anchors(height, width, sizes_per_location):
    """detectron2's layout: row-major over each level's locations, then the cell anchors."""
    levels = []
    for stride in STRIDES:
        ys = (torch.arange((height + stride - 1) // stride) + 0.5) * stride
        xs = (torch.arange((width + stride - 1) // stride) + 0.5) * stride
        cy, cx = torch.meshgrid(ys, xs, indexing="ij")
        centers = torch.stack([cx, cy, cx, cy], dim=-1).reshape(-1, 1, 4)
        half = torch.tensor([s * stride / 2 for s in sizes_per_location]).reshape(1, -1, 1)
        offsets = torch.cat([-half, -half, half, half], dim=-1)
        levels.append((centers + offsets).reshape(-1, 4))
    return levels


GT_BOXES = [
    torch.tensor([[10.0, 20.0, 90.0, 70.0], [100.0, 30.0, 220.0, 200.0]]),
    torch.tensor([[50.0, 60.0, 60.0, 75.0]]),
]


def test_atss_takes_k_candidates_per_location_as_the_official_code():
    anchors = grid_anchors(256, 320, sizes_per_location=[4, 5, 6])
    rule = build_assignment(AssignmentParams(rule="atss", topk=4), STRIDES, anchors_per_location=3)
    expected = atss_assign_batch(anchors, GT_BOXES, topk=12)
    assert torch.equal(rule(anchors, GT_BOXES), expected)


def test_max_iou_passes_its_thresholds_and_options():
    anchors = grid_anchors(256, 320, sizes_per_location=[8])
    params = AssignmentParams(
        rule="max_iou",
        iou_thresholds=(0.3, 0.6),
        allow_low_quality_matches=False,
        require_center_in_gt=True,
    )
    matched = build_assignment(params, STRIDES)(anchors, GT_BOXES)
    for image, gt_boxes in enumerate(GT_BOXES):
        expected = max_iou_assign(
            anchors,
            gt_boxes,
            fg_iou=0.6,
            bg_iou=0.3,
            allow_low_quality_matches=False,
            require_center_in_gt=True,
        )
        assert torch.equal(matched[image], expected)


@pytest.mark.parametrize("name, radius", [("fcos", None), ("center_sampling", 2.0)])
def test_fcos_rules_pass_strides_ranges_and_radius(name, radius):
    anchors = grid_anchors(256, 320, sizes_per_location=[8])
    ranges = ((0, 32), (32, 64), (64, 128), (128, 256), (256, float("inf")))
    params = AssignmentParams(rule=name, size_ranges=ranges, center_sampling_radius=2.0)
    matched = build_assignment(params, STRIDES)(anchors, GT_BOXES)
    for image, gt_boxes in enumerate(GT_BOXES):
        expected = fcos_assign(
            anchors, STRIDES, gt_boxes, size_ranges=ranges, center_sampling_radius=radius
        )
        assert torch.equal(matched[image], expected)


def test_unknown_rule_lists_the_registered_ones():
    with pytest.raises(ValueError, match="registered: \\['atss', 'center_sampling'"):
        build_assignment(AssignmentParams(rule="retina"), STRIDES)
