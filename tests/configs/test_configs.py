"""
The model-zoo configs: every LazyConfig builds on a CPU without downloading anything, has the
official architecture (backbone, deformable stages, parameter count of detectron2's FCOS with the
same backbone), schedule and optimiser, and the YAML route builds the same R-50 model.
"""

import copy
import functools
import subprocess
import sys
from pathlib import Path
import pytest
import torch

pytestmark = pytest.mark.detectron2

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
MODELS = [
    "atss_R_50_FPN_1x",
    "atss_R_101_FPN_2x",
    "atss_X_101_32x8d_FPN_2x",
    "atss_X_101_64x4d_FPN_2x",
]
DCN_MODELS = ["atss_dcnv2_" + name[len("atss_") :] for name in MODELS]
RESNEXT = {"atss_X_101_32x8d_FPN_2x": (32, 8), "atss_X_101_64x4d_FPN_2x": (64, 4)}


@functools.lru_cache(maxsize=None)
def load(name: str):
    from detectron2.config import LazyConfig

    path = (
        CONFIGS / "Shapes" / f"{name}.py" if "shapes" in name else CONFIGS / "ATSS" / f"{name}.py"
    )
    return LazyConfig.load(str(path))


@functools.lru_cache(maxsize=None)
def build(name: str) -> torch.nn.Module:
    from detectron2.config import instantiate

    return instantiate(load(name).model).eval()


def num_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name", MODELS + DCN_MODELS + ["atss_R_18_FPN_shapes"])
def test_config_builds_and_detects_on_cpu(name):
    from detectron2.config import instantiate

    cfg = load(name)
    model = build(name)
    cfg.optimizer.params.model = model
    instantiate(cfg.optimizer)
    instantiate(cfg.lr_multiplier)
    with torch.no_grad():
        (output,) = model([{"image": torch.zeros(3, 64, 96), "height": 64, "width": 96}])
    assert output["instances"].image_size == (64, 96)


def test_shapes_config_needs_no_download_and_runs_on_cpu():
    cfg = load("atss_R_18_FPN_shapes")
    assert cfg.train.init_checkpoint == ""
    assert cfg.train.device == "cpu"


def test_quick_start_keeps_the_papers_detector_on_levels_p2_to_p4():
    model = build("atss_R_18_FPN_shapes")
    cfg = load("atss_R_18_FPN_shapes").model
    assert model.head_in_features == ["p2", "p3", "p4"]
    assert [s.stride for s in cfg.head.input_shape] == [4, 8, 16]
    assert model.anchor_generator.num_cell_anchors == [1, 1, 1]
    sizes = [b[0, 2] - b[0, 0] for b in model.anchor_generator.cell_anchors]
    assert [float(s) for s in sizes] == [32.0, 64.0, 128.0]  # 8S
    assert (cfg.assignment.rule, cfg.assignment.topk) == ("atss", 9)
    assert (cfg.use_centerness, cfg.head.norm) == (True, "GN")
    assert model.head.scales is not None


def test_quick_start_trunk_is_resnet18_at_a_quarter_width_without_res5():
    trunk = build("atss_R_18_FPN_shapes").backbone.bottom_up
    assert trunk.stem.out_channels == 16
    assert {k: v.channels for k, v in trunk.output_shape().items()} == {
        "res2": 16,
        "res3": 32,
        "res4": 64,
    }
    assert [len(stage) for stage in trunk.stages] == [2, 2, 2]


def test_long_shapes_recipe_is_the_full_width_resnet18_on_p3_to_p7():
    cfg = load("atss_R_18_FPN_shapes_long")
    model = build("atss_R_18_FPN_shapes_long")
    assert model.head_in_features == ["p3", "p4", "p5", "p6", "p7"]
    assert model.backbone.bottom_up.output_shape()["res5"].channels == 512
    assert (cfg.train.max_iter, cfg.dataloader.train.total_batch_size) == (1400, 16)


