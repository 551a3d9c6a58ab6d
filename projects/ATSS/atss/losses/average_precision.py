"""
AP-Loss (Chen et al., "Towards Accurate One-Stage Object Detection with AP-Loss", CVPR 2019):
classification as ranking, optimised by the error-driven update of the official code
(cccorn/AP-loss, lib/model/aploss.py), computed exactly in O((P + N) log(P + N)) time and
O(P + N) memory instead of the official loop's O(P (P + N)) time.

Derivation in short. Items are (anchor, class) pairs; s is the raw logit; i runs over the P
positive items, j over the N negative items. With the interpolated step

    H(x) = clamp(x / (2 delta) + 1/2, 0, 1)          (so H(0) = 1/2 for ties)

the official ranks are rank+(i) = 1/2 + sum_{k in P} H(s_k - s_i) (the self term H(0) plus 1/2
make the "1 +" of the paper, authors' issue #2), rank-(i) = sum_{j in N} H(s_j - s_i), and
prec(i) = rank+(i) / (rank+(i) + rank-(i)). H is 0 below -delta, 1 above delta and linear in
between, so for any set of values v and any centre c

    sum_v H(v - c) = #{v > c + delta} + sum_{|v - c| <= delta} (v - c + delta) / (2 delta),

a count and a sum over a window: with the centres sorted, ``searchsorted`` puts every value in
its bucket once, and suffix sums of the bucket counts and sums give every centre's total. Both
ranks follow for all positives at once. Interpolation (official: positives in ascending score, a
running maximum of precision) is ``cummax`` over the sorted positives. The official gradients are

    positive i:  -(1 - prec_interp(i)) / P
    negative j:  (1 / P) sum_i w_i H(s_j - s_i),  w_i = (1 - prec_interp(i)) / rank-(i),

since the primary terms L_ij = H(s_j - s_i) / rank(i), rescaled by (1 - prec_interp(i)) /
(1 - prec(i)) when interpolated, equal w_i H(s_j - s_i). As a function of s_i, H(s_j - s_i) is
1 below s_j - delta and linear up to s_j + delta, so every negative's sum is again a searchsorted
position in the sorted positives and prefix sums of w and w * s. Everything is done in float64
so that sums over ten million items keep the official float32 loop's precision or better.
"""
from typing import Tuple
import torch
from torch import Tensor

__all__ = ["ap_loss"]


def _sum_step(values: Tensor, centers: Tensor, delta: float) -> Tensor:
    """
    sum_v H(v - c) for every centre c, in O((V + C) log C).

    Args:
        values: (V,) float64, any order.
        centers: (C,) float64, ascending.

    Returns:
        (C,) float64.
    """
    num = len(centers)

    def suffix_count_and_sum(bounds: Tensor, right: bool) -> Tuple[Tensor, Tensor]:
        # #{v >= b} (right=True) or #{v > b} (right=False) and the sum of those v, for each bound.
        bucket = torch.searchsorted(bounds, values, right=right)  # number of bounds below v
        counts = torch.bincount(bucket, minlength=num + 1).to(values.dtype)
        sums = torch.bincount(bucket, weights=values, minlength=num + 1)
        # A value in bucket b is beyond bounds[0..b-1]: suffix sums from bucket c + 1 on.
        return (
            counts.flip(0).cumsum(0).flip(0)[1:],
            sums.flip(0).cumsum(0).flip(0)[1:],
        )

    count_lo, sum_lo = suffix_count_and_sum(centers - delta, right=True)  # v >= c - delta
    count_hi, sum_hi = suffix_count_and_sum(centers + delta, right=False)  # v > c + delta
    window_count = count_lo - count_hi
    window_sum = sum_lo - sum_hi
    return count_hi + (window_sum - window_count * (centers - delta)) / (2 * delta)


def _negative_weights(
    sorted_pos: Tensor, weights: Tensor, negatives: Tensor, delta: float
) -> Tensor:
    """
    sum_i w_i H(s_j - s_i) for every negative j, in O((N + P) log P).

    Args:
        sorted_pos: (P,) float64 positive scores, ascending.
        weights: (P,) float64 weights w_i in the same order.
        negatives: (N,) float64 negative scores.

    Returns:
        (N,) float64.
    """
    zero = weights.new_zeros(1)
    cum_w = torch.cat([zero, weights.cumsum(0)])
    cum_ws = torch.cat([zero, (weights * sorted_pos).cumsum(0)])
    below = torch.searchsorted(sorted_pos, negatives - delta)  # s_i < s_j - delta: H = 1
    upto = torch.searchsorted(sorted_pos, negatives + delta, right=True)  # s_i <= s_j + delta
    window_w = cum_w[upto] - cum_w[below]
    window_ws = cum_ws[upto] - cum_ws[below]
    return cum_w[below] + ((negatives + delta) * window_w - window_ws) / (2 * delta)


