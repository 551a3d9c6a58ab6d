"""
AP-Loss (Chen et al., "Towards Accurate One-Stage Object Detection with AP-Loss", CVPR 2019):
classification as ranking, optimised by the error-driven update of the official code
(cccorn/AP-loss, lib/model/aploss.py), computed exactly in O((P + N) log P) time and
O(P + N) memory instead of the official loop's O(P (P + N)) time.

Derivation in short. Items are (anchor, class) pairs; s is the raw logit; i runs over the P
positive items, j over the N negative items. With the interpolated step

    H(x) = clamp(x / (2 delta) + 1/2, 0, 1)          (so H(0) = 1/2 for ties)

the official ranks are rank+(i) = 1/2 + sum_{k in P} H(s_k - s_i) (the self term H(0) plus 1/2
make the "1 +" of the paper, authors' issue #2), rank-(i) = sum_{j in N} H(s_j - s_i), and
prec(i) = rank+(i) / (rank+(i) + rank-(i)). H is 0 below -delta, 1 above delta and linear in
between, so for any set of values v and any centre c

    sum_v H(v - c) = #{v >= c + delta} + sum_{c - delta <= v < c + delta} (v - c + delta) / 2delta,

a count and a sum over a window. Merge the 2P breakpoints s_i -+ delta of the sorted positives
and sort them: one ``searchsorted`` per item gives its bucket, and since "s_i + delta <= v" and
"s_i - delta <= v" are monotone in i, the bucket says for which positives H is 1, linear or 0.
Per-bucket counts and sums (``bincount``) summed beyond each breakpoint (suffix ``cumsum``) give
rank+ and rank- of all positives at once. Interpolation (official: positives in ascending score,
a running maximum of precision) is ``cummax`` over the sorted positives. The official gradients
are

    positive i:  -(1 - prec_interp(i)) / P
    negative j:  (1 / P) sum_i w_i H(s_j - s_i),  w_i = (1 - prec_interp(i)) / rank-(i),

since the primary terms L_ij = H(s_j - s_i) / rank(i), rescaled by (1 - prec_interp(i)) /
(1 - prec(i)) when interpolated, equal w_i H(s_j - s_i); every negative's sum is read from
per-bucket tables of prefix sums of w and w * s over the sorted positives. Time is
O((P + N) log P), memory O(P + N); only the positives are sorted. Sums are taken in float64, so
that sums over ten million items keep the official float32 loop's precision or better.
"""
from typing import Tuple
import torch
from torch import Tensor

from .precision import at_least_float32

__all__ = ["ap_loss"]


class _StepGrid:
    """
    The 2P breakpoints s_i -+ delta of the steps H(v - s_i) of the sorted positives s_i, merged
    and sorted. One ``searchsorted`` of a value v in them (its bucket k = #{breakpoints <= v})
    tells for every positive whether H(v - s_i) is 1 (s_i + delta <= v), linear
    ((v - s_i + delta) / (2 delta), for s_i - delta <= v < s_i + delta) or 0, because both
    conditions are monotone in i: H is 1 for i < below[k] and linear for below[k] <= i < upto[k].
    """

    def __init__(self, sorted_pos: Tensor, delta: float):
        num = len(sorted_pos)
        self.sorted_pos = sorted_pos
        self.delta = delta
        bounds, order = torch.cat([sorted_pos - delta, sorted_pos + delta]).sort(stable=True)
        self.bounds = bounds
        is_lower = order < num
        zero = order.new_zeros(1)
        self.upto = torch.cat([zero, is_lower.cumsum(0)])  # #{s_i - delta <= v}, (2P + 1,)
        self.below = torch.cat([zero, (~is_lower).cumsum(0)])  # #{s_i + delta <= v}
        # Position of each breakpoint in ``bounds``: the bucket k of v passes positive i's
        # lower (upper) breakpoint iff k > that position.
        position = torch.empty_like(order)
        position[order] = torch.arange(2 * num, device=order.device)
        self.lower_pos, self.upper_pos = position[:num], position[num:]

    def bucket(self, values: Tensor) -> Tensor:
        return torch.searchsorted(self.bounds, values, right=True, out_int32=True)

    def sum_step(self, values: Tensor, bucket: Tensor) -> Tensor:
        """
        sum_v H(v - s_i) for every positive i: counts and sums of the values per bucket, summed
        over the buckets beyond each breakpoint. O(V + P).

        Returns:
            (P,) float64.
        """
        size = len(self.bounds) + 1
        counts = torch.bincount(bucket, minlength=size).to(values.dtype)
        sums = torch.bincount(bucket, weights=values, minlength=size)
        counts_beyond = counts.flip(0).cumsum(0).flip(0)  # [k]: values in buckets >= k
        sums_beyond = sums.flip(0).cumsum(0).flip(0)
        full_count = counts_beyond[self.upper_pos + 1]
        window_count = counts_beyond[self.lower_pos + 1] - full_count
        window_sum = sums_beyond[self.lower_pos + 1] - sums_beyond[self.upper_pos + 1]
        delta = self.delta
        return full_count + (window_sum - window_count * (self.sorted_pos - delta)) / (2 * delta)

    def weighted_step(self, values: Tensor, bucket: Tensor, weights: Tensor) -> Tensor:
        """
        sum_i w_i H(v - s_i) for every value v, from per-bucket tables of prefix sums of w and
        w * s over the sorted positives. O(V + P).

        Args:
            weights: (P,) float64 w_i in the order of the sorted positives.

        Returns:
            (V,) float64.
        """
        zero = weights.new_zeros(1)
        cum_w = torch.cat([zero, weights.cumsum(0)])
        cum_ws = torch.cat([zero, (weights * self.sorted_pos).cumsum(0)])
        full_w = cum_w[self.below]
        # In place: a few (V,) temporaries at most.
        out = (values + self.delta).mul_((cum_w[self.upto] - full_w)[bucket])
        out.sub_((cum_ws[self.upto] - cum_ws[self.below])[bucket]).div_(2 * self.delta)
        return out.add_(full_w[bucket])


