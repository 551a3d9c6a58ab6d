"""
``atss.box_voting``: the soft box voting of the official multi-scale test, on hand-computed cases
and against a literal per-class, one-cluster-at-a-time transcription of its definition.
"""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchvision.ops import box_iou

from atss import box_voting


def t(values):
    return torch.tensor(values, dtype=torch.float32)


def vote(boxes, scores, classes, **kwargs):
    return box_voting(t(boxes), t(scores), torch.tensor(classes), **kwargs)


def test_single_box_is_returned_unchanged():
    boxes, scores, classes = vote([[1.5, 2.5, 7.25, 9.0]], [0.3], [4])
    assert torch.equal(boxes, t([[1.5, 2.5, 7.25, 9.0]]))
    assert torch.equal(scores, t([0.3]))
    assert torch.equal(classes, torch.tensor([4]))


def test_no_boxes_give_no_detections():
    boxes, scores, classes = box_voting(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0).long())
    assert boxes.shape == (0, 4) and scores.shape == (0,) and classes.shape == (0,)


def test_two_boxes_above_the_vote_iou_merge_into_their_weighted_mean_with_the_top_score():
    # IoU = 100 / 120 = 0.833 >= 0.66; soft copies: 0.8 * 0 (top) and 0.4 * (1 - 0.833) = 0.067.
    boxes, scores, classes = vote([[0, 0, 10, 10], [0, 0, 10, 12]], [0.8, 0.4], [0, 0])
    mean = (0.8 * t([0, 0, 10, 10]) + 0.4 * t([0, 0, 10, 12])) / 1.2
    assert torch.allclose(boxes, torch.stack([mean, t([0, 0, 10, 12])]))
    assert torch.allclose(scores, t([0.8, 0.4 * (1 - 100 / 120)]))
    assert torch.equal(classes, torch.tensor([0, 0]))


def test_two_boxes_below_the_vote_iou_stay_two_clusters_of_one():
    # IoU = 100 / 160 = 0.625 < 0.66.
    boxes, scores, _ = vote([[0, 0, 10, 10], [0, 0, 10, 16]], [0.4, 0.8], [0, 0])
    assert torch.equal(boxes, t([[0, 0, 10, 16], [0, 0, 10, 10]]))
    assert torch.equal(scores, t([0.8, 0.4]))


def test_iou_exactly_at_the_vote_threshold_joins_the_cluster():
    # IoU = 100 / 125 = 0.8 exactly.
    boxes, _, _ = vote([[0, 0, 10, 10], [0, 0, 10, 12.5]], [0.9, 0.9], [0, 0], iou_threshold=0.8)
    assert torch.allclose(boxes[0], t([0, 0, 10, 11.25]))


def test_soft_copies_below_the_score_threshold_are_dropped():
    # IoU 100 / 110: the copy scores 0.5 * (1 - 0.909) = 0.045 < 0.05.
    boxes, scores, _ = vote([[0, 0, 10, 10], [0, 0, 10, 11]], [0.9, 0.5], [0, 0])
    assert torch.allclose(boxes, ((0.9 * t([0, 0, 10, 10]) + 0.5 * t([0, 0, 10, 11])) / 1.4)[None])
    assert torch.equal(scores, t([0.9]))
    # At a lower threshold it is kept; the top box's own copy (score * 0) never is.
    _, scores, _ = vote(
        [[0, 0, 10, 10], [0, 0, 10, 11]], [0.9, 0.5], [0, 0], score_threshold=0.04
    )
    assert torch.allclose(scores, t([0.9, 0.5 / 11]))


def test_soft_copies_do_not_return_to_the_pool():
    # The second box (IoU 0.833 with the top) is voted and copied; the third one overlaps the
    # copy (IoU 0.8) but not the top (IoU 0.667 < 0.7), so it stays a cluster of one.
    boxes, scores, _ = vote(
        [[0, 0, 10, 10], [0, 0, 10, 12], [0, 0, 10, 15]],
        [0.9, 0.8, 0.7],
        [0, 0, 0],
        iou_threshold=0.7,
    )
    assert len(boxes) == 3
    assert torch.allclose(scores, t([0.9, 0.7, 0.8 * (1 - 100 / 120)]))
    assert torch.equal(boxes[1], t([0, 0, 10, 15]))


