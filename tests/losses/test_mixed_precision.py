"""
Mixed precision of the losses. Under ``torch.autocast`` the head's outputs arrive in float16 (CUDA)
or bfloat16 (CPU); every loss must then compute in float32: float32 values equal to its float32
computation on the same (rounded) outputs, float32 gradients, and finite values and gradients for
extreme inputs (logits of +-30, boxes of 1 px and 2000 px, centerness targets of 0).
"""
from typing import Callable, Dict, NamedTuple
import pytest
import torch
from torch import Tensor

from atss.losses import ATSSLossParams, atss_losses, autoassign_losses

HALF_TYPES = [torch.bfloat16, torch.float16]
NUM_CLASSES = 3


class AtssTargets(NamedTuple):
    gt_labels: Tensor  # (N, R)
    gt_boxes: Tensor  # (P, 4)
    centers: Tensor  # (P, 2)
    gt_deltas: Tensor  # (P, 4)


class AutoAssignTargets(NamedTuple):
    points: Tensor  # (R, 2)
    strides: Tensor  # (R,)
    gt_boxes: Tensor  # (N, G, 4)
    gt_classes: Tensor  # (N, G)
    prior_mean: Tensor  # (K, 2)
    prior_std: Tensor  # (K, 2)


def atss_example(extreme: bool = False):
    """
    Head outputs (float32 leaves) and targets of two images of 400 anchors: 10% positives, 5%
    ignored. With ``extreme``: logits of +-30, positives alternately on 1 px and 2000 px boxes,
    predicted boxes of the same sizes, every anchor centre on a box corner (centerness target 0).
    """
    g = torch.Generator().manual_seed(0)
    num_images, num_anchors = 2, 400
    draw = torch.rand(num_images, num_anchors, generator=g)
    gt_labels = torch.full((num_images, num_anchors), NUM_CLASSES)
    classes = torch.randint(0, NUM_CLASSES, (num_images, num_anchors), generator=g)
    gt_labels = torch.where(draw < 0.10, classes, gt_labels)
    gt_labels[(draw >= 0.10) & (draw < 0.15)] = -1
    num_pos = int((draw < 0.10).sum())
    corner = torch.rand(num_pos, 2, generator=g) * 1000
    if extreme:
        size = torch.where(torch.arange(num_pos) % 2 == 0, 1.0, 2000.0)[:, None].expand(-1, 2)
        pred_size = size.flip(0)
        centers = corner.clone()
        logits = 30.0 * torch.where(
            torch.rand(num_images, num_anchors, NUM_CLASSES, generator=g) < 0.5, 1.0, -1.0
        )
        centerness = 30.0 * torch.where(
            torch.rand(num_images, num_anchors, generator=g) < 0.5, 1.0, -1.0
        )
        deltas = 30.0 * torch.randn(num_pos, 4, generator=g)
    else:
        size = 16 + torch.rand(num_pos, 2, generator=g) * 400
        pred_size = size * (1 + 0.3 * torch.randn(num_pos, 2, generator=g)).clamp(min=0.2)
        centers = corner + torch.rand(num_pos, 2, generator=g) * size
        logits = torch.randn(num_images, num_anchors, NUM_CLASSES, generator=g) * 2 - 4
        centerness = torch.randn(num_images, num_anchors, generator=g)
        deltas = 0.5 * torch.randn(num_pos, 4, generator=g)
    pred_corner = corner + 0.1 * size * torch.randn(num_pos, 2, generator=g)
    outputs = {
        "logits": logits,
        "centerness": centerness,
        "boxes": torch.cat([pred_corner, pred_corner + pred_size], dim=1),
        "deltas": deltas,
    }
    targets = AtssTargets(
        gt_labels=gt_labels,
        gt_boxes=torch.cat([corner, corner + size], dim=1),
        centers=centers,
        gt_deltas=0.5 * torch.randn(num_pos, 4, generator=g),
    )
    return {k: v.requires_grad_() for k, v in outputs.items()}, targets


