"""
AP-Loss (``atss.losses.ap_loss``): hand-computed cases (values of the official code with
delta = 1), its invariants, and equality of value and gradient with the official per-positive
loop (re-implemented in ``tests/references/official_ap_loss.py``) on random cases.
"""
from fractions import Fraction
import pytest
import torch

from atss.losses import ap_loss
from references.official_ap_loss import official_ap_loss


def loss_and_grad(pos, neg, ignored=()):
    """One class, one image: items are anchors labelled positive (0), negative (1), ignored (-1)."""
    scores = list(pos) + list(neg) + list(ignored)
    labels = [0] * len(pos) + [1] * len(neg) + [-1] * len(ignored)
    logits = torch.tensor(scores, dtype=torch.float64).reshape(1, -1, 1).requires_grad_()
    loss = ap_loss(logits, torch.tensor(labels).reshape(1, -1))
    loss.backward()
    return loss.item(), logits.grad.flatten().tolist()


def approx(values):
    return pytest.approx([float(v) for v in values], abs=1e-12)


def test_perfect_ranking_by_more_than_delta_gives_zero_loss_and_gradient():
    loss, grad = loss_and_grad([5, 4], [0, -1])
    assert loss == 0 and grad == [0, 0, 0, 0]


def test_correct_order_within_delta_still_costs():
    loss, grad = loss_and_grad([0.5], [0])  # H(-0.5) = 1/4, precision 1 / 1.25
    assert loss == pytest.approx(0.2) and grad == approx([-0.2, 0.2])


@pytest.mark.parametrize("k", [1, 3, 10])
def test_one_positive_below_k_negatives(k):
    loss, grad = loss_and_grad([-5], [0] * k)
    assert loss == pytest.approx(k / (k + 1))
    assert grad == approx([Fraction(-k, k + 1)] + [Fraction(1, k + 1)] * k)


def test_tie_counts_half():
    loss, grad = loss_and_grad([0], [0])  # H(0) = 1/2, precision 2/3
    assert loss == pytest.approx(1 / 3) and grad == approx([Fraction(-1, 3), Fraction(1, 3)])


def test_ties_among_many_items_follow_h_of_zero_not_the_sort_order():
    # Two positives and two negatives all tied: rank+ = 1 + 1/2, rank- = 1, precision 3/5.
    loss, grad = loss_and_grad([1, 1], [1, 1])
    assert loss == pytest.approx(0.4)
    assert grad == approx([-0.2, -0.2, 0.2, 0.2])


def test_partial_overlap_is_linear_in_the_score_gap():
    loss, grad = loss_and_grad([0], [0.5])  # H(0.5) = 3/4
    assert loss == pytest.approx(3 / 7) and grad == approx([Fraction(-3, 7), Fraction(3, 7)])


def test_negatives_below_every_positive_minus_delta_get_no_gradient():
    loss, grad = loss_and_grad([0], [2, -2])
    assert loss == pytest.approx(0.5) and grad == approx([-0.5, 0.5, 0])


def test_two_positives():
    loss, grad = loss_and_grad([3, 0], [1.5])  # precisions 1 and 2/3
    assert loss == pytest.approx(1 / 6)
    assert grad == approx([0, Fraction(-1, 6), Fraction(1, 6)])


def test_interpolation_raises_a_precision_to_the_best_of_lower_scored_positives():
    # Raw precisions 1/2 (score 5) and 2/3 (score 0); interpolated both 2/3. Without
    # interpolation the loss would be 5/12 with gradients -1/4, -1/6, +5/12.
    loss, grad = loss_and_grad([5, 0], [6])
    assert loss == pytest.approx(1 / 3)
    assert grad == approx([Fraction(-1, 6), Fraction(-1, 6), Fraction(1, 3)])


def test_ignored_items_change_nothing_and_get_no_gradient():
    loss, grad = loss_and_grad([0], [2], ignored=[3])
    assert loss == pytest.approx(0.5) and grad == approx([-0.5, 0.5, 0])


def test_no_positive_gives_zero_loss_and_zero_gradient():
    logits = torch.randn(2, 5, 3, requires_grad=True)
    labels = torch.tensor([[3, 3, -1, 3, 3], [-1, 3, 3, 3, -1]])
    loss = ap_loss(logits, labels)
    loss.backward()
    assert loss.item() == 0 and (logits.grad == 0).all()


def test_batch_ranking_differs_from_the_mean_of_per_image_losses():
    # Image A: positive 0, negative -0.5; image B: positive 5, negative 4.9. Alone they give
    # 1/5 and 9/29; ranked together 131/377.
    logits = torch.tensor([[[0.0], [-0.5]], [[5.0], [4.9]]], dtype=torch.float64)
    logits.requires_grad_()
    loss = ap_loss(logits, torch.tensor([[0, 1], [0, 1]]))
    loss.backward()
    assert loss.item() == pytest.approx(131 / 377)
    expected = [Fraction(-5, 26), Fraction(1, 26), Fraction(-9, 58), Fraction(233, 754)]
    assert logits.grad.flatten().tolist() == approx(expected)
    alone = [loss_and_grad([0], [-0.5])[0], loss_and_grad([5], [4.9])[0]]
    assert alone == pytest.approx([1 / 5, 9 / 29])


