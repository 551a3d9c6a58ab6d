"""
The AutoAssign losses (``atss.losses.autoassign_loss``) against hand-computed cases, whose
values were recomputed with the authors' helper functions (cvpods
``modeling/meta_arch/auto_assign.py``).
"""
import math
import pytest
import torch

from atss.losses import (
    autoassign_losses,
    boxes_contain_points,
    center_prior,
    negative_bag_loss,
    negative_weights,
    positive_bag_loss,
)


def bag(confidences, priors=None, inside=None):
    """(1, 1, R) tensors of one object's candidates."""
    confidence = torch.tensor([[confidences]], requires_grad=True)
    prior = torch.ones_like(confidence) if priors is None else torch.tensor([[priors]])
    mask = torch.ones_like(confidence, dtype=torch.bool) if inside is None else torch.tensor(
        [[inside]]
    )
    return confidence, prior, mask


@pytest.mark.parametrize(
    "offset, expected",
    [
        ((0, 0), 1.0),
        ((1, 0), 0.606531),
        ((1, 1), 0.367879),
        ((0.5, 0), 0.882497),
        ((2, 0), 0.135335),
    ],
)
def test_center_prior_is_a_unit_gaussian_of_the_offset_in_strides(offset, expected):
    box = torch.tensor([[[0.0, 0.0, 64.0, 64.0]]])
    point = torch.tensor([[32.0 + 8 * offset[0], 32.0 + 8 * offset[1]]])
    prior = center_prior(
        point, torch.tensor([8.0]), box, torch.tensor([[0]]), torch.zeros(1, 2), torch.ones(1, 2)
    )
    assert prior.shape == (1, 1, 1)
    assert prior.item() == pytest.approx(expected, abs=1e-6)


def test_center_prior_divides_the_offset_by_the_level_stride():
    box = torch.tensor([[[0.0, 0.0, 64.0, 64.0]]])
    points = torch.tensor([[48.0, 32.0], [40.0, 32.0]])  # 16 px on P4, 8 px on P3
    prior = center_prior(
        points,
        torch.tensor([16.0, 8.0]),
        box,
        torch.tensor([[0]]),
        torch.zeros(1, 2),
        torch.ones(1, 2),
    )
    assert prior[0, 0, 0].item() == pytest.approx(prior[0, 0, 1].item())


def test_center_prior_uses_the_mean_and_std_of_the_object_class():
    box = torch.tensor([[[0.0, 0.0, 64.0, 64.0]]])
    mean = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    std = torch.tensor([[1.0, 1.0], [1.0, 2.0]])
    point = torch.tensor([[40.0, 48.0]])  # offset (1, 2) strides
    prior = center_prior(point, torch.tensor([8.0]), box, torch.tensor([[1]]), mean, std)
    assert prior.item() == pytest.approx(math.exp(-4 / 8), abs=1e-6)


def test_points_strictly_inside_a_box_are_its_candidates():
    box = torch.tensor([[[0.0, 0.0, 16.0, 16.0]]])
    points = torch.tensor([[8.0, 8.0], [0.0, 8.0], [16.0, 8.0], [24.0, 8.0]])
    assert boxes_contain_points(points, box).tolist() == [[[True, False, False, False]]]


def test_single_candidate_bag_loss_is_minus_log_of_its_confidence():
    confidence, prior, inside = bag([0.25])
    assert positive_bag_loss(confidence, prior, inside).item() == pytest.approx(1.386294, abs=1e-5)


def test_two_candidate_bag_weights_the_confident_one_and_pushes_the_weak_one_down():
    confidence, prior, inside = bag([0.8, 0.2])
    loss = positive_bag_loss(confidence, prior, inside)
    assert loss.item() == pytest.approx(0.335627, abs=1e-5)
    loss.sum().backward()
    grad = confidence.grad[0, 0]
    assert grad[0].item() == pytest.approx(-1.5069, abs=1e-3)
    assert grad[1].item() == pytest.approx(0.1081, abs=1e-3)


def test_equal_confidences_give_their_value_whatever_the_prior():
    confidence, prior, inside = bag([0.5, 0.5], priors=[1.0, math.exp(-0.5)])
    assert positive_bag_loss(confidence, prior, inside).item() == pytest.approx(math.log(2))


def test_locations_outside_the_box_do_not_enter_the_bag():
    confidence, prior, inside = bag([0.8, 0.2, 0.99], inside=[True, True, False])
    loss = positive_bag_loss(confidence, prior, inside)
    assert loss.item() == pytest.approx(0.335627, abs=1e-5)