def autoassign_example(extreme: bool = False):
    """
    Head outputs (float32 leaves) and targets of two images of 256x256 px with locations at
    strides 8, 16 and 32 and up to three objects. With ``extreme``: logits of +-30, objects and
    predicted boxes of 1 px (an object without any location inside) and of 2000 px.
    """
    g = torch.Generator().manual_seed(0)
    points, strides = [], []
    for stride in (8.0, 16.0, 32.0):
        ys, xs = torch.meshgrid(
            torch.arange(0.0, 256, stride), torch.arange(0.0, 256, stride), indexing="ij"
        )
        points.append(torch.stack([xs.flatten(), ys.flatten()], dim=1))
        strides.append(torch.full((xs.numel(),), stride))
    points, strides = torch.cat(points), torch.cat(strides)
    num_images, num_points = 2, len(points)
    if extreme:
        gt_boxes = torch.tensor(
            [
                [[100.3, 100.3, 101.3, 101.3], [-800.0, -800.0, 1200.0, 1200.0], [0, 0, 0, 0]],
                [[-900.0, -700.0, 1100.0, 1300.0], [0, 0, 0, 0], [0, 0, 0, 0]],
            ]
        )
        gt_classes = torch.tensor([[0, 2, -1], [1, -1, -1]])
        cls_logits = 30.0 * torch.where(
            torch.rand(num_images, num_points, NUM_CLASSES, generator=g) < 0.5, 1.0, -1.0
        )
        obj_logits = 30.0 * torch.where(
            torch.rand(num_images, num_points, generator=g) < 0.5, 1.0, -1.0
        )
        half_size = torch.where(torch.rand(num_images, num_points, 1, generator=g) < 0.5, 0.5, 1000)
        distances = half_size.expand(-1, -1, 4)
    else:
        gt_boxes = torch.tensor(
            [
                [[10.0, 20.0, 90.0, 120.0], [100.0, 50.0, 250.0, 200.0], [0, 0, 0, 0]],
                [[30.0, 30.0, 200.0, 160.0], [5.0, 150.0, 60.0, 250.0], [120, 10, 180, 60]],
            ]
        )
        gt_classes = torch.tensor([[0, 2, -1], [1, 1, 0]])
        cls_logits = torch.randn(num_images, num_points, NUM_CLASSES, generator=g) * 2 - 4
        obj_logits = torch.randn(num_images, num_points, generator=g)
        distances = torch.rand(num_images, num_points, 4, generator=g) * 60 + 1
    pred_boxes = torch.cat([points - distances[..., :2], points + distances[..., 2:]], dim=-1)
    outputs = {"cls_logits": cls_logits, "obj_logits": obj_logits, "boxes": pred_boxes}
    targets = AutoAssignTargets(
        points,
        strides,
        gt_boxes,
        gt_classes,
        prior_mean=torch.zeros(NUM_CLASSES, 2),
        prior_std=torch.ones(NUM_CLASSES, 2),
    )
    return {k: v.requires_grad_() for k, v in outputs.items()}, targets


def atss_focal_giou_centerness(out, t):
    return atss_losses(
        out["logits"], out["centerness"], out["boxes"], t.gt_labels, t.gt_boxes, t.centers
    )


def atss_smooth_l1(out, t):
    return atss_losses(
        out["logits"],
        None,
        out["boxes"],
        t.gt_labels,
        t.gt_boxes,
        t.centers,
        params=ATSSLossParams(box_loss="smooth_l1"),
        pred_deltas=out["deltas"],
        gt_deltas=t.gt_deltas,
    )


def atss_ap_loss(out, t):
    return atss_losses(
        out["logits"], out["centerness"], out["boxes"], t.gt_labels, t.gt_boxes, t.centers,
        params=ATSSLossParams(cls_loss="ap"),
    )


def autoassign(out, t):
    losses, _ = autoassign_losses(
        t.points,
        t.strides,
        out["cls_logits"],
        out["obj_logits"],
        out["boxes"],
        t.gt_boxes,
        t.gt_classes,
        t.prior_mean,
        t.prior_std,
    )
    return losses


