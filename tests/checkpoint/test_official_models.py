"""
The official models in detectron2: every ``configs/Official`` file builds the architecture of its
``configs/ATSS`` twin with the official test-time settings, and a checkpoint laid out as the
authors' converts with ``tools/convert_official_checkpoint.py`` into one that
``DetectionCheckpointer`` loads with no missing or unexpected keys; the converter refuses a
checkpoint it does not understand without writing anything.
"""
import functools
import importlib.util
from pathlib import Path
import pytest
import torch

pytestmark = pytest.mark.detectron2
pytest.importorskip("detectron2", reason="detectron2 not installed")

from omegaconf import OmegaConf  # noqa: E402

from detectron2.checkpoint import DetectionCheckpointer  # noqa: E402
from detectron2.config import LazyConfig, instantiate  # noqa: E402

from official_layout import official_state_dict  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OFFICIAL = sorted((ROOT / "configs" / "Official").glob("*.py"))


def _load_tool():
    spec = importlib.util.spec_from_file_location(
        "convert_official_checkpoint", ROOT / "tools" / "convert_official_checkpoint.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _load_tool()


@functools.lru_cache(maxsize=None)
def state_dict_shapes(config: Path):
    model = instantiate(LazyConfig.load(str(config)).model)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}, model


def test_there_is_one_config_per_official_model():
    assert [p.stem for p in OFFICIAL] == sorted(
        f"atss_{dcn}{trunk}_FPN_{schedule}"
        for dcn in ("", "dcnv2_")
        for trunk, schedule in [
            ("R_50", "1x"),
            ("R_101", "2x"),
            ("X_101_32x8d", "2x"),
            ("X_101_64x4d", "2x"),
        ]
    )


@pytest.mark.parametrize(
    "config",
    # The ResNeXt-101 models take most of the time to build: slow tier.
    [pytest.param(p, marks=pytest.mark.slow) if "_X_101_" in p.stem else p for p in OFFICIAL],
    ids=lambda p: p.stem,
)
def test_official_config_has_its_twins_architecture_and_the_official_test_settings(config):
    cfg = LazyConfig.load(str(config))
    twin = LazyConfig.load(str(ROOT / "configs" / "ATSS" / config.name))
    official_settings = {"pixel_mean", "pixel_std", "input_format"}

    def architecture(c):
        model = OmegaConf.to_container(c.model)
        model["anchor_generator"].pop("center_shift", None)
        return {k: v for k, v in model.items() if k not in official_settings}

    assert architecture(cfg) == architecture(twin)
    _, model = state_dict_shapes(config)
    assert model.pixel_mean.flatten().tolist() == pytest.approx([102.9801, 115.9465, 122.7717])
    assert model.pixel_std.flatten().tolist() == [1.0, 1.0, 1.0]
    assert model.input_format == "BGR"
    assert model.backbone.size_divisibility == 32
    assert model.anchor_generator.center_shift == 0.5
    (resize,) = cfg.dataloader.test.mapper.augmentations
    assert (resize.short_edge_length, resize.max_size) == (800, 1333)
    assert cfg.model.assignment.center_margin == twin.model.assignment.center_margin == 0.51


def test_official_anchor_centres_are_half_a_pixel_from_detectron2s():
    shapes, model = state_dict_shapes(OFFICIAL[0])
    features = [torch.zeros(1, 1, 2, 2)] * 5
    (p3, *_) = model.anchor_generator(features)
    # Official level-0 cell anchor: index box [-27.5, 35.5], the continuous [-27.5, 36.5].
    assert p3.tensor[0].tolist() == [-27.5, -27.5, 36.5, 36.5]
    assert p3.get_centers()[1].tolist() == [12.5, 4.5]  # (k + 0.5) * 8 + 0.5