def test_empty_bag_gives_the_clamped_constant_without_gradient():
    confidence, prior, inside = bag([0.8, 0.2], inside=[False, False])
    loss = positive_bag_loss(confidence, prior, inside)
    assert loss.item() == pytest.approx(100.0)
    loss.sum().backward()
    assert torch.equal(confidence.grad, torch.zeros_like(confidence))


def test_negative_weights_are_one_minus_normalised_inverse_iou_at_the_object_class():
    ious = torch.tensor([[0.0, 0.5, 0.8, 0.9]])
    inside = torch.tensor([[[True, True, True, False]]])
    weights = negative_weights(ious, inside, torch.tensor([[1]]), num_classes=2)
    assert weights.shape == (1, 4, 2)
    torch.testing.assert_close(weights[0, :, 1], torch.tensor([1.0, 0.75, 0.0, 1.0]))
    torch.testing.assert_close(weights[0, :, 0], torch.ones(4))


def test_a_lone_candidate_gets_no_negative_weight():
    weights = negative_weights(
        torch.tensor([[0.3, 0.6]]), torch.tensor([[[False, True]]]), torch.tensor([[0]]), 1
    )
    assert weights[0, :, 0].tolist() == [1.0, 0.0]


def test_a_location_in_two_boxes_of_one_class_gets_the_smaller_negative_weight():
    ious = torch.tensor([[0.0, 0.5, 0.8]])
    inside = torch.tensor([[[True, True, False], [False, True, True]]])
    weights = negative_weights(ious, inside, torch.tensor([[0, 0]]), num_classes=1)
    # Location 1 is the best of the first box (weight 0) and the worst of the second (1).
    assert weights[0, :, 0].tolist() == [1.0, 0.0, 0.0]


@pytest.mark.parametrize("q, expected", [(0.5, 0.173287), (0.1, 0.0010536), (0.9, 1.865094)])
def test_negative_term_is_focal_style(q, expected):
    assert negative_bag_loss(torch.tensor(q)).item() == pytest.approx(expected, rel=1e-4)


def grid_points(size: int = 64, stride: float = 16.0):
    ys, xs = torch.meshgrid(torch.arange(0.0, size, stride), torch.arange(0.0, size, stride),
                            indexing="ij")
    points = torch.stack([xs.flatten(), ys.flatten()], dim=1)
    return points, torch.full((len(points),), stride)


def one_object_example(boxes_per_image, classes_per_image, num_classes=2, points=None):
    """Images with the given objects, points of one level (64x64 at stride 16 unless given as
    (points, strides)) and random predictions; returns the losses, the empty-bag count and the
    leaf tensors."""
    generator = torch.Generator().manual_seed(0)
    points, strides = points or grid_points()
    num_images, num_points = len(boxes_per_image), len(points)
    cls_logits = torch.randn(
        num_images, num_points, num_classes, generator=generator, requires_grad=True
    )
    obj_logits = torch.randn(num_images, num_points, generator=generator, requires_grad=True)
    distances = (torch.rand(num_images, num_points, 4, generator=generator) * 30).requires_grad_()
    pred_boxes = torch.cat([points - distances[..., :2], points + distances[..., 2:]], dim=-1)
    mean = torch.zeros(num_classes, 2, requires_grad=True)
    std = torch.ones(num_classes, 2, requires_grad=True)
    gt_boxes = torch.tensor(boxes_per_image, dtype=torch.float32).view(num_images, -1, 4)
    gt_classes = torch.tensor(classes_per_image, dtype=torch.long).view(num_images, -1)
    losses, num_empty = autoassign_losses(
        points, strides, cls_logits, obj_logits, pred_boxes, gt_boxes, gt_classes, mean, std
    )
    return losses, num_empty, (cls_logits, obj_logits, distances, mean, std)


def test_center_regulariser_is_objects_over_their_prior_mass():
    # Candidates at offsets (0, 0), (1, 0), (0, 1), (1, 1) strides from the centre (16, 16):
    # priors 1, e^-0.5, e^-0.5, e^-1, sum 2.580941; the loss is 0.75 / 2.580941.
    points = torch.tensor([[16.0, 16.0], [24.0, 16.0], [16.0, 24.0], [24.0, 24.0], [40.0, 40.0]])
    losses, _, _ = one_object_example(
        [[[6.0, 6.0, 26.0, 26.0]]], [[0]], points=(points, torch.full((5,), 8.0))
    )
    assert losses["loss_norm"].item() == pytest.approx(0.290592, abs=1e-5)


