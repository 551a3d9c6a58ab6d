"""The ATSS meta-architecture: training losses, inference post-processing and bad input."""
import math
from pathlib import Path
import pytest
import torch
from torch import nn

pytestmark = pytest.mark.detectron2
pytest.importorskip("detectron2", reason="detectron2 not installed")

from detectron2.config import LazyConfig, instantiate
from detectron2.model_zoo import get_config
from detectron2.structures import Boxes, pairwise_iou
from detectron2.utils.events import EventStorage

from atss import ATSS, ATSSAnchorGenerator, ATSSHead
from atss.modeling import AssignmentParams, InferenceParams
from tiny_model import CHANNELS, SIZE, STRIDES, TinyBackbone, sample, tiny_atss

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def logit(p: float) -> float:
    return math.log(p / (1 - p))


class FixedHead(nn.Module):
    """Returns the predictions it was given, whatever the features."""

    def __init__(self, predictions):
        super().__init__()
        self.predictions = predictions

    def forward(self, features):
        return self.predictions


def fixed_predictions(candidates, num_classes=2):
    """
    Predictions that are background everywhere except at ``candidates``: a list of
    (level, row, col, class, probability, centerness), with zero box deltas.
    """
    logits, deltas, centerness = [], [], []
    for stride in STRIDES:
        side = SIZE // stride
        logits.append(torch.full((1, num_classes, side, side), -20.0))
        deltas.append(torch.zeros(1, 4, side, side))
        centerness.append(torch.zeros(1, 1, side, side))
    for level, row, col, cls, prob, ctr in candidates:
        logits[level][0, cls, row, col] = logit(prob)
        centerness[level][0, 0, row, col] = logit(ctr)
    return logits, deltas, centerness


def anchor_box(level, row, col):
    stride = STRIDES[level]
    cx, cy = (col + 0.5) * stride, (row + 0.5) * stride
    half = 4 * stride  # the paper's 8S anchor
    return [cx - half, cy - half, cx + half, cy + half]


def run_inference(candidates, **kwargs):
    model = tiny_atss(**kwargs).eval()
    model.head = FixedHead(fixed_predictions(candidates))
    with torch.no_grad():
        return model([{"image": torch.zeros(3, SIZE, SIZE)}])[0]["instances"]


def test_inference_scores_are_sqrt_of_probability_times_centerness_in_descending_order():
    result = run_inference([(0, 4, 4, 0, 0.9, 0.8), (2, 1, 2, 1, 0.6, 0.5)])
    assert result.scores.tolist() == pytest.approx([math.sqrt(0.72), math.sqrt(0.3)], rel=1e-5)
    assert result.pred_classes.tolist() == [0, 1]


def test_inference_boxes_are_decoded_from_anchors_and_clipped_to_the_image():
    result = run_inference([(0, 4, 4, 0, 0.9, 0.9), (2, 1, 2, 1, 0.6, 0.9)])
    x1, y1, x2, y2 = anchor_box(2, 1, 2)  # 256 px wide: clipped
    expected = torch.tensor(
        [anchor_box(0, 4, 4), [max(x1, 0), max(y1, 0), min(x2, SIZE), min(y2, SIZE)]]
    )
    assert torch.allclose(result.pred_boxes.tensor, expected)


def test_candidates_are_chosen_by_class_probability_not_final_score():
    # Probability 0.2 > 0.05 with centerness 0.005 gives a score of 0.03: still a detection
    # (official post-processor); probability 0.04 with centerness 1 is not a candidate.
    result = run_inference([(0, 2, 2, 0, 0.2, 0.005), (1, 5, 5, 1, 0.04, 0.999)])
    assert result.pred_classes.tolist() == [0]
    assert result.scores.item() == pytest.approx(math.sqrt(0.2 * 0.005), rel=1e-4)


def test_nms_is_class_wise_at_iou_06():
    # Neighbouring 64 px anchors 8 px apart overlap with IoU 56 / 72 = 0.78 > 0.6.
    result = run_inference([(0, 4, 4, 0, 0.9, 0.9), (0, 4, 5, 0, 0.8, 0.9), (0, 4, 5, 1, 0.7, 0.9)])
    assert result.pred_classes.tolist() == [0, 1]
    assert torch.allclose(result.pred_boxes.tensor[0], torch.tensor(anchor_box(0, 4, 4)))


def test_nms_keeps_boxes_overlapping_below_threshold():
    # Anchors 32 px apart on p3 overlap with IoU 32 / 96 = 0.33 < 0.6.
    result = run_inference([(0, 4, 4, 0, 0.9, 0.9), (0, 4, 8, 0, 0.8, 0.9)])
    assert len(result) == 2


def test_detections_per_image_limit():
    candidates = [(0, r, c, 0, 0.9 - 0.01 * (r + c), 0.9) for r in (1, 9) for c in (1, 9, 14)]
    result = run_inference(candidates, inference=InferenceParams(max_detections_per_image=4))
    assert len(result) == 4
    assert (result.scores[:-1] >= result.scores[1:]).all()


def test_candidates_per_level_limit():
    candidates = [(0, r, c, 0, 0.9, 0.9) for r in (1, 9) for c in (1, 9)] + [(1, 1, 1, 1, 0.5, 0.9)]
    result = run_inference(candidates, inference=InferenceParams(topk_candidates=1))
    assert sorted(result.pred_classes.tolist()) == [0, 1]


