"""
The training losses of AutoAssign (Zhu et al. 2020, arXiv 2007.03496) as pure tensor functions,
batched over images and objects: objects are padded to G per image (class -1 marks padding), and
every (image, object, location) triple is one entry of an (N, G, R) tensor, R being the number of
locations over all FPN levels.

They follow the authors' code (cvpods ``modeling/meta_arch/auto_assign.py``, released as
Megvii-BaseDetection/AutoAssign). Differences, each a decision where that code is silent,
undefined or degenerate:

- An object with no location strictly inside its box (narrower or shorter than a P3 stride) has
  an empty bag. The authors' binary cross-entropy then gives the constant 100 (log clamped at
  -100) with zero gradient; here such an object adds 0 to the positive loss (same gradients) and
  is counted, so the caller can log it. It still counts in the positive-loss normaliser, as there.
- Center-prior regulariser of an image whose objects all have empty bags: the authors' code
  divides by a sum clamped at 1e-12 (a huge constant without gradient); here it adds 0, as
  mmdetection 3.3 does.
- A location inside several boxes of one class gets the smallest of their negative weights; the
  authors write them with a duplicate-index assignment whose winner PyTorch leaves undefined.
- The prior has one row per class (the authors' code hard-codes 80 rows).
- GIoU uses fvcore's (epsilon 1e-7 instead of float32's 1.2e-7).
"""
from typing import Callable, Dict, Tuple
import torch
from fvcore.nn import giou_loss
from torch import Tensor
from torch.nn import functional as F

from ..assignment import broadcast_iou
from ..distributed import reduce_mean
from .precision import at_least_float32

__all__ = [
    "autoassign_losses",
    "boxes_contain_points",
    "center_prior",
    "negative_bag_loss",
    "negative_weights",
    "positive_bag_loss",
]

_EPS = 1e-12  # the authors' clamp and normalisation epsilon


def _binary_cross_entropy(probs: Tensor, target: float) -> Tensor:
    """
    Elementwise ``F.binary_cross_entropy`` of probabilities against a constant target, in
    float32. CUDA autocast refuses that function (it raises, because float16 probabilities
    saturate), so it runs here with autocast off, on float32 probabilities.
    """
    with torch.autocast(probs.device.type, enabled=False):
        probs = at_least_float32(probs)
        return F.binary_cross_entropy(probs, torch.full_like(probs, target), reduction="none")


def boxes_contain_points(points: Tensor, gt_boxes: Tensor) -> Tensor:
    """
    Whether each location lies strictly inside each box (all four distances > 0), on every level
    and without a size range (paper Section 3.1).

    Args:
        points: (R, 2) xy.
        gt_boxes: (N, G, 4) xyxy.

    Returns:
        (N, G, R) bool.
    """
    x, y = points[:, 0], points[:, 1]
    box = gt_boxes[..., None, :]  # (N, G, 1, 4)
    distances = torch.stack(
        [x - box[..., 0], y - box[..., 1], box[..., 2] - x, box[..., 3] - y], dim=-1
    )
    return distances.amin(dim=-1) > 0


def center_prior(
    points: Tensor, strides: Tensor, gt_boxes: Tensor, gt_classes: Tensor, mean: Tensor, std: Tensor
) -> Tensor:
    """
    Category-wise Gaussian center prior (paper Section 3.2, Eq. 2):
    G = prod over x, y of exp(-(d - mean_k)^2 / (2 std_k^2)), with d the signed offset of the
    location from the box centre in strides of the location's level.

    Args:
        points: (R, 2) xy of the locations.
        strides: (R,) stride of each location's level.
        gt_boxes: (N, G, 4) xyxy.
        gt_classes: (N, G) classes in [0, K) (padding entries must be valid indices too).
        mean, std: (K, 2) learnable per-class mean and standard deviation, in strides.

    Returns:
        (N, G, R), differentiable with respect to ``mean`` and ``std``.
    """
    centers = (gt_boxes[..., :2] + gt_boxes[..., 2:]) / 2  # (N, G, 2)
    offsets = (points - centers[..., None, :]) / strides[:, None]  # (N, G, R, 2)
    mu = mean[gt_classes][..., None, :]
    sigma = std[gt_classes][..., None, :]
    return torch.exp(-((offsets - mu) ** 2) / (2 * sigma**2)).prod(dim=-1)