def test_center_regulariser_is_averaged_over_images_an_empty_image_adding_zero():
    points = torch.tensor([[16.0, 16.0], [24.0, 16.0], [16.0, 24.0], [24.0, 24.0], [40.0, 40.0]])
    losses, _, _ = one_object_example(
        [[[6.0, 6.0, 26.0, 26.0]], [[0.0, 0.0, 0.0, 0.0]]],
        [[0], [-1]],
        points=(points, torch.full((5,), 8.0)),
    )
    assert losses["loss_norm"].item() == pytest.approx(0.290592 / 2, abs=1e-5)


def test_positive_loss_is_averaged_over_objects_and_weighted():
    boxes = [
        [[1.0, 1.0, 63.0, 63.0], [1.0, 1.0, 40.0, 40.0]],
        [[20.0, 20.0, 60.0, 60.0], [0.0, 0.0, 0.0, 0.0]],
    ]
    losses, num_empty, _ = one_object_example(boxes, [[0, 1], [1, -1]])
    assert num_empty.item() == 0
    assert losses["loss_pos"].item() > 0
    # Three objects: 0.25 * (sum of three bag losses) / 3, checked by rescaling with a fourth
    # object that has no candidate: the sum is unchanged and the normaliser becomes 4.
    boxes_tiny = [boxes[0], [[20.0, 20.0, 60.0, 60.0], [2.0, 2.0, 6.0, 6.0]]]
    losses_tiny, num_empty, _ = one_object_example(boxes_tiny, [[0, 1], [1, 0]])
    assert num_empty.item() == 1
    assert losses_tiny["loss_pos"].item() == pytest.approx(losses["loss_pos"].item() * 3 / 4)


def test_an_object_without_candidates_gives_finite_losses_and_is_counted():
    losses, num_empty, params = one_object_example([[[2.0, 2.0, 6.0, 6.0]]], [[1]])
    assert num_empty.item() == 1
    assert losses["loss_pos"].item() == 0.0
    assert losses["loss_norm"].item() == 0.0
    sum(losses.values()).backward()
    for p in params:
        assert torch.isfinite(p.grad).all()


def test_an_image_without_objects_trains_the_negatives_only():
    losses, num_empty, (cls_logits, obj_logits, distances, mean, std) = one_object_example(
        [[]], [[]]
    )
    assert num_empty.item() == 0
    sum(losses.values()).backward()
    assert losses["loss_pos"].item() == 0.0 and losses["loss_norm"].item() == 0.0
    assert cls_logits.grad.abs().sum() > 0 and obj_logits.grad.abs().sum() > 0


def test_gradients_reach_the_prior_parameters_and_the_boxes():
    boxes = [[[1.0, 1.0, 63.0, 50.0]], [[20.0, 5.0, 60.0, 60.0]]]
    losses, _, (cls_logits, obj_logits, distances, mean, std) = one_object_example(
        boxes, [[0], [1]]
    )
    sum(losses.values()).backward()
    for p in (mean, std, distances, cls_logits, obj_logits):
        assert torch.isfinite(p.grad).all()
        assert p.grad.abs().sum() > 0
    # Each class's prior is moved by its own objects only.
    assert mean.grad[0].abs().sum() > 0 and mean.grad[1].abs().sum() > 0


def test_negative_normaliser_carries_no_gradient_to_the_prior():
    boxes = [[[1.0, 1.0, 63.0, 50.0]]]
    losses, _, (_, _, _, mean, std) = one_object_example(boxes, [[0]])
    losses["loss_neg"].backward()
    assert mean.grad is None or mean.grad.abs().sum() == 0
    assert std.grad is None or std.grad.abs().sum() == 0


def test_joint_confidence_multiplies_class_objectness_and_localisation_likelihood():
    # One location (16, 16) inside the box [0, 0, 32, 32]; its prediction [0, 0, 32, 16] has
    # IoU 0.5 and the box itself as enclosing box, so GIoU 0.5 and P_loc = exp(-5 * 0.5).
    # p_cls = p_obj = 0.5: P+ = 0.25 * 0.082085; the bag has one member (weight 1).
    losses, num_empty = autoassign_losses(
        torch.tensor([[16.0, 16.0]]),
        torch.tensor([8.0]),
        torch.zeros(1, 1, 1),
        torch.zeros(1, 1),
        torch.tensor([[[0.0, 0.0, 32.0, 16.0]]]),
        torch.tensor([[[0.0, 0.0, 32.0, 32.0]]]),
        torch.tensor([[0]]),
        torch.zeros(1, 2),
        torch.ones(1, 2),
    )
    assert num_empty.item() == 0
    assert losses["loss_pos"].item() == pytest.approx(0.25 * (math.log(4) + 2.5), rel=1e-5)
    # Its only candidate is the best of the bag: no negative weight on its class.
    assert losses["loss_neg"].item() == 0.0