@pytest.mark.parametrize("name", MODELS)
def test_parameter_count_matches_detectron2_fcos_with_the_same_backbone(name):
    from detectron2 import model_zoo
    from detectron2.config import instantiate

    fcos = model_zoo.get_config("COCO-Detection/fcos_R_50_FPN_1x.py").model
    fcos.backbone.bottom_up.stages = copy.deepcopy(load(name).model.backbone.bottom_up.stages)
    expected = num_parameters(instantiate(fcos))
    assert num_parameters(build(name)) == pytest.approx(expected, rel=0.03)


@pytest.mark.parametrize("name", sorted(RESNEXT))
def test_resnext_trunk_equals_detectron2_yaml_resnext(name):
    from detectron2.config import get_cfg
    from detectron2.layers import ShapeSpec
    from detectron2.modeling.backbone import build_resnet_backbone

    cfg = get_cfg()
    cfg.MODEL.RESNETS.DEPTH = 101
    cfg.MODEL.RESNETS.NUM_GROUPS, cfg.MODEL.RESNETS.WIDTH_PER_GROUP = RESNEXT[name]
    cfg.MODEL.RESNETS.STRIDE_IN_1X1 = False
    cfg.MODEL.RESNETS.OUT_FEATURES = ["res3", "res4", "res5"]
    reference = build_resnet_backbone(cfg, ShapeSpec(channels=3))
    ours = build(name).backbone.bottom_up
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in reference.state_dict().items()
    }
    # The 3x3 conv of a downsampling block carries the stride (ResNeXt, not MSRA ResNet).
    assert ours.res3[0].conv1.stride == (1, 1) and ours.res3[0].conv2.stride == (2, 2)


@pytest.mark.parametrize("name", sorted(RESNEXT))
def test_resnext_trunk_has_torchvision_parameter_count(name):
    import torchvision

    groups, width = RESNEXT[name]
    reference = getattr(torchvision.models, f"resnext101_{groups}x{width}d")()
    # Frozen BN keeps its affine parameters as buffers; the classifier is not part of the trunk.
    bn = sum(
        p.numel()
        for m in reference.modules()
        if isinstance(m, torch.nn.BatchNorm2d)
        for p in m.parameters()
    )
    expected = num_parameters(reference) - num_parameters(reference.fc) - bn
    assert num_parameters(build(name).backbone.bottom_up) == expected


@pytest.mark.parametrize(
    "name, deformable_stages",
    [
        ("atss_dcnv2_R_50_FPN_1x", {"res3", "res4", "res5"}),
        ("atss_dcnv2_R_101_FPN_2x", {"res3", "res4", "res5"}),
        ("atss_dcnv2_X_101_32x8d_FPN_2x", {"res4", "res5"}),
        ("atss_dcnv2_X_101_64x4d_FPN_2x", {"res4", "res5"}),
    ],
)
def test_dcnv2_models_deform_the_official_stages_and_tower_layer(name, deformable_stages):
    from atss.layers import ModulatedDeformConv2d

    model = build(name)
    trunk = model.backbone.bottom_up
    for stage in ["res2", "res3", "res4", "res5"]:
        kinds = {isinstance(block.conv2, ModulatedDeformConv2d) for block in getattr(trunk, stage)}
        assert kinds == {stage in deformable_stages}, stage
    assert any(isinstance(m, ModulatedDeformConv2d) for m in model.head.modules())
    plain = build(name.replace("dcnv2_", ""))
    assert not any(isinstance(m, ModulatedDeformConv2d) for m in plain.head.modules())


def test_dcnv2_trunk_takes_imagenet_weights_for_its_deformable_convs():
    # ImageNet checkpoints name a block's 3x3 conv "resN.i.conv2.weight" (detectron2's
    # DeformBottleneckBlock keeps that name); detectron2's name matching must find it.
    from detectron2.checkpoint.c2_model_loading import align_and_update_state_dicts

    plain = build("atss_R_50_FPN_1x").backbone.bottom_up.state_dict()
    imagenet = {k: torch.randn(v.shape) for k, v in plain.items()}
    trunk = build("atss_dcnv2_R_50_FPN_1x").backbone.bottom_up
    model = {"backbone.bottom_up." + k: v for k, v in trunk.state_dict().items()}
    loaded = align_and_update_state_dicts(model, imagenet, c2_conversion=False)
    for key in model:
        if "conv_offset" not in key:
            assert key in loaded, key


