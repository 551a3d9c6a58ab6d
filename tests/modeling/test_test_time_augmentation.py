"""
``atss.ATSSWithTTA`` and ``atss.ATSSDatasetMapperTTA``: the passes of the official multi-scale
test, un-flipping and rescaling to the original image, the per-scale size ranges, the merges,
and the configs that turn it on.
"""
from pathlib import Path
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

pytestmark = pytest.mark.detectron2
pytest.importorskip("detectron2", reason="detectron2 not installed")

from detectron2.config import LazyConfig, get_cfg
from detectron2.structures import Boxes, Instances

import atss
from atss import ATSSDatasetMapperTTA, ATSSWithTTA
from atss.modeling import InferenceParams
from tiny_model import tiny_atss

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


class FakeATSS(nn.Module):
    """
    Stands for a trained ATSS. Without ``boxes``, it "detects" the bright rectangle of its input
    image (class 1, score 0.9), in that image's continuous frame; with ``boxes``, it returns
    them (class 0) whatever the image. It records each call's image sizes and NMS threshold.
    """

    def __init__(self, boxes=None, scores=None):
        super().__init__()
        self.boxes, self.scores = boxes, scores
        self.inference = InferenceParams()
        self.input_format = "BGR"
        self.calls = []

    def forward(self, batched_inputs):
        outputs = []
        for x in batched_inputs:
            assert "height" not in x and "width" not in x, "passes are read in their own frame"
            image = x["image"]
            self.calls.append((tuple(image.shape[1:]), self.inference.nms_thresh))
            result = Instances(tuple(image.shape[1:]))
            if self.boxes is None:
                ys, xs = torch.nonzero(image[0] > 127, as_tuple=True)
                box = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
                result.pred_boxes = Boxes(torch.stack(box).float()[None])
                result.scores = torch.tensor([0.9])
                result.pred_classes = torch.tensor([1])
            else:
                result.pred_boxes = Boxes(self.boxes.clone())
                result.scores = self.scores.clone()
                result.pred_classes = torch.zeros(len(self.boxes), dtype=torch.long)
            outputs.append({"instances": result})
        return outputs


def image_with_rectangle(height, width, box):
    image = torch.zeros(3, height, width, dtype=torch.uint8)
    x0, y0, x1, y1 = box
    image[:, y0:y1, x0:x1] = 255
    return image


def mapper(min_sizes, flip=True, max_size=1000, size_ranges=None):
    return ATSSDatasetMapperTTA(
        min_sizes=min_sizes,
        max_sizes=[max_size] * len(min_sizes),
        flip=flip,
        size_ranges=size_ranges,
    )


# An off-centre rectangle, so that a pass not un-flipped would land elsewhere.
ORIGINAL_BOX = (10, 20, 50, 40)
HEIGHT, WIDTH = 60, 100


def test_every_pass_is_unflipped_and_rescaled_to_the_original_image():
    model = FakeATSS()
    tta = ATSSWithTTA(model, mapper([60, 120, 30]), merge="nms")
    tta_inputs = {"image": image_with_rectangle(HEIGHT, WIDTH, ORIGINAL_BOX)}
    # Each pass seen alone: the union before the merge.
    augmented = tta.tta_mapper(tta._maybe_read_image(tta_inputs))
    outputs = tta._batch_inference(augmented)
    boxes, _, _ = tta._get_augmented_boxes(augmented, outputs)

    sizes = [(60, 100), (120, 200), (30, 50)]
    assert [shape for shape, _ in model.calls] == [size for size in sizes for _ in range(2)]
    assert torch.allclose(boxes, torch.tensor([ORIGINAL_BOX] * 6).float(), atol=1.0)
    # Not one of them is the mirror image (x -> 100 - x).
    assert (boxes[:, 0] < 20).all()