def positive_bag_loss(
    confidence: Tensor, prior: Tensor, inside: Tensor, temperature: float = 1.0 / 3
) -> Tensor:
    """
    Positive loss of each object (paper Eq. 9, 10, 12): -log of the bag confidence
    sum_q w_q P_q, where w_q is proportional to exp(P_q / temperature) * prior_q over the
    locations q inside the box. The weights are not detached: the prior is learned through them.

    Args:
        confidence: (N, G, R) joint confidence P+ = p_cls * p_obj * P_loc, in [0, 1].
        prior: (N, G, R) center prior.
        inside: (N, G, R) bool, the candidate set of each object.
        temperature: tau (1/3 in the paper).

    Returns:
        (N, G). An object without candidates gives the authors' 100 (the clamped log of binary
        cross-entropy) with zero gradient; :func:`autoassign_losses` leaves it out.
    """
    weight = torch.exp(confidence / temperature) * prior * inside
    weight = weight / weight.sum(dim=-1, keepdim=True).clamp(min=_EPS)
    bag = (weight * confidence).sum(dim=-1).clamp(max=1.0)  # rounding may exceed 1
    return _binary_cross_entropy(bag, 1.0)


@torch.no_grad()
def negative_weights(
    ious: Tensor, inside: Tensor, gt_classes: Tensor, num_classes: int
) -> Tensor:
    """
    Negative weight of every (location, class) (paper Section 3.4.2, Eq. 11): inside the box of
    an object of class k, 1 - f where f is 1 / (1 - IoU) min-max normalised over that object's
    candidates; 1 everywhere else (other classes, locations outside every box).

    Args:
        ious: (N, R) IoU of each location's predicted box with its best-overlapping object.
        inside: (N, G, R) bool candidate sets (False for padding objects).
        gt_classes: (N, G) classes.
        num_classes: K.

    Returns:
        (N, R, K) in [0, 1], without gradient.
    """
    num_images, num_objects, num_points = inside.shape
    v = (1 / (1 - ious).clamp(min=_EPS))[:, None, :].expand(-1, num_objects, -1)
    v_min = v.masked_fill(~inside, float("inf")).amin(dim=-1, keepdim=True)
    v_max = v.masked_fill(~inside, -float("inf")).amax(dim=-1, keepdim=True)
    image, obj, point = inside.nonzero(as_tuple=True)
    f = (v[image, obj, point] - v_min[image, obj, 0] + _EPS) / (
        v_max[image, obj, 0] - v_min[image, obj, 0] + _EPS
    )
    weights = ious.new_ones(num_images, num_points, num_classes)
    flat = (image * num_points + point) * num_classes + gt_classes[image, obj]
    weights.view(-1).scatter_reduce_(0, flat, 1 - f, reduce="amin")
    return weights


def negative_bag_loss(probs: Tensor, gamma: float = 2.0) -> Tensor:
    """
    Focal-style negative term q^gamma * -log(1 - q) of each entry (paper Section 3.5).

    Args:
        probs: any shape, q = p_cls * p_obj * negative weight, in [0, 1].

    Returns:
        the same shape.
    """
    probs = at_least_float32(probs)
    return probs**gamma * _binary_cross_entropy(probs, 0.0)


