"""
The ablation configs (``configs/Ablations``) and the official R-101 1x configs: each builds and
detects on a CPU without downloading anything, and each column of Table 1 differs from the one
before it by exactly the improvement it adds.
"""
import functools
from pathlib import Path
import pytest
import torch

pytestmark = pytest.mark.detectron2
pytest.importorskip("detectron2", reason="detectron2 not installed")

from omegaconf import OmegaConf

from detectron2.config import LazyConfig, get_cfg, instantiate
from detectron2.modeling import build_model

import atss

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
ABLATIONS = sorted(p.stem for p in (CONFIGS / "Ablations").glob("*.py"))
NEW_OFFICIAL = ["atss_R_101_FPN_1x", "atss_dcnv2_R_101_FPN_1x"]

# Table 1, RetinaNet (#A=1) columns in the paper's order: the config, the keys of ``model`` that
# its improvement sets, and the paper's AP.
TABLE_1 = [
    ("retinanet_A1_R_50_FPN_1x", None, 32.5),
    ("retinanet_A1_gn_R_50_FPN_1x", {"head.norm"}, 33.4),
    ("retinanet_A1_gn_giou_R_50_FPN_1x", {"loss.box_loss", "loss.reg_loss_weight"}, 34.9),
    ("retinanet_A1_gn_giou_ingt_R_50_FPN_1x", {"assignment.require_center_in_gt"}, 35.3),
    ("retinanet_A1_gn_giou_ingt_ctr_R_50_FPN_1x", {"use_centerness"}, 36.8),
    ("retinanet_iou_box_R_50_FPN_1x", {"head.use_scale"}, 37.0),
]
ANCHOR_KEYS = {
    "anchor_generator.anchor_scale",
    "anchor_generator.scales_per_octave",
    "anchor_generator.aspect_ratios",
    "head.num_anchors",
}


@functools.lru_cache(maxsize=None)
def load(name: str):
    folder = "Ablations" if name in ABLATIONS else "ATSS"
    return LazyConfig.load(str(CONFIGS / folder / f"{name}.py"))


def flat_model(name: str) -> dict:
    """The model config as {dotted key: value}, interpolations unresolved."""
    out = {}

    def walk(node, prefix):
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}{key}.")
        else:
            out[prefix[:-1]] = node

    walk(OmegaConf.to_container(load(name).model, resolve=False), "")
    return out


def changed_keys(a: str, b: str) -> set:
    fa, fb = flat_model(a), flat_model(b)
    return {k for k in fa.keys() | fb.keys() if fa.get(k, "<unset>") != fb.get(k, "<unset>")}


@pytest.mark.parametrize("name", ABLATIONS + NEW_OFFICIAL)
def test_config_builds_and_detects_on_cpu(name):
    cfg = load(name)
    model = instantiate(cfg.model).eval()
    cfg.optimizer.params.model = model
    instantiate(cfg.optimizer)
    with torch.no_grad():
        (output,) = model([{"image": torch.zeros(3, 64, 96), "height": 64, "width": 96}])
    assert output["instances"].image_size == (64, 96)


def test_every_table_1_column_has_a_config():
    assert {name for name, _, _ in TABLE_1} <= set(ABLATIONS)


@pytest.mark.parametrize("index", range(1, len(TABLE_1)))
def test_each_table_1_column_adds_exactly_its_improvement(index):
    (previous, _, _), (name, improvement, _) = TABLE_1[index - 1], TABLE_1[index]
    assert changed_keys(previous, name) == improvement


def test_first_table_1_column_has_none_of_the_improvements():
    model = instantiate(load(TABLE_1[0][0]).model)
    head = model.head
    assert not any(isinstance(m, torch.nn.GroupNorm) for m in head.modules())
    assert head.centerness is None and head.scales is None and not model.use_centerness
    loss = model.loss
    assert (loss.box_loss, loss.smooth_l1_beta, loss.reg_loss_weight) == ("smooth_l1", 0.11, 1)
    assert (model.assignment.rule, model.assignment.require_center_in_gt) == ("max_iou", False)
    assert model.anchor_generator.num_cell_anchors == [1] * 5