@pytest.mark.parametrize(
    "name, arch",
    [
        ("atss_R_50_FPN_1x", {}),
        (
            "atss_dcnv2_R_50_FPN_1x",
            {"deform_on_per_stage": (False, True, True, True), "dcn_in_tower": True},
        ),
    ],
)
def test_converted_checkpoint_loads_with_no_missing_or_unexpected_keys(tmp_path, name, arch):
    src, dst = tmp_path / "official.pth", tmp_path / "converted.pth"
    sd = official_state_dict(**arch)
    torch.save({"model": {"module." + k: v for k, v in sd.items()}, "iteration": 90000}, src)
    config = ROOT / "configs" / "Official" / f"{name}.py"
    tool.main([str(src), str(dst), "--config", str(config)])

    _, model = state_dict_shapes(config)
    checkpointer = DetectionCheckpointer(model)
    incompatible = checkpointer._load_model(torch.load(dst))
    assert not incompatible.missing_keys and not incompatible.unexpected_keys
    assert torch.equal(
        model.head.cls_score.bias, sd["rpn.head.cls_logits.bias"]
    ), "the weights are the checkpoint's"
    assert tool.official_config_name(tool.convert_official_state_dict(sd)[1]) == name


def test_config_of_another_architecture_is_refused_and_nothing_is_written(tmp_path):
    src, dst = tmp_path / "official.pth", tmp_path / "converted.pth"
    torch.save({"model": official_state_dict()}, src)
    config = ROOT / "configs" / "Official" / "atss_dcnv2_R_50_FPN_1x.py"
    with pytest.raises(ValueError, match="missing keys.*conv_offset"):
        tool.main([str(src), str(dst), "--config", str(config)])
    assert not dst.exists()


def test_truncated_file_is_refused_naming_it(tmp_path):
    src, dst = tmp_path / "official.pth", tmp_path / "converted.pth"
    torch.save({"model": official_state_dict(stem_channels=8, fpn_channels=32)}, src)
    src.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    with pytest.raises(ValueError, match="Cannot read .*official.pth"):
        tool.main([str(src), str(dst)])
    assert not dst.exists()


def test_shifted_anchors_keep_the_fast_assignment_path_exact():
    # Fine-tuning a converted model assigns on the official anchors: the regular-grid path must
    # find the shifted grid and agree with the dense path.
    from atss.anchor_grid import grid_topk_candidates
    from atss.assignment import atss_assign

    _, model = state_dict_shapes(OFFICIAL[0])
    features = [torch.zeros(1, 1, 100 // s + 1, 150 // s + 1) for s in (8, 16, 32, 64, 128)]
    anchors = [a.tensor for a in model.anchor_generator(features)]
    gen = torch.Generator().manual_seed(0)
    xy = torch.rand(30, 2, generator=gen) * 100
    gt_boxes = torch.cat([xy, xy + 2 + torch.rand(30, 2, generator=gen) * 60], dim=1)
    assert grid_topk_candidates(anchors, gt_boxes[:, :2], 9) is not None  # the grid is found
    fast = atss_assign(anchors, gt_boxes, use_grid=True)
    assert (fast >= 0).sum() > 30
    assert torch.equal(fast, atss_assign(anchors, gt_boxes, use_grid=False))


def test_yaml_keys_reach_the_model():
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model

    from atss import add_atss_config

    cfg = get_cfg()
    add_atss_config(cfg)
    cfg.merge_from_file(str(ROOT / "configs" / "ATSS" / "atss_R_50_FPN_1x.yaml"))
    assert cfg.MODEL.ATSS.CENTER_MARGIN == 0.51 and cfg.MODEL.ATSS.ANCHOR_CENTER_SHIFT == 0.0
    cfg.MODEL.ATSS.CENTER_MARGIN = 0.01
    cfg.MODEL.ATSS.ANCHOR_CENTER_SHIFT = 0.5
    cfg.MODEL.DEVICE = "cpu"
    model = build_model(cfg)
    assert model.assign.keywords["center_margin"] == 0.01
    assert model.anchor_generator.center_shift == 0.5