def autoassign_losses(
    points: Tensor,
    strides: Tensor,
    cls_logits: Tensor,
    obj_logits: Tensor,
    pred_boxes: Tensor,
    gt_boxes: Tensor,
    gt_classes: Tensor,
    prior_mean: Tensor,
    prior_std: Tensor,
    *,
    temperature: float = 1.0 / 3,
    reg_weight: float = 5.0,
    focal_loss_gamma: float = 2.0,
    pos_loss_weight: float = 0.25,
    neg_loss_weight: float = 0.75,
    center_loss_weight: float = 0.75,
    reduce_mean: Callable[[Tensor], Tensor] = reduce_mean,
) -> Tuple[Dict[str, Tensor], Tensor]:
    """
    The three AutoAssign losses (the authors' ``losses``; paper Eq. 12 plus their center-prior
    regulariser):

    - ``loss_pos``: sum over objects of :func:`positive_bag_loss`, divided by the number of
      objects (averaged over workers, at least 1), times ``pos_loss_weight``. The joint
      confidence is p_cls(class) * p_obj * exp(-reg_weight * GIoU loss), which is the only loss
      the box branch gets.
    - ``loss_neg``: sum of :func:`negative_bag_loss` over all (image, location, class), with the
      IoU of the detached predicted boxes, divided by the summed center prior of all candidates
      (detached, averaged over workers, at least 1), times ``neg_loss_weight``.
    - ``loss_norm``: mean over images of (objects) / (summed center prior of their candidates),
      times ``center_loss_weight``.

    Args:
        points: (R, 2) xy of the locations of all levels.
        strides: (R,) stride of each location's level.
        cls_logits: (N, R, K) class logits.
        obj_logits: (N, R) implicit-objectness logits.
        pred_boxes: (N, R, 4) predicted xyxy boxes (with x1 <= x2, y1 <= y2).
        gt_boxes: (N, G, 4) xyxy objects, padded to G per image.
        gt_classes: (N, G) classes in [0, K), -1 for padding.
        prior_mean, prior_std: (K, 2) parameters of :func:`center_prior`.
        reduce_mean: averages a tensor over workers.

    Returns:
        The losses, at least float32 (float16 and bfloat16 inputs are upcast), and the number of
        objects without any location inside their box (empty bags) as a 0-dim tensor.
    """
    # Mixed precision: head outputs may arrive in float16 or bfloat16 (autocast); the losses are
    # computed in float32.
    points, strides, cls_logits, obj_logits, pred_boxes, gt_boxes = (
        at_least_float32(x) for x in (points, strides, cls_logits, obj_logits, pred_boxes, gt_boxes)
    )
    num_images, num_points, num_classes = cls_logits.shape
    valid = gt_classes >= 0  # (N, G)
    classes = gt_classes.clamp(min=0)
    inside = boxes_contain_points(points, gt_boxes) & valid[..., None]  # (N, G, R)
    has_candidates = inside.any(dim=-1)
    num_empty_bags = (valid & ~has_candidates).sum()

    cls_probs = cls_logits.sigmoid()
    obj_probs = obj_logits.sigmoid()

    prior = center_prior(points, strides, gt_boxes, classes, prior_mean, prior_std) * inside
    # The joint confidence matters only on candidates: compute it there and scatter.
    image, obj, point = inside.nonzero(as_tuple=True)
    cls_conf = cls_probs[image, point, classes[image, obj]] * obj_probs[image, point]
    loc_conf = torch.exp(
        -reg_weight * giou_loss(pred_boxes[image, point], gt_boxes[image, obj], reduction="none")
    )
    confidence = prior.new_zeros(inside.shape).index_put((image, obj, point), cls_conf * loc_conf)
    pos_per_object = positive_bag_loss(confidence, prior, inside, temperature)
    num_objects = reduce_mean(valid.sum().to(prior.dtype)).clamp(min=1)
    loss_pos = torch.where(has_candidates, pos_per_object, 0.0).sum() / num_objects

    with torch.no_grad():
        # (N, G, R): each object against every location's predicted box.
        ious = broadcast_iou(pred_boxes.detach()[:, None], gt_boxes[:, :, None])
        ious = ious.masked_fill(~valid[..., None], 0)
        max_ious = ious.amax(dim=1) if ious.shape[1] else ious.new_zeros(num_images, num_points)
        neg_weights = negative_weights(max_ious, inside, classes, num_classes)
    neg = negative_bag_loss(cls_probs * obj_probs[..., None] * neg_weights, focal_loss_gamma)
    prior_mass = reduce_mean(prior.detach().sum()).clamp(min=1)
    loss_neg = neg.sum() / prior_mass

    prior_per_image = prior.sum(dim=(1, 2))
    norm = torch.where(
        prior_per_image > 0,
        valid.sum(dim=1) / prior_per_image.clamp(min=_EPS),
        prior_per_image.new_zeros(()),
    )
    losses = {
        "loss_pos": pos_loss_weight * loss_pos,
        "loss_neg": neg_loss_weight * loss_neg,
        "loss_norm": center_loss_weight * norm.mean(),
    }
    return losses, num_empty_bags
