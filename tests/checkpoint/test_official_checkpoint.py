"""
Specification of ``atss.checkpoint`` (pure torch): the converter reads the architecture of an
official ATSS checkpoint from its keys, renames every tensor to detectron2's names, compensates
detectron2's frozen-BN epsilon, and refuses, naming the key, what it does not understand.
"""
import math
import pytest
import torch

from atss.checkpoint import (
    OfficialArchitecture,
    anchor_center_shift,
    convert_official_state_dict,
    detect_architecture,
)
from official_layout import tiny


def test_detects_resnet_50():
    arch = detect_architecture(tiny())
    assert arch == OfficialArchitecture(
        depth=50,
        num_groups=1,
        width_per_group=8,
        deform_on_per_stage=(False, False, False, False),
        dcn_in_tower=False,
        num_convs=4,
        num_classes=80,
        anchor_scale=8.0,
    )


def test_detects_resnext_groups_width_depth_and_deformable_parts():
    sd = tiny(
        depth=101,
        num_groups=4,
        width_per_group=2,
        deform_on_per_stage=(False, False, True, True),
        dcn_in_tower=True,
    )
    arch = detect_architecture(sd)
    assert (arch.depth, arch.num_groups, arch.width_per_group) == (101, 4, 2)
    assert arch.deform_on_per_stage == (False, False, True, True)
    assert arch.dcn_in_tower


def test_every_tensor_is_renamed_and_module_prefix_is_removed():
    sd = tiny(deform_on_per_stage=(False, True, True, True), dcn_in_tower=True)
    out, _ = convert_official_state_dict({"module." + k: v for k, v in sd.items()})
    anchors_and_scales = 10
    assert len(out) == len(sd) - anchors_and_scales + 1  # the 5 scales become one tensor
    expected = {
        "backbone.body.stem.conv1.weight": "backbone.bottom_up.stem.conv1.weight",
        "backbone.body.layer1.0.downsample.0.weight": "backbone.bottom_up.res2.0.shortcut.weight",
        "backbone.body.layer1.0.downsample.1.bias": "backbone.bottom_up.res2.0.shortcut.norm.bias",
        "backbone.body.layer3.5.conv3.weight": "backbone.bottom_up.res4.5.conv3.weight",
        "backbone.body.layer2.0.conv2.conv.weight": "backbone.bottom_up.res3.0.conv2.weight",
        "backbone.body.layer2.0.conv2.offset.weight": (
            "backbone.bottom_up.res3.0.conv2.conv_offset.weight"
        ),
        "backbone.body.layer1.2.conv2.weight": "backbone.bottom_up.res2.2.conv2.weight",
        "backbone.fpn.fpn_inner2.weight": "backbone.fpn_lateral3.weight",
        "backbone.fpn.fpn_layer4.bias": "backbone.fpn_output5.bias",
        "backbone.fpn.top_blocks.p7.weight": "backbone.top_block.p7.weight",
        "rpn.head.cls_tower.0.weight": "head.cls_subnet.0.weight",
        "rpn.head.bbox_tower.7.bias": "head.bbox_subnet.7.bias",
        "rpn.head.cls_tower.9.conv.bias": "head.cls_subnet.9.bias",
        "rpn.head.bbox_tower.9.offset.weight": "head.bbox_subnet.9.conv_offset.weight",
        "rpn.head.cls_logits.bias": "head.cls_score.bias",
        "rpn.head.centerness.weight": "head.centerness.weight",
    }
    for src, dst in expected.items():
        assert torch.equal(out[dst], sd[src]), (src, dst)
    scales = [sd[f"rpn.head.scales.{i}.scale"] for i in range(5)]
    assert torch.equal(out["head.scales"], torch.cat(scales))


def test_frozen_bn_computes_the_official_function_with_detectron2s_epsilon():
    sd = tiny()
    out, _ = convert_official_state_dict(sd, frozen_bn_eps=1e-5)
    src, dst = "backbone.body.layer1.0.bn2", "backbone.bottom_up.res2.0.conv2.norm"
    x = torch.randn(1, 8, 3, 3, dtype=torch.float64)

    def affine(p, eps):
        w, b = p["weight"].double(), p["bias"].double()
        mean, var = p["running_mean"].double(), p["running_var"].double()
        scale = w / torch.sqrt(var + eps)
        return x * scale[:, None, None] + (b - mean * scale)[:, None, None]

    names = ("weight", "bias", "running_mean", "running_var")
    official = affine({k: sd[f"{src}.{k}"] for k in names}, 0)
    ours = affine({k: out[f"{dst}.{k}"] for k in names}, 1e-5)
    assert torch.allclose(official, ours, rtol=1e-6, atol=1e-6)
    uncompensated = affine({k: sd[f"{src}.{k}"] for k in names}, 1e-5)
    assert not torch.allclose(official, uncompensated, rtol=1e-6, atol=1e-6)


def test_official_anchors_are_half_a_pixel_from_detectron2s():
    assert math.isclose(anchor_center_shift(tiny()), 0.5)


def test_refuses_a_two_stage_checkpoint_naming_the_key():
    sd = tiny()
    sd["roi_heads.box.predictor.cls_score.weight"] = torch.zeros(81, 1024)
    with pytest.raises(ValueError, match="roi_heads.box.predictor.cls_score.weight"):
        convert_official_state_dict(sd)


def test_refuses_an_fcos_checkpoint_naming_the_missing_anchors():
    sd = {k: v for k, v in tiny().items() if "anchor_generator" not in k}
    with pytest.raises(ValueError, match=r"rpn\.anchor_generator\.cell_anchors\.0.*FCOS"):
        convert_official_state_dict(sd)


def test_refuses_a_retinanet_checkpoint_naming_the_missing_centerness():
    sd = {k: v for k, v in tiny().items() if "centerness" not in k}
    with pytest.raises(ValueError, match=r"rpn\.head\.centerness\.weight.*RetinaNet"):
        convert_official_state_dict(sd)


def test_refuses_several_anchors_per_location():
    sd = tiny()
    sd["rpn.head.bbox_pred.weight"] = torch.zeros(36, 32, 3, 3)
    with pytest.raises(ValueError, match="9 anchors per location"):
        convert_official_state_dict(sd)


@pytest.mark.parametrize(
    "key",
    [
        "backbone.body.layer4.2.bn3.running_var",
        "backbone.fpn.fpn_layer3.weight",
        "rpn.head.scales.4.scale",
        "rpn.head.bbox_tower.6.bias",
    ],
)
def test_refuses_a_truncated_checkpoint_naming_the_missing_key(key):
    sd = tiny()
    del sd[key]
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        convert_official_state_dict(sd)


def test_refuses_a_checkpoint_cut_inside_a_stage():
    sd = {k: v for k, v in tiny().items() if not k.startswith("backbone.body.layer3.5.")}
    with pytest.raises(ValueError, match=r"\[3, 4, 5, 3\] blocks per stage"):
        convert_official_state_dict(sd)


def test_refuses_an_unknown_key():
    sd = tiny()
    sd["rpn.head.extra.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"rpn\.head\.extra\.weight"):
        convert_official_state_dict(sd)


def test_refuses_an_architecture_other_than_the_expected_one():
    expected = detect_architecture(tiny())
    with pytest.raises(ValueError, match="dcn_in_tower"):
        convert_official_state_dict(tiny(dcn_in_tower=True), architecture=expected)