LOSSES: Dict[str, Callable] = {
    "atss focal, giou, centerness": (atss_example, atss_focal_giou_centerness),
    "atss smooth_l1": (atss_example, atss_smooth_l1),
    "atss ap_loss": (atss_example, atss_ap_loss),
    "autoassign": (autoassign_example, autoassign),
}


def half_step(name: str, dtype: torch.dtype, extreme: bool = False):
    """The losses of head outputs cast to ``dtype`` under CPU autocast, backpropagated into the
    float32 leaves; returns the losses and the leaves."""
    make_example, loss_fn = LOSSES[name]
    outputs, targets = make_example(extreme)
    with torch.autocast("cpu", dtype=dtype):
        losses = loss_fn({k: v.to(dtype) for k, v in outputs.items()}, targets)
    sum(losses.values()).backward()
    return losses, outputs


def float32_step(name: str, dtype: torch.dtype):
    """The losses of the same head outputs rounded to ``dtype`` and computed in float32."""
    make_example, loss_fn = LOSSES[name]
    outputs, targets = make_example()
    rounded = {k: v.detach().to(dtype).float().requires_grad_() for k, v in outputs.items()}
    losses = loss_fn(rounded, targets)
    sum(losses.values()).backward()
    return losses, rounded


@pytest.mark.parametrize("dtype", HALF_TYPES, ids=str)
@pytest.mark.parametrize("name", list(LOSSES))
def test_losses_of_half_outputs_are_float32_and_equal_their_float32_computation(name, dtype):
    losses, _ = half_step(name, dtype)
    expected, _ = float32_step(name, dtype)
    assert losses.keys() == expected.keys()
    for key, value in losses.items():
        assert value.dtype == torch.float32, key
        assert value.item() == pytest.approx(expected[key].item(), rel=1e-3, abs=1e-6), key


@pytest.mark.parametrize("dtype", HALF_TYPES, ids=str)
@pytest.mark.parametrize("name", list(LOSSES))
def test_gradients_are_float32_gradients_rounded_once_to_the_half_type(name, dtype):
    _, outputs = half_step(name, dtype)
    _, rounded = float32_step(name, dtype)
    for key, leaf in outputs.items():
        if rounded[key].grad is None:  # an output this loss does not use
            assert leaf.grad is None, key
            continue
        assert leaf.grad.dtype == torch.float32, key
        expected = rounded[key].grad.to(dtype).float()
        # Rounding to float16 flushes gradients below its smallest subnormal (2**-24) to zero.
        torch.testing.assert_close(
            leaf.grad, expected, rtol=torch.finfo(dtype).eps, atol=2.0**-24, msg=key
        )


@pytest.mark.parametrize("dtype", HALF_TYPES, ids=str)
@pytest.mark.parametrize("name", list(LOSSES))
def test_extreme_inputs_give_finite_losses_and_gradients(name, dtype):
    losses, outputs = half_step(name, dtype, extreme=True)
    for key, value in losses.items():
        assert value.dtype == torch.float32, key
        assert torch.isfinite(value), key
    for key, leaf in outputs.items():
        if leaf.grad is not None:
            assert torch.isfinite(leaf.grad).all(), key


def test_extreme_atss_example_has_centerness_targets_of_zero():
    from atss.losses import centerness_targets

    _, targets = atss_example(extreme=True)
    assert centerness_targets(targets.centers, targets.gt_boxes).abs().max() == 0


def test_extreme_autoassign_example_has_an_object_without_locations():
    outputs, targets = autoassign_example(extreme=True)
    _, num_empty = autoassign_losses(
        targets.points,
        targets.strides,
        outputs["cls_logits"],
        outputs["obj_logits"],
        outputs["boxes"],
        targets.gt_boxes,
        targets.gt_classes,
        targets.prior_mean,
        targets.prior_std,
    )
    assert num_empty.item() == 1


def test_float64_inputs_stay_float64():
    outputs, targets = atss_example()
    losses = atss_focal_giou_centerness({k: v.double() for k, v in outputs.items()}, targets)
    assert all(v.dtype == torch.float64 for v in losses.values())
