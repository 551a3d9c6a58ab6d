"""ATSS with AP-Loss as classification loss (``cls_loss="ap"``): training, options, configs."""
import math
from pathlib import Path
import pytest
import torch
from omegaconf import OmegaConf

pytestmark = pytest.mark.detectron2
pytest.importorskip("detectron2", reason="detectron2 not installed")

from detectron2.config import LazyConfig
from detectron2.utils.events import EventStorage

from atss.losses import ATSSLossParams, ap_loss
from atss.modeling import AssignmentParams
from tiny_model import sample, tiny_atss

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
RETINANET_A9 = {"anchor_scale": 4.0, "scales_per_octave": 3, "aspect_ratios": [0.5, 1.0, 2.0]}
BATCH = [sample([[10, 12, 60, 70], [60, 60, 120, 126]], [0, 1]), sample([[30, 20, 90, 50]], [1])]


def train_steps(model, batch, steps=3):
    """A few SGD steps; returns the losses of each step."""
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    history = []
    with EventStorage():
        for _ in range(steps):
            losses = model(batch)
            optimizer.zero_grad()
            sum(losses.values()).backward()
            optimizer.step()
            history.append({k: v.item() for k, v in losses.items()})
    return history


@pytest.mark.parametrize("assignment", ["atss", "max_iou"])
def test_detector_trains_with_finite_losses_under_ap_loss(assignment):
    torch.manual_seed(0)
    kwargs = {"num_anchors_cfg": RETINANET_A9} if assignment == "max_iou" else {}
    model = tiny_atss(
        loss=ATSSLossParams(cls_loss="ap"), assignment=AssignmentParams(rule=assignment), **kwargs
    )
    history = train_steps(model, BATCH)
    for losses in history:
        assert set(losses) == {"loss_cls", "loss_box_reg", "loss_centerness"}
        assert all(math.isfinite(v) for v in losses.values())
        assert 0 < losses["loss_cls"] <= 1
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_classification_loss_is_one_ap_loss_over_the_whole_batch():
    torch.manual_seed(0)
    model = tiny_atss(loss=ATSSLossParams(cls_loss="ap"))
    model.train()
    captured = {}

    def capture(anchors, pred_logits, gt_labels, *rest):
        captured["logits"], captured["labels"] = torch.cat(pred_logits, dim=1), gt_labels
        return original(anchors, pred_logits, gt_labels, *rest)

    original, model.losses = model.losses, capture
    with EventStorage():
        losses = model(BATCH)
    # One ranking over the items of both images (official minibatch ranking).
    expected = ap_loss(captured["logits"].detach(), captured["labels"])
    assert losses["loss_cls"].item() == pytest.approx(expected.item())
    assert captured["labels"].shape[0] == 2


def test_image_without_ground_truth_gives_zero_ap_loss():
    model = tiny_atss(loss=ATSSLossParams(cls_loss="ap"))
    model.train()
    with EventStorage():
        losses = model([sample([], [])])
    assert losses["loss_cls"].item() == 0
    sum(losses.values()).backward()


def test_focal_loss_is_the_default():
    assert tiny_atss().loss.cls_loss == "focal"


def test_unknown_classification_loss_is_rejected():
    with pytest.raises(ValueError, match="cls_loss must be one of"):
        ATSSLossParams(cls_loss="softmax")


def test_yaml_keys_reach_the_model():
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model

    import atss

    cfg = get_cfg()
    atss.add_atss_config(cfg)
    assert cfg.MODEL.ATSS.CLS_LOSS == "focal" and cfg.MODEL.ATSS.AP_LOSS_DELTA == 1.0
    cfg.merge_from_file(str(CONFIGS / "ATSS" / "atss_R_50_FPN_1x.yaml"))
    cfg.merge_from_list(
        ["MODEL.DEVICE", "cpu", "MODEL.ATSS.CLS_LOSS", "ap", "MODEL.ATSS.AP_LOSS_DELTA", "0.5"]
    )
    model = build_model(cfg)
    assert model.loss.cls_loss == "ap" and model.loss.ap_loss_delta == 0.5


def test_shapes_config_differs_from_the_focal_one_only_by_the_loss_and_its_score_threshold():
    focal = LazyConfig.load(str(CONFIGS / "Shapes" / "atss_R_18_FPN_shapes.py"))
    ap = LazyConfig.load(str(CONFIGS / "Shapes" / "atss_aploss_R_18_FPN_shapes.py"))
    assert ap.model.loss.cls_loss == "ap"
    # The official AP-Loss inference threshold: its ranking scores are not calibrated.
    assert ap.model.inference.score_thresh == 0.01
    del ap.model.loss.cls_loss, ap.model.loss.ap_loss_delta, ap.model.inference.score_thresh
    del focal.model.loss.cls_loss, focal.model.inference.score_thresh
    assert OmegaConf.to_container(ap.model) == OmegaConf.to_container(focal.model)
    assert ap.train.max_iter == focal.train.max_iter
    assert OmegaConf.to_container(ap.optimizer) == OmegaConf.to_container(focal.optimizer)


def test_official_setting_config_is_retinanet_with_ap_loss():
    cfg = LazyConfig.load(str(CONFIGS / "APLoss" / "aploss_retinanet_R_50_FPN_1x.py"))
    model = cfg.model
    assert model.loss.cls_loss == "ap" and model.loss.ap_loss_delta == 1.0
    rule = model.assignment
    assert rule.rule == "max_iou" and tuple(rule.iou_thresholds) == (0.4, 0.5)
    assert rule.allow_low_quality_matches and not rule.require_center_in_gt
    assert model.head.num_anchors == 9 and model.anchor_generator.scales_per_octave == 3
    assert model.loss.box_loss == "smooth_l1" and model.loss.smooth_l1_beta == 1.0
    assert cfg.optimizer.lr == 0.001


def test_official_setting_builds_a_plain_retinanet_head_and_trains_with_finite_losses():
    from detectron2.config import instantiate

    cfg = LazyConfig.load(str(CONFIGS / "APLoss" / "aploss_retinanet_R_50_FPN_1x.py"))
    model = instantiate(cfg.model)
    # RetinaNet's head: no normalisation, no centerness branch, no per-level scalar.
    assert model.head.centerness is None and model.head.scales is None
    assert not any(isinstance(m, torch.nn.GroupNorm) for m in model.head.modules())
    losses = train_steps(model, BATCH, steps=1)[0]
    assert set(losses) == {"loss_cls", "loss_box_reg"}
    assert all(math.isfinite(v) for v in losses.values())