def test_last_table_1_column_is_the_full_head_with_the_iou_rule():
    rule = {
        "assignment.rule",
        "assignment.iou_thresholds",
        "assignment.allow_low_quality_matches",
        "assignment.require_center_in_gt",
    }
    assert changed_keys(TABLE_1[-1][0], "atss_R_50_FPN_1x") == rule


def test_table_7_plain_retinanet_a9_is_table_1s_first_column_with_nine_anchors():
    assert changed_keys("retinanet_A1_R_50_FPN_1x", "retinanet_A9_R_50_FPN_1x") == ANCHOR_KEYS
    improvements = set().union(*(keys for _, keys, _ in TABLE_1[1:]))
    assert changed_keys("retinanet_A9_R_50_FPN_1x", "retinanet_A9_iou_R_50_FPN_1x") == improvements
    model = instantiate(load("retinanet_A9_R_50_FPN_1x").model)
    assert model.anchor_generator.num_cell_anchors == [9] * 5


def build_yaml(*opts: str) -> torch.nn.Module:
    cfg = get_cfg()
    atss.add_atss_config(cfg)
    cfg.merge_from_file(str(CONFIGS / "ATSS" / "atss_R_50_FPN_1x.yaml"))
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", *opts])
    return build_model(cfg)


def test_yaml_keys_build_table_1s_first_column():
    yaml_model = build_yaml(
        *("MODEL.ATSS.NORM", "", "MODEL.ATSS.BOX_LOSS", "smooth_l1"),
        *("MODEL.ATSS.SMOOTH_L1_BETA", "0.11", "MODEL.ATSS.REG_LOSS_WEIGHT", "1.0"),
        *("MODEL.ATSS.USE_CENTERNESS", "False", "MODEL.ATSS.USE_SCALE", "False"),
        *("MODEL.ATSS.ASSIGNMENT", "max_iou"),
    )
    lazy_model = instantiate(load(TABLE_1[0][0]).model)
    assert {k: v.shape for k, v in yaml_model.state_dict().items()} == {
        k: v.shape for k, v in lazy_model.state_dict().items()
    }
    for attr in ("loss", "use_centerness", "assignment", "inference"):
        assert getattr(yaml_model, attr) == getattr(lazy_model, attr), attr


def test_yaml_defaults_are_the_official_head_and_loss():
    model = build_yaml()
    assert (model.loss.box_loss, model.use_centerness) == ("giou", True)
    assert model.head.centerness is not None and model.head.scales is not None


@pytest.mark.parametrize("name", NEW_OFFICIAL)
def test_r101_1x_configs_follow_the_official_ones(name):
    cfg = load(name)
    assert cfg.train.max_iter == 90000
    assert cfg.train.init_checkpoint == "detectron2://ImageNetPretrained/MSRA/R-101.pkl"
    assert cfg.dataloader.train.mapper.augmentations[0].short_edge_length == 800
    model = instantiate(cfg.model)
    trunk = model.backbone.bottom_up
    assert len(trunk.res4) == 23
    deformable = {
        stage
        for stage in ("res2", "res3", "res4", "res5")
        if any(type(b.conv2).__name__ == "ModulatedDeformConv2d" for b in getattr(trunk, stage))
    }
    assert deformable == ({"res3", "res4", "res5"} if "dcnv2" in name else set())
    assert model.head.cls_subnet[-3].__class__.__name__ == (
        "ModulatedDeformConv2d" if "dcnv2" in name else "Conv2d"
    )


def test_x101_32x8d_starts_from_the_official_detectron_weights_with_unit_std():
    from detectron2.checkpoint.catalog import ModelCatalog

    cfg = load("atss_X_101_32x8d_FPN_2x")
    prefix = "catalog://"
    assert cfg.train.init_checkpoint.startswith(prefix)
    url = ModelCatalog.get(cfg.train.init_checkpoint[len(prefix) :])
    assert url.endswith("/detectron/ImageNetPretrained/20171220/X-101-32x8d.pkl")
    assert list(cfg.model.pixel_std) == [1.0, 1.0, 1.0]
    assert cfg.model.input_format == "BGR"