def test_detections_come_in_the_frame_of_the_dataset_image_when_the_input_was_resized():
    # The test loader gave a copy at half size; "height"/"width" are the dataset image's.
    half = image_with_rectangle(HEIGHT // 2, WIDTH // 2, [v // 2 for v in ORIGINAL_BOX])
    tta = ATSSWithTTA(FakeATSS(), mapper([30, 90]), merge="soft_vote")
    (output,) = tta([{"image": half, "height": HEIGHT, "width": WIDTH}])
    instances = output["instances"]
    assert instances.image_size == (HEIGHT, WIDTH)
    assert torch.allclose(
        instances.pred_boxes.tensor, torch.tensor([ORIGINAL_BOX]).float(), atol=1.0
    )
    assert instances.scores.tolist() == pytest.approx([0.9])
    assert instances.pred_classes.tolist() == [1]


def test_size_ranges_keep_detections_strictly_inside_in_the_resized_image():
    # Square boxes of side 32, 32.5, 63.5 and 64 in the pass's image (no resize at size 0).
    sides = torch.tensor([32.0, 32.5, 63.5, 64.0])
    boxes = torch.stack([torch.zeros(4), torch.zeros(4), sides, sides], dim=1)
    model = FakeATSS(boxes, torch.tensor([0.9, 0.8, 0.7, 0.6]))
    tta = ATSSWithTTA(model, mapper([0], flip=False, size_ranges=[[32, 64]]), merge="nms")
    (output,) = tta([{"image": torch.zeros(3, 80, 80, dtype=torch.uint8)}])
    assert output["instances"].pred_boxes.tensor[:, 2].tolist() == [32.5, 63.5]


def test_size_ranges_are_measured_in_the_resized_image_not_the_original():
    # A side of 40 in a pass at twice the size is 20 in the original image: kept by (30, 50).
    boxes = torch.tensor([[0.0, 0.0, 40.0, 40.0]])
    model = FakeATSS(boxes, torch.tensor([0.9]))
    tta = ATSSWithTTA(model, mapper([160], flip=False, size_ranges=[[30, 50]]), merge="nms")
    (output,) = tta([{"image": torch.zeros(3, 80, 80, dtype=torch.uint8)}])
    assert output["instances"].pred_boxes.tensor.tolist() == [[0.0, 0.0, 20.0, 20.0]]


def test_nms_merge_reads_every_candidate_of_each_pass_and_restores_the_model():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 11.0]])
    model = FakeATSS(boxes, torch.tensor([0.9, 0.8]))
    tta = ATSSWithTTA(model, mapper([0]), merge="nms")
    (output,) = tta([{"image": torch.zeros(3, 40, 40, dtype=torch.uint8)}])
    assert {nms for _, nms in model.calls} == {1.0}
    assert (model.inference.nms_thresh, model.inference.max_detections_per_image) == (0.6, 100)
    # The union (4 boxes, two flipped) goes through the model's class-wise NMS at 0.6.
    assert len(output["instances"]) == 2


def test_soft_vote_merge_votes_the_final_detections_of_each_pass():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    model = FakeATSS(boxes, torch.tensor([0.9]))
    tta = ATSSWithTTA(model, mapper([0, 44], flip=False), merge="soft_vote")
    (output,) = tta([{"image": torch.zeros(3, 40, 40, dtype=torch.uint8)}])
    assert {nms for _, nms in model.calls} == {0.6}
    # At size 44 the box is 10 / 1.1 in the original: IoU 1 / 1.21 = 0.826 >= 0.66, so the two
    # vote (equal scores: the plain mean), and the smaller one's soft copy scores 0.9 * 0.174.
    small = 10 / 1.1
    instances = output["instances"]
    assert torch.allclose(
        instances.pred_boxes.tensor,
        torch.tensor([[0, 0, (10 + small) / 2, (10 + small) / 2], [0, 0, small, small]]),
    )
    assert torch.allclose(instances.scores, torch.tensor([0.9, 0.9 * (1 - 1 / 1.21)]))