def test_boxes_of_different_classes_never_vote_together():
    boxes, scores, classes = vote(
        [[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 11], [0, 0, 10, 12]],
        [0.9, 0.8, 0.7, 0.6],
        [3, 1, 3, 1],
    )
    # Class 3: IoU 0.909, copy 0.7 * 0.091 = 0.064 kept. Class 1: IoU 0.833, copy 0.1 kept.
    assert torch.equal(classes, torch.tensor([3, 1, 1, 3]))
    assert torch.allclose(scores, t([0.9, 0.8, 0.6 / 6, 0.7 / 11]))
    assert torch.allclose(boxes[0], (0.9 * t([0, 0, 10, 10]) + 0.7 * t([0, 0, 10, 11])) / 1.6)
    assert torch.allclose(boxes[1], (0.8 * t([0, 0, 10, 10]) + 0.6 * t([0, 0, 10, 12])) / 1.4)


def test_at_most_max_detections_are_kept_with_ties_at_the_cut():
    # Five separate boxes; the 2nd to 4th share the score at the cut of 3.
    boxes = [[20 * i, 0, 20 * i + 10, 10] for i in range(5)]
    _, scores, _ = vote(boxes, [0.9, 0.5, 0.5, 0.5, 0.4], [0] * 5, max_detections=3)
    assert torch.equal(scores, t([0.9, 0.5, 0.5, 0.5]))
    _, scores, _ = vote(boxes, [0.9, 0.8, 0.5, 0.5, 0.4], [0] * 5, max_detections=2)
    assert torch.equal(scores, t([0.9, 0.8]))


def test_the_default_cap_is_1000_detections():
    n = 1200
    x = torch.arange(n) * 20.0
    boxes = torch.stack([x, torch.zeros(n), x + 10, torch.full((n,), 10.0)], dim=1)
    scores = torch.linspace(1.0, 0.1, n)
    _, kept, _ = box_voting(boxes, scores, torch.zeros(n, dtype=torch.long))
    assert torch.equal(kept, scores[:1000])


def test_mismatched_shapes_are_rejected():
    with pytest.raises(ValueError, match="scores"):
        box_voting(torch.zeros(3, 4), torch.zeros(2), torch.zeros(3).long())


def reference_voting(boxes, scores, classes, iou_threshold, score_threshold, max_detections):
    """The definition, one class and one cluster at a time."""
    out = []
    for c in classes.unique().tolist():
        idx = (classes == c).nonzero().squeeze(1)
        order = scores[idx].sort(descending=True, stable=True)[1]
        pool_boxes, pool_scores = boxes[idx][order], scores[idx][order]
        while len(pool_boxes):
            iou = box_iou(pool_boxes[:1], pool_boxes)[0]
            members = iou >= iou_threshold
            members[0] = True
            b, s, o = pool_boxes[members], pool_scores[members], iou[members]
            pool_boxes, pool_scores = pool_boxes[~members], pool_scores[~members]
            if len(b) == 1:
                out.append((b[0], s[0], c))
                continue
            out.append(((b * s[:, None]).sum(0) / s.sum(), s.max(), c))
            for box, soft in zip(b, s * (1 - o)):
                if soft >= score_threshold:
                    out.append((box, soft, c))
    out.sort(key=lambda d: -float(d[1]))
    if len(out) > max_detections:
        out = [d for d in out if d[1] >= out[max_detections - 1][1]]
    return out


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 6), st.integers(0, 6), st.integers(1, 6), st.integers(1, 6),
            st.integers(1, 20), st.integers(0, 2),
        ),
        max_size=30,
    ),
    st.sampled_from([0.3, 0.5, 0.66]),
    st.integers(1, 40),
)
def test_matches_the_definition_applied_one_cluster_at_a_time(dets, iou_threshold, cap):
    boxes = t([[x, y, x + w, y + h] for x, y, w, h, _, _ in dets]).reshape(-1, 4)
    scores = t([s / 20 for *_, s, _ in dets])
    classes = torch.tensor([c for *_, c in dets], dtype=torch.long)
    got = box_voting(
        boxes, scores, classes, iou_threshold=iou_threshold, max_detections=cap
    )
    want = reference_voting(boxes, scores, classes, iou_threshold, 0.05, cap)
    key = lambda b, s, c: (round(float(s), 5), int(c), *[round(float(v), 4) for v in b])  # noqa
    assert sorted(map(key, *got)) == sorted(key(*d) for d in want)