def test_wrong_classes_of_a_positive_anchor_are_negative_items():
    # Anchor of class 1: its class-0 item (score 0) is a negative tied with the positive item.
    logits = torch.tensor([[[0.0, 0.0]]], requires_grad=True)
    loss = ap_loss(logits, torch.tensor([[1]]))
    loss.backward()
    assert loss.item() == pytest.approx(1 / 3)
    assert logits.grad.flatten().tolist() == pytest.approx([1 / 3, -1 / 3])


def random_case(seed, num_images=2, num_anchors=300, num_classes=4, grid=0.25):
    """Logits on a grid (many ties), about 10% ignored anchors and 5% positive anchors."""
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randint(-12, 8, (num_images, num_anchors, num_classes), generator=gen) * grid
    u = torch.rand(num_images, num_anchors, generator=gen)
    classes = torch.randint(num_classes, (num_images, num_anchors), generator=gen)
    labels = torch.where(u < 0.05, classes, num_classes)
    labels[u > 0.9] = -1
    return logits.double(), labels


@pytest.mark.parametrize("seed", range(6))
def test_value_and_gradient_equal_the_official_loop(seed):
    logits, labels = random_case(seed)
    x = logits.clone().requires_grad_()
    loss = ap_loss(x, labels)
    loss.backward()
    expected_loss, expected_grad, done = official_ap_loss(logits, labels)
    assert done == 1.0
    assert loss.item() == pytest.approx(expected_loss.item(), rel=1e-12)
    torch.testing.assert_close(x.grad, expected_grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("delta", [0.25, 3.0])
def test_other_deltas_equal_the_official_loop(delta):
    logits, labels = random_case(7)
    x = logits.clone().requires_grad_()
    ap_loss(x, labels, delta=delta).backward()
    torch.testing.assert_close(x.grad, official_ap_loss(logits, labels, delta)[1])


@pytest.mark.parametrize("seed", range(4))
def test_invariants(seed):
    logits, labels = random_case(seed, grid=0.1)
    x = logits.clone().requires_grad_()
    loss = ap_loss(x, labels)
    loss.backward()
    grad = x.grad
    positive = torch.zeros_like(grad, dtype=torch.bool)
    pos_anchor = (labels >= 0) & (labels < logits.shape[-1])
    positive[pos_anchor, labels[pos_anchor]] = True
    assert 0 <= loss.item() <= 1
    assert grad.sum().item() == pytest.approx(0, abs=1e-12)
    assert grad[positive].abs().sum().item() == pytest.approx(loss.item())
    assert (grad[labels < 0] == 0).all()
    assert (grad[positive] <= 0).all() and (grad[~positive] >= 0).all()

    shifted = (logits + 3.0).requires_grad_()
    assert ap_loss(shifted, labels).item() == pytest.approx(loss.item())

    perm = torch.randperm(labels.shape[1], generator=torch.Generator().manual_seed(seed))
    permuted = logits[:, perm].clone().requires_grad_()
    ap_loss(permuted, labels[:, perm]).backward()
    torch.testing.assert_close(permuted.grad, grad[:, perm])


def test_well_separated_positives_give_zero_gradient():
    logits, labels = random_case(0)
    positive = torch.zeros_like(logits, dtype=torch.bool)
    pos_anchor = labels < logits.shape[-1]
    positive[pos_anchor & (labels >= 0), labels[pos_anchor & (labels >= 0)]] = True
    logits = torch.where(positive, logits + 25.0, logits).requires_grad_()
    loss = ap_loss(logits, labels)
    loss.backward()
    assert loss.item() == 0 and (logits.grad == 0).all()


def test_backward_scales_the_gradient_by_the_incoming_gradient():
    logits, labels = random_case(1)
    x = logits.clone().requires_grad_()
    ap_loss(x, labels).backward()
    y = logits.clone().requires_grad_()
    (2.5 * ap_loss(y, labels)).backward()
    torch.testing.assert_close(y.grad, 2.5 * x.grad)


def test_float32_input_gives_float32_loss_and_gradient():
    logits, labels = random_case(2)
    x = logits.float().requires_grad_()
    loss = ap_loss(x, labels)
    loss.backward()
    assert loss.dtype == torch.float32 and x.grad.dtype == torch.float32


@pytest.mark.parametrize(
    "logits, labels, message",
    [
        (torch.zeros(2, 3), torch.zeros(2, 3), r"\(N, R, K\)"),
        (torch.zeros(1, 3, 2), torch.zeros(1, 4), "gt_labels must be"),
        (torch.zeros(1, 3, 2), torch.tensor([[0, 3, 1]]), r"\[-1, 2\]"),
        (torch.tensor([[[float("nan")]]]), torch.zeros(1, 1), "non-finite"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_error(logits, labels, message):
    with pytest.raises(ValueError, match=message):
        ap_loss(logits, labels.long())


def test_delta_must_be_positive():
    with pytest.raises(ValueError, match="delta"):
        ap_loss(torch.zeros(1, 2, 1), torch.tensor([[0, 1]]), delta=0.0)