def test_output_is_rescaled_to_requested_size():
    model = tiny_atss().eval()
    model.head = FixedHead(fixed_predictions([(0, 4, 4, 0, 0.9, 0.9)]))
    with torch.no_grad():
        out = model([{"image": torch.zeros(3, SIZE, SIZE), "height": 2 * SIZE, "width": 2 * SIZE}])
    expected = torch.tensor(anchor_box(0, 4, 4)) * 2
    assert torch.allclose(out[0]["instances"].pred_boxes.tensor[0], expected)


def training_losses(model, batch):
    model.train()
    with EventStorage() as storage:
        losses = model(batch)
    return losses, storage


@pytest.mark.parametrize("assignment", ["atss", "max_iou", "fcos", "center_sampling"])
def test_every_assignment_rule_trains_with_finite_losses(assignment):
    torch.manual_seed(0)
    model = tiny_atss(assignment=AssignmentParams(rule=assignment))
    losses, _ = training_losses(model, [sample([[10, 12, 60, 70], [60, 60, 120, 126]], [0, 1])])
    assert set(losses) == {"loss_cls", "loss_box_reg", "loss_centerness"}
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses["loss_box_reg"] > 0


def test_point_regression_trains_with_finite_losses():
    model = tiny_atss(regression_type="point")
    losses, _ = training_losses(model, [sample([[10, 12, 60, 70]], [1])])
    assert all(torch.isfinite(v) for v in losses.values()) and losses["loss_box_reg"] > 0


def test_image_without_ground_truth_trains_with_zero_box_and_centerness_loss():
    model = tiny_atss()
    losses, _ = training_losses(model, [sample([], [])])
    assert losses["loss_box_reg"].item() == 0 and losses["loss_centerness"].item() == 0
    assert torch.isfinite(losses["loss_cls"]) and losses["loss_cls"] > 0
    sum(losses.values()).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_degenerate_ground_truth_box_gives_no_nan():
    model = tiny_atss()
    losses, _ = training_losses(model, [sample([[40, 40, 40, 80], [10, 10, 50, 50]], [0, 1])])
    assert all(torch.isfinite(v) for v in losses.values())


def test_training_logs_positives_per_image_level_and_ground_truth():
    model = tiny_atss()
    _, storage = training_losses(model, [sample([[10, 12, 60, 70]], [0]), sample([], [])])
    logged = {k: v[0] for k, v in storage.latest().items()}
    per_level = [logged[f"num_pos_anchors/p{i}"] for i in range(3, 8)]
    assert logged["num_pos_anchors"] == pytest.approx(sum(per_level))
    # One GT over two images: its positives are twice the per-image mean.
    assert logged["num_pos_per_gt"] == pytest.approx(2 * logged["num_pos_anchors"])


def test_class_out_of_range_names_the_image_and_class():
    model = tiny_atss(num_classes=2)
    batch = [sample([[10, 12, 60, 70]], [0]), sample([[10, 12, 60, 70]], [5])]
    batch[1]["file_name"] = "bad.jpg"
    with pytest.raises(ValueError, match=r"bad\.jpg has class 5 outside \[0, 2\)"):
        training_losses(model, batch)


def test_negative_class_is_rejected():
    with pytest.raises(ValueError, match="class -1"):
        training_losses(tiny_atss(), [sample([[10, 12, 60, 70]], [-1])])


def test_head_with_other_number_of_levels_than_anchor_generator_is_rejected():
    from detectron2.layers import ShapeSpec

    head = ATSSHead(
        input_shape=[ShapeSpec(channels=CHANNELS)] * 4, num_classes=2, num_anchors=1
    )
    with pytest.raises(ValueError, match="Inconsistent number of feature levels"):
        ATSS(
            backbone=TinyBackbone(),
            head=head,
            anchor_generator=ATSSAnchorGenerator(strides=STRIDES),
            num_classes=2,
            pixel_mean=[0, 0, 0],
            pixel_std=[1, 1, 1],
        )


def test_unknown_assignment_rule_is_rejected():
    with pytest.raises(ValueError, match="Unknown assignment rule 'iou'"):
        tiny_atss(assignment=AssignmentParams(rule="iou"))


def test_tiny_model_overfits_two_images():
    torch.manual_seed(0)
    data = [
        sample([[10, 12, 60, 70], [70, 80, 120, 110]], [0, 1]),
        sample([[30, 20, 100, 100]], [1]),
    ]
    model = tiny_atss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    history = []
    for _ in range(40):
        losses, _ = training_losses(model, data)
        history.append({k: v.item() for k, v in losses.items()})
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()
    # Classification and box losses can reach zero; the centerness BCE cannot (its targets are
    # soft), so it must only decrease.
    first, last = history[0], history[-1]
    cls_and_box = [h["loss_cls"] + h["loss_box_reg"] for h in (first, last)]
    assert cls_and_box[1] < cls_and_box[0] / 10
    assert last["loss_centerness"] < first["loss_centerness"]

    model.eval()
    with torch.no_grad():
        outputs = model([{"image": d["image"]} for d in data])
    for inputs, out in zip(data, outputs):
        gt, pred = inputs["instances"], out["instances"]
        for box, cls in zip(gt.gt_boxes, gt.gt_classes):
            same_class = pred[pred.pred_classes == cls]
            best = pairwise_iou(Boxes(box[None]), same_class.pred_boxes).max()
            assert best > 0.7


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())


def test_r50_parameter_count_matches_detectron2_fcos():
    ours = instantiate(LazyConfig.load(str(CONFIGS / "ATSS/atss_R_50_FPN_1x.py")).model)
    fcos = instantiate(get_config("common/models/fcos.py").model)
    # Same backbone and head shape with A = 1; ATSS adds one scalar per level.
    assert count_parameters(ours) == pytest.approx(count_parameters(fcos), rel=0.02)