def test_passes_follow_the_scales_each_then_its_flip_size_0_keeping_the_image():
    tta_mapper = ATSSDatasetMapperTTA(
        min_sizes=[0, 80], max_sizes=[1000, 100], flip=True, size_ranges=[[0, 10], [5, 20]]
    )
    image = torch.zeros(3, 40, 60, dtype=torch.uint8)
    passes = tta_mapper({"image": image, "height": 40, "width": 60})
    assert [tuple(p["image"].shape[1:]) for p in passes] == [(40, 60)] * 2 + [(67, 100)] * 2
    assert [p["size_range"] for p in passes] == [(0, 10), (0, 10), (5, 20), (5, 20)]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(min_sizes=[400, 500], max_sizes=[1333]), "max_sizes"),
        (dict(min_sizes=[400], max_sizes=[1333], size_ranges=[[0, 1], [0, 2]]), "size_ranges"),
        (dict(min_sizes=[400], max_sizes=[1333], size_ranges=[[64, 32]]), "lo < hi"),
    ],
)
def test_inconsistent_augmentation_settings_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ATSSDatasetMapperTTA(flip=True, **kwargs)


def test_unknown_merge_is_rejected():
    with pytest.raises(ValueError, match="merge"):
        ATSSWithTTA(FakeATSS(), mapper([0]), merge="vote")


def test_wraps_a_real_atss_and_returns_instances_at_the_original_size():
    model = tiny_atss(num_classes=3).eval()
    tta = ATSSWithTTA(model, mapper([64, 96]), merge="soft_vote")
    image = torch.randint(0, 255, (3, 48, 72), dtype=torch.uint8)
    with torch.no_grad():
        (output,) = tta([{"image": image, "height": 96, "width": 144}])
    instances = output["instances"]
    assert instances.image_size == (96, 144)
    assert instances.has("pred_boxes") and instances.has("scores") and instances.has("pred_classes")
    assert model.inference.nms_thresh == 0.6


def test_yaml_keys_build_the_wrapper():
    cfg = get_cfg()
    atss.add_atss_config(cfg)
    cfg.TEST.AUG.MIN_SIZES = [800, 400]
    cfg.TEST.AUG.SIZE_RANGES = [[0, 100000], [96, 10000]]
    cfg.TEST.AUG.MERGE = "nms"
    tta = ATSSWithTTA(cfg, FakeATSS())
    assert tta.merge == "nms" and tta.vote_iou == 0.66
    # Without TEST.AUG.MAX_SIZES, detectron2's TEST.AUG.MAX_SIZE caps every scale.
    assert tta.tta_mapper.max_sizes == [cfg.TEST.AUG.MAX_SIZE] * 2
    assert tta.tta_mapper.size_ranges == [(0, 100000), (96, 10000)]


@pytest.mark.parametrize("backbone", ["X_101_64x4d", "X_101_32x8d"])
def test_official_tta_configs_have_the_official_passes(backbone):
    cfg = LazyConfig.load(str(CONFIGS / "ATSS" / f"atss_dcnv2_{backbone}_FPN_2x_tta.py"))
    aug = cfg.test.aug
    assert aug.enabled and aug.flip and aug.merge == "soft_vote" and aug.vote_iou == 0.66
    scales = [400, 500, 600, 640, 700, 900, 1000, 1100, 1200, 1300, 1400, 1800]
    assert list(aug.min_sizes) == [800] + scales
    assert list(aug.max_sizes) == [1333] * 6 + [3000] * 7
    assert [list(r) for r in aug.size_ranges[1:]] == [
        [96, 10000], [96, 10000], [64, 10000], [64, 10000], [64, 10000], [0, 10000],
        [0, 10000], [0, 256], [0, 256], [0, 192], [0, 192], [0, 96],
    ]
    # The same model as the config without TTA.
    plain = LazyConfig.load(str(CONFIGS / "ATSS" / f"atss_dcnv2_{backbone}_FPN_2x.py"))
    assert OmegaConf.to_container(cfg.model) == OmegaConf.to_container(plain.model)