def _loss_and_grad(pred_logits: Tensor, gt_labels: Tensor, delta: float) -> Tuple[Tensor, Tensor]:
    num_classes = pred_logits.shape[-1]
    logits = pred_logits.detach().reshape(-1, num_classes)
    labels = gt_labels.reshape(-1)
    valid = labels >= 0
    is_pos = torch.zeros_like(logits, dtype=torch.bool)
    pos_anchor = valid & (labels < num_classes)
    is_pos[pos_anchor, labels[pos_anchor]] = True

    grad = torch.zeros_like(logits)
    pos_scores = logits[is_pos].double()
    num_pos = len(pos_scores)
    if num_pos == 0:  # official: no positive, loss 0 and no gradient
        return logits.new_zeros(()), grad.reshape(pred_logits.shape)
    # Negatives below min(positives) - delta have H = 0 against every positive (official pruning):
    # they cost nothing and get a zero gradient.
    is_neg = valid[:, None] & ~is_pos & (logits >= pos_scores.min() - delta)
    neg_scores = logits[is_neg].double()

    sorted_pos, pos_order = pos_scores.sort()
    grid = _StepGrid(sorted_pos, delta)
    neg_bucket = grid.bucket(neg_scores)
    rank_pos = 0.5 + grid.sum_step(sorted_pos, grid.bucket(sorted_pos))
    rank_neg = grid.sum_step(neg_scores, neg_bucket)
    prec = rank_pos / (rank_pos + rank_neg)
    # Interpolated AP (official): each positive takes the best precision of the positives
    # scored at or below it, i.e. a running maximum in ascending score.
    error = 1.0 - prec.cummax(0).values
    # With rank-(i) = 0 the positive has no primary term (and prec = 1, so error = 0).
    weights = torch.where(rank_neg > 0, error / rank_neg.clamp(min=1e-300), 0.0)

    pos_grad = logits.new_empty(num_pos)
    pos_grad[pos_order] = (-error / num_pos).to(grad.dtype)
    grad[is_pos] = pos_grad
    grad[is_neg] = grid.weighted_step(neg_scores, neg_bucket, weights).div_(num_pos).to(grad.dtype)
    return error.mean(), grad.reshape(pred_logits.shape)


class _APLoss(torch.autograd.Function):
    """Loss value 1 - interpolated AP; backward gives the stored error-driven gradient."""

    @staticmethod
    def forward(ctx, pred_logits: Tensor, gt_labels: Tensor, delta: float) -> Tensor:
        loss, grad = _loss_and_grad(pred_logits, gt_labels, delta)
        ctx.save_for_backward(grad)
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
        items), in float32 for float16 or bfloat16 logits. Its backward gives ``pred_logits`` the
        official error-driven gradient times the incoming gradient: -(1 - prec_interp(i)) / P
        for positive i, sum_i L_ij / P for negative j, 0 for ignored items. It is not the
        derivative of the value (AP is piecewise constant).
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
    # Float16 or bfloat16 logits (autocast) are ranked, and get their gradient, in float32.
    return _APLoss.apply(at_least_float32(pred_logits), gt_labels, float(delta))