def _loss_and_grad(pred_logits: Tensor, gt_labels: Tensor, delta: float) -> Tuple[Tensor, Tensor]:
    num_classes = pred_logits.shape[-1]
    scores = pred_logits.detach().reshape(-1, num_classes).to(torch.float64)
    labels = gt_labels.reshape(-1)
    valid = labels >= 0
    is_pos = torch.zeros_like(scores, dtype=torch.bool)
    pos_anchor = valid & (labels < num_classes)
    is_pos[pos_anchor, labels[pos_anchor]] = True
    is_neg = valid[:, None] & ~is_pos

    grad = torch.zeros_like(scores)
    pos_scores = scores[is_pos]
    num_pos = len(pos_scores)
    if num_pos == 0:  # official: no positive, loss 0 and no gradient
        return scores.new_zeros(()), grad.reshape(pred_logits.shape)
    # Negatives below min(positives) - delta have H = 0 against every positive (official pruning):
    # they cost nothing and get a zero gradient.
    is_neg &= scores >= pos_scores.min() - delta
    neg_scores = scores[is_neg]

    sorted_pos, order = pos_scores.sort()
    rank_pos = 0.5 + _sum_step(sorted_pos, sorted_pos, delta)
    rank_neg = _sum_step(neg_scores, sorted_pos, delta)
    prec = rank_pos / (rank_pos + rank_neg)
    # Interpolated AP (official): each positive takes the best precision of the positives
    # scored at or below it, i.e. a running maximum in ascending score.
    error = 1.0 - prec.cummax(0).values
    # With rank-(i) = 0 the positive has no primary term (and prec = 1, so error = 0).
    weights = torch.where(rank_neg > 0, error / rank_neg.clamp(min=1e-300), 0.0)

    pos_grad = torch.empty_like(error)
    pos_grad[order] = -error
    grad[is_pos] = pos_grad / num_pos
    grad[is_neg] = _negative_weights(sorted_pos, weights, neg_scores, delta) / num_pos
    return error.mean(), grad.reshape(pred_logits.shape)


class _APLoss(torch.autograd.Function):
    """Loss value 1 - interpolated AP; backward gives the stored error-driven gradient."""

    @staticmethod
    def forward(ctx, pred_logits: Tensor, gt_labels: Tensor, delta: float) -> Tensor:
        loss, grad = _loss_and_grad(pred_logits, gt_labels, delta)
        ctx.save_for_backward(grad.to(pred_logits.dtype))
        return loss.to(pred_logits.dtype)

    @staticmethod
    def backward(ctx, grad_output: Tensor):
        (grad,) = ctx.saved_tensors
        return grad * grad_output, None, None


def ap_loss(pred_logits: Tensor, gt_labels: Tensor, *, delta: float = 1.0) -> Tensor:
    """
    AP-Loss over all items of all images of the call (the official minibatch ranking: one AP
    over every (anchor, class) pair of the batch on this worker, not a mean of per-image APs).

    Args:
        pred_logits: (N, R, K) raw class logits of N images and R anchors (no sigmoid).
        gt_labels: (N, R) class of the matched object, ``K`` for background and -1 for ignored
            anchors, as :func:`atss_losses` takes them. A positive anchor of class c gives one
            positive item (c) and K - 1 negative items; a background anchor K negative items;
            an ignored anchor none.
        delta: half-width of the interpolated step H, in logit units (official 1.0).

    Returns:
        The scalar 1 - mean interpolated precision over the positive items (0 without positive
        items). Its backward gives ``pred_logits`` the official error-driven gradient times the
        incoming gradient: -(1 - prec_interp(i)) / P for positive i, sum_i L_ij / P for negative
        j, 0 for ignored items. It is not the derivative of the value (AP is piecewise constant).
    """
    if pred_logits.dim() != 3:
        raise ValueError(f"pred_logits must be (N, R, K), got shape {tuple(pred_logits.shape)}")
    if gt_labels.shape != pred_logits.shape[:2]:
        raise ValueError(
            f"gt_labels must be (N, R) = {tuple(pred_logits.shape[:2])}, "
            f"got shape {tuple(gt_labels.shape)}"
        )
    num_classes = pred_logits.shape[-1]
    if gt_labels.numel() and (gt_labels.min() < -1 or gt_labels.max() > num_classes):
        raise ValueError(
            f"gt_labels must be in [-1, {num_classes}] (-1 ignored, {num_classes} background), "
            f"got values in [{int(gt_labels.min())}, {int(gt_labels.max())}]"
        )
    if not delta > 0:
        raise ValueError(f"delta must be positive, got {delta}")
    if not torch.isfinite(pred_logits).all():
        raise ValueError("pred_logits has non-finite values")
    return _APLoss.apply(pred_logits, gt_labels, float(delta))
