"""
The official AP-Loss forward (cccorn/AP-loss ``lib/model/aploss.py``), re-implemented as its loop
over the positives: the reference that ``tests/losses/test_ap_loss.py`` compares
:func:`atss.losses.ap_loss` with and that ``benchmarks/ap_loss.py`` times it against.
"""

import time
from typing import Optional, Tuple
import torch

__all__ = ["official_ap_loss"]


def official_ap_loss(
    pred_logits: torch.Tensor,
    gt_labels: torch.Tensor,
    delta: float = 1.0,
    time_cap: Optional[float] = None,
) -> Tuple[torch.Tensor, torch.Tensor, float]:
    """
    The official AP-Loss forward (value and gradient), one vector pass per positive item.

    Args:
        pred_logits: (N, R, K) logits; gt_labels: (N, R) in [-1, K] as :func:`ap_loss` takes them.
        time_cap: stop after this many seconds.

    Returns:
        loss, gradient on ``pred_logits`` (both in its dtype) and the fraction of positives done
        (1.0 unless stopped by ``time_cap``, when loss and gradient are incomplete).
    """
    num_classes = pred_logits.shape[-1]
    logits = pred_logits.detach().reshape(-1, num_classes)
    labels = gt_labels.reshape(-1)
    # Official label map: 1 at the class of a positive anchor, 0 elsewhere, -1 for ignored anchors.
    targets = torch.zeros_like(logits)
    positive = (labels >= 0) & (labels < num_classes)
    targets[positive, labels[positive]] = 1.0
    targets[labels < 0] = -1.0

    grad = torch.zeros_like(logits)
    fg_mask = targets == 1
    fg = logits[fg_mask]
    if len(fg) == 0:
        return logits.new_zeros(()), grad.reshape(pred_logits.shape), 1.0
    threshold = fg.min() - delta
    bg_mask = (targets == 0) & (logits >= threshold)
    bg = logits[bg_mask]
    bg_grad = torch.zeros_like(bg)
    fg_sorted, order = fg.sort()
    fg_grad = torch.zeros_like(fg_sorted)
    prec = torch.zeros_like(fg_sorted)
    max_prec = 0.0
    start = time.perf_counter()
    done = 0
    for ii in range(len(fg_sorted)):
        if time_cap is not None and time.perf_counter() - start > time_cap:
            break
        s_i = fg_sorted[ii]
        fg_h = torch.clamp((fg_sorted - s_i) / (2 * delta) + 0.5, min=0, max=1)
        bg_h = torch.clamp((bg - s_i) / (2 * delta) + 0.5, min=0, max=1)
        rank_pos = 0.5 + fg_h.sum()
        rank = rank_pos + bg_h.sum()
        current_prec = float(rank_pos / rank)
        lij = bg_h / rank
        if max_prec <= current_prec:
            max_prec = current_prec
            bg_grad += lij
        else:
            bg_grad += lij * ((1 - max_prec) / (1 - current_prec))
        fg_grad[ii] = -(1 - max_prec)
        prec[ii] = max_prec
        done += 1
    grad_fg = torch.empty_like(fg_grad)
    grad_fg[order] = fg_grad
    grad[fg_mask] = grad_fg / len(fg)
    grad[bg_mask] = bg_grad / len(fg)
    loss = 1 - prec.sum() / len(fg)
    return loss, grad.reshape(pred_logits.shape), done / len(fg)
