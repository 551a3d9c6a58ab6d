"""
The AutoAssign meta-architecture: the authors' R-50 architecture and parameter count, the YAML and
LazyConfig routes build the same model, points and the initial box decode, training on an empty
image / a tiny box / a crowded image with finite losses (tiny boxes counted in the event storage),
and the authors' inference filter (p_cls * p_obj).
"""
import math
from pathlib import Path
import pytest
import torch

pytestmark = pytest.mark.detectron2
pytest.importorskip("detectron2", reason="detectron2 not installed")

from detectron2.config import LazyConfig, get_cfg, instantiate  # noqa: E402
from detectron2.layers import ShapeSpec  # noqa: E402
from detectron2.modeling import build_model  # noqa: E402
from detectron2.structures import Boxes, ImageList, Instances  # noqa: E402
from detectron2.utils.events import EventStorage  # noqa: E402

from atss import AutoAssign, AutoAssignHead, add_atss_config  # noqa: E402
from tiny_model import CHANNELS, STRIDES, TinyBackbone  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def tiny_autoassign(num_classes: int = 3) -> AutoAssign:
    torch.manual_seed(0)
    return AutoAssign(
        backbone=TinyBackbone(),
        head=AutoAssignHead(
            input_shape=[ShapeSpec(channels=CHANNELS, stride=s) for s in STRIDES],
            num_classes=num_classes,
        ),
        num_classes=num_classes,
        head_in_features=["p3", "p4", "p5", "p6", "p7"],
        pixel_mean=[128.0, 128.0, 128.0],
        pixel_std=[64.0, 64.0, 64.0],
    )


def image_with(boxes, classes, size=(128, 160)):
    instances = Instances(size)
    instances.gt_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).view(-1, 4))
    instances.gt_classes = torch.tensor(classes, dtype=torch.long)
    generator = torch.Generator().manual_seed(len(classes))
    return {"image": torch.rand(3, *size, generator=generator) * 255, "instances": instances}


def train_step(model, batch):
    model.train()
    with EventStorage() as storage:
        losses = model(batch)
        model.zero_grad()
        sum(losses.values()).backward()
    return losses, storage


@pytest.fixture(scope="module")
def r50_models():
    lazy = instantiate(LazyConfig.load(str(CONFIGS / "AutoAssign/autoassign_R_50_FPN_1x.py")).model)
    cfg = get_cfg()
    add_atss_config(cfg)
    cfg.merge_from_file(str(CONFIGS / "AutoAssign/autoassign_R_50_FPN_1x.yaml"))
    cfg.MODEL.DEVICE = "cpu"
    return lazy, build_model(cfg)


def reference_num_parameters(num_classes: int = 80) -> int:
    """
    The authors' AutoAssign R-50 (cvpods) counted from its description: the ResNet-50 trunk's
    convolutions (FrozenBN holds buffers, no parameters; counted on torchvision's ResNet-50, an
    independent implementation), FPN with biased 1x1 laterals and 3x3 outputs on C3-C5, P6 a
    3x3 conv on C5 (2048 channels), P7 a 3x3 conv on P6, the head (two towers of four
    conv3x3-GN(32) layers, 3x3 predictors for K classes, 4 distances and 1 objectness, five
    scalars) and the center prior (K x 2 means and K x 2 stds).
    """
    torchvision = pytest.importorskip("torchvision")
    resnet = torchvision.models.resnet50(weights=None)
    trunk = sum(
        m.weight.numel() for m in resnet.modules() if isinstance(m, torch.nn.Conv2d)
    )

    def conv(c_in, c_out, k):
        return c_in * c_out * k * k + c_out

    fpn = sum(conv(c, 256, 1) + conv(256, 256, 3) for c in (512, 1024, 2048))
    fpn += conv(2048, 256, 3) + conv(256, 256, 3)
    head = 8 * (conv(256, 256, 3) + 2 * 256)
    head += conv(256, num_classes, 3) + conv(256, 4, 3) + conv(256, 1, 3) + 5
    return trunk + fpn + head + 2 * num_classes * 2


def num_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_r50_parameter_count_matches_the_authors_architecture(r50_models):
    lazy, _ = r50_models
    assert num_parameters(lazy) == reference_num_parameters()


def test_yaml_and_lazyconfig_build_the_same_model(r50_models):
    lazy, yaml = r50_models
    lazy_shapes = {k: tuple(v.shape) for k, v in lazy.state_dict().items()}
    yaml_shapes = {k: tuple(v.shape) for k, v in yaml.state_dict().items()}
    assert lazy_shapes == yaml_shapes
    for name in ("loss_params", "strides", "num_classes", "inference"):
        assert getattr(lazy, name) == getattr(yaml, name), name
    assert torch.equal(lazy.pixel_mean, yaml.pixel_mean)
    assert lazy.backbone.bottom_up.stem.conv1.weight.requires_grad is False
    assert yaml.backbone.bottom_up.stem.conv1.weight.requires_grad is False