def build_yaml(*opts: str) -> torch.nn.Module:
    """The model of configs/ATSS/atss_R_50_FPN_1x.yaml with ``opts`` merged, on the CPU."""
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model

    import atss

    cfg = get_cfg()
    atss.add_atss_config(cfg)
    cfg.merge_from_file(str(CONFIGS / "ATSS" / "atss_R_50_FPN_1x.yaml"))
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", *opts])
    return build_model(cfg)


def test_import_atss_registers_the_yaml_backbone_and_the_shapes_datasets():
    code = (
        "import atss; "
        "from detectron2.data import DatasetCatalog; "
        "from detectron2.modeling import BACKBONE_REGISTRY; "
        "assert 'build_atss_resnet_fpn_backbone' in BACKBONE_REGISTRY; "
        "assert {'shapes_train', 'shapes_val'} <= set(DatasetCatalog.list())"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    "name, opts",
    [
        ("atss_R_50_FPN_1x", []),
        (
            "atss_dcnv2_R_50_FPN_1x",
            [
                "MODEL.RESNETS.DEFORM_ON_PER_STAGE",
                "[False, True, True, True]",
                "MODEL.RESNETS.DEFORM_MODULATED",
                "True",
                "MODEL.ATSS.USE_DCN_IN_TOWER",
                "True",
            ],
        ),
        (
            "atss_X_101_32x8d_FPN_2x",
            [
                "MODEL.RESNETS.DEPTH",
                "101",
                "MODEL.RESNETS.NUM_GROUPS",
                "32",
                "MODEL.RESNETS.WIDTH_PER_GROUP",
                "8",
                "MODEL.RESNETS.STRIDE_IN_1X1",
                "False",
            ],
        ),
    ],
)
def test_yaml_route_builds_the_same_model_as_the_lazy_config(name, opts):
    yaml_model, lazy_model = build_yaml(*opts), build(name)
    assert num_parameters(yaml_model) == num_parameters(lazy_model)
    assert {k: v.shape for k, v in yaml_model.state_dict().items()} == {
        k: v.shape for k, v in lazy_model.state_dict().items()
    }


@pytest.mark.parametrize(
    "name, max_iter, steps",
    [("atss_R_50_FPN_1x", 90000, (60000, 80000)), ("atss_R_101_FPN_2x", 180000, (120000, 160000))],
)
def test_schedule_has_official_steps_and_constant_warmup(name, max_iter, steps):
    from detectron2.config import instantiate

    cfg = load(name)
    assert cfg.train.max_iter == max_iter
    multiplier = instantiate(cfg.lr_multiplier)
    at = {it: multiplier(it / max_iter) for it in [0, 499, 500, steps[0] - 1, steps[0], steps[1]]}
    assert at[0] == at[499] == pytest.approx(1 / 3)
    assert at[500] == at[steps[0] - 1] == 1.0
    assert at[steps[0]] == pytest.approx(0.1)
    assert at[steps[1]] == pytest.approx(0.01)


def test_optimizer_gives_biases_twice_the_lr_and_no_weight_decay():
    from detectron2.config import instantiate

    cfg = load("atss_R_50_FPN_1x")
    model = build("atss_R_50_FPN_1x")
    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)
    names = {id(p): n for n, p in model.named_parameters()}
    for group in optimizer.param_groups:
        for p in group["params"]:
            if names[id(p)].endswith(".bias"):
                assert (group["lr"], group["weight_decay"]) == (0.02, 0.0), names[id(p)]
            else:
                assert (group["lr"], group["weight_decay"]) == (0.01, 1e-4), names[id(p)]
    assert cfg.dataloader.train.total_batch_size == 16


@pytest.mark.parametrize("name", MODELS + DCN_MODELS)
def test_2x_models_train_at_a_shorter_side_from_640_to_800(name):
    resize = load(name).dataloader.train.mapper.augmentations[0]
    if "2x" in name:
        assert (tuple(resize.short_edge_length), resize.sample_style) == ((640, 800), "range")
    else:
        assert resize.short_edge_length == 800
    assert resize.max_size == 1333