def test_p6_is_computed_from_c5_as_in_the_authors_release(r50_models):
    lazy, yaml = r50_models
    for model in (lazy, yaml):
        assert model.backbone.top_block.in_feature == "res5"
        assert model.backbone.top_block.p6.in_channels == 2048


def test_points_are_at_multiples_of_the_stride_on_every_level():
    model = tiny_autoassign()
    features = [torch.zeros(1, CHANNELS, math.ceil(100 / s), math.ceil(130 / s)) for s in STRIDES]
    anchors = model.anchor_generator(features)
    for boxes, stride, feature in zip(anchors, STRIDES, features):
        centers = boxes.get_centers()
        assert len(centers) == feature.shape[2] * feature.shape[3]
        assert centers[0].tolist() == [0.0, 0.0]
        assert torch.equal(centers % stride, torch.zeros_like(centers))


def test_an_initial_p3_prediction_is_a_box_of_four_strides_a_side():
    model = tiny_autoassign()
    features = model.backbone(torch.zeros(1, 3, 128, 128))
    _, deltas, _ = model.head([features[f] for f in model.head_in_features])
    assert deltas[0].mean().item() == pytest.approx(4.0, abs=0.1)  # ReLU(4) strides


def test_empty_tiny_and_crowded_images_train_with_finite_losses():
    model = tiny_autoassign()
    crowded_xy = torch.arange(20.0).repeat_interleave(2).view(-1, 2) * 5
    crowded = torch.cat([crowded_xy, crowded_xy + 40], dim=1).tolist()
    batch = [
        image_with([], []),
        image_with([[50.0, 50.0, 53.0, 54.0]], [1]),  # no point strictly inside
        image_with(crowded, [i % 3 for i in range(20)]),
    ]
    losses, storage = train_step(model, batch)
    assert set(losses) == {"loss_pos", "loss_neg", "loss_norm"}
    for name, value in losses.items():
        assert torch.isfinite(value), name
    for name, p in model.named_parameters():
        assert p.grad is None or torch.isfinite(p.grad).all(), name
    assert model.prior_mean.grad.abs().sum() > 0 and model.prior_std.grad.abs().sum() > 0
    assert storage.latest()["autoassign/num_gt_without_location"][0] == 1


def test_an_empty_batch_trains_the_negatives():
    model = tiny_autoassign()
    losses, _ = train_step(model, [image_with([], []), image_with([], [])])
    assert losses["loss_pos"].item() == 0 and losses["loss_norm"].item() == 0
    assert losses["loss_neg"].item() > 0
    assert model.head.cls_score.weight.grad.abs().sum() > 0


def test_a_class_outside_the_model_is_a_clear_error():
    model = tiny_autoassign(num_classes=3)
    with pytest.raises(ValueError, match="class 5 outside"):
        train_step(model, [image_with([[10.0, 10.0, 60.0, 60.0]], [5])])


def test_inference_ranks_by_class_times_objectness_probability():
    model = tiny_autoassign(num_classes=1).eval()
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    # Three P3 locations; (p_cls, p_obj) = (0.5, 0.2) is kept as 0.10, (0.06, 0.5) and
    # (0.04, 1.0) fall under 0.05.
    p_cls = torch.tensor([0.5, 0.06, 0.04])
    p_obj = torch.tensor([0.2, 0.5, 1.0 - 1e-6])
    sizes = [(1, 3)] + [(1, 1)] * 4
    logits, deltas, objectness = [], [], []
    for level, (h, w) in enumerate(sizes):
        cls = torch.full((1, 1, h, w), -20.0)
        obj = torch.full((1, 1, h, w), -20.0)
        if level == 0:
            cls[0, 0, 0] = p_cls.logit()
            obj[0, 0, 0] = torch.tensor([logit(p) for p in p_obj.tolist()])
        logits.append(cls)
        objectness.append(obj)
        deltas.append(torch.ones(1, 4, h, w))
    features = [torch.zeros(1, CHANNELS, h, w) for h, w in sizes]
    images = ImageList(torch.zeros(1, 3, 8, 24), [(8, 24)])
    (result,) = model.forward_inference(images, features, [logits, deltas, objectness])
    assert result.scores.tolist() == pytest.approx([0.1])
    # One stride (8 px) each side of the point (0, 0).
    assert result.pred_boxes.tensor.tolist() == [[-8.0, -8.0, 8.0, 8.0]]
