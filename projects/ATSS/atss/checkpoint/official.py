"""
Conversion of the authors' ATSS checkpoints (maskrcnn-benchmark layout, github.com/sfzhang15/ATSS)
to this project's detectron2 model, in pure torch.

The official checkpoint is a ``.pth`` dict whose ``"model"`` holds the state dict, keys possibly
prefixed with ``"module."`` (DistributedDataParallel). :func:`detect_architecture` reads the
architecture from the keys and shapes alone; :func:`convert_official_state_dict` renames every
tensor to detectron2's names and refuses, naming the key, anything it does not account for (a
Faster R-CNN, FCOS or RetinaNet checkpoint, a truncated one), so it never returns a half-converted
model.
"""
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Tuple
import torch
from torch import Tensor

__all__ = [
    "OfficialArchitecture",
    "detect_architecture",
    "convert_official_state_dict",
    "strip_module_prefix",
    "anchor_center_shift",
]

# Blocks of res2-res5 per depth, as the official ResNet's stage specs.
_DEPTH_OF_BLOCKS = {(3, 4, 6, 3): 50, (3, 4, 23, 3): 101, (3, 8, 36, 3): 152}
_STRIDES = (8, 16, 32, 64, 128)

# detectron2's FrozenBatchNorm2d computes weight / sqrt(running_var + eps) with this eps; the
# official FrozenBatchNorm2d has none (atss_core/layers/batch_norm.py).
DETECTRON2_FROZEN_BN_EPS = 1e-5

_HEAD = "rpn.head."
_ANCHORS = "rpn.anchor_generator.cell_anchors."


@dataclass(frozen=True)
class OfficialArchitecture:
    """What an official ATSS checkpoint holds, as :func:`detect_architecture` reads it."""

    depth: int
    num_groups: int
    width_per_group: int
    deform_on_per_stage: Tuple[bool, bool, bool, bool]
    dcn_in_tower: bool
    num_convs: int
    num_classes: int
    anchor_scale: float


def strip_module_prefix(state_dict: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    """Remove the ``"module."`` prefix DistributedDataParallel puts on every key, if present."""
    if state_dict and all(k.startswith("module.") for k in state_dict):
        return {k[len("module."):]: v for k, v in state_dict.items()}
    return dict(state_dict)


def _require(state_dict: Mapping[str, Tensor], key: str, what: str) -> Tensor:
    if key not in state_dict:
        raise ValueError(f"Not an official ATSS checkpoint: key {key!r} ({what}) is missing")
    return state_dict[key]


def _refuse_other_detectors(state_dict: Mapping[str, Tensor]) -> None:
    """Name the detector a checkpoint of maskrcnn-benchmark's family holds, when not ATSS."""
    for key in state_dict:
        if key.startswith("roi_heads."):
            raise ValueError(
                f"Key {key!r}: this is a two-stage (Faster/Mask R-CNN) checkpoint, not ATSS"
            )
    if _HEAD + "conv.weight" in state_dict:
        raise ValueError(f"Key {_HEAD + 'conv.weight'!r}: this is an RPN checkpoint, not ATSS")
    if _HEAD + "cls_logits.weight" in state_dict and _HEAD + "centerness.weight" not in state_dict:
        raise ValueError(
            f"Key {_HEAD + 'centerness.weight'!r} is missing: a head without centerness is "
            "RetinaNet's, not ATSS'"
        )
    if _HEAD + "centerness.weight" in state_dict and _ANCHORS + "0" not in state_dict:
        raise ValueError(
            f"Key {_ANCHORS + '0'!r} is missing: a centerness head without anchors is FCOS', "
            "not ATSS'"
        )


def _conv2_weight_key(prefix: str, state_dict: Mapping[str, Tensor]) -> Tuple[str, bool]:
    """The 3x3 conv weight of a bottleneck and whether it is deformable (DFConv2d)."""
    deformable = prefix + "conv2.offset.weight" in state_dict
    return prefix + ("conv2.conv.weight" if deformable else "conv2.weight"), deformable


def detect_architecture(state_dict: Mapping[str, Tensor]) -> OfficialArchitecture:
    """
    Read the architecture of an official ATSS model from its state dict (``"module."`` already
    stripped): ResNet depth from the blocks per stage, ResNeXt groups and width from the first
    3x3 conv, deformable stages and tower from the offset convolutions, the tower depth, the
    classes and the anchor scale.

    Raises:
        ValueError: naming the key, when the state dict is not an ATSS model this project has
            (another detector, several anchors per location, P6 from C5, unknown depth).
    """
    _refuse_other_detectors(state_dict)
    blocks = []
    for stage in range(1, 5):
        pattern = re.compile(rf"backbone\.body\.layer{stage}\.(\d+)\.conv1\.weight$")
        indices = {int(m.group(1)) for k in state_dict for m in [pattern.match(k)] if m}
        if not indices:
            _require(state_dict, f"backbone.body.layer{stage}.0.conv1.weight", "ResNet stage")
        if indices != set(range(len(indices))):
            missing = min(set(range(max(indices) + 1)) - indices)
            _require(state_dict, f"backbone.body.layer{stage}.{missing}.conv1.weight", "block")
        blocks.append(len(indices))
    if tuple(blocks) not in _DEPTH_OF_BLOCKS:
        raise ValueError(
            f"Keys 'backbone.body.layer1-4.*': {blocks} blocks per stage is no ResNet this "
            f"project builds ({sorted(_DEPTH_OF_BLOCKS.values())}); the file may be truncated"
        )
    depth = _DEPTH_OF_BLOCKS[tuple(blocks)]

    conv2_key, _ = _conv2_weight_key("backbone.body.layer1.0.", state_dict)
    conv2 = _require(state_dict, conv2_key, "first 3x3 conv")
    bottleneck, per_group = conv2.shape[0], conv2.shape[1]
    num_groups = bottleneck // per_group
    deform = tuple(
        _conv2_weight_key(f"backbone.body.layer{stage}.0.", state_dict)[1] for stage in range(1, 5)
    )

    p6 = _require(state_dict, "backbone.fpn.top_blocks.p6.weight", "FPN P6")
    if p6.shape[1] != p6.shape[0]:
        raise ValueError(
            f"Key 'backbone.fpn.top_blocks.p6.weight' has {p6.shape[1]} input channels: P6 from "
            "C5 (RetinaNet's USE_C5) is not the ATSS FPN, which computes it from P5"
        )

    tower = re.compile(r"rpn\.head\.cls_tower\.(\d+)\.")
    layers = {int(m.group(1)) for k in state_dict for m in [tower.match(k)] if m}
    if not layers:
        _require(state_dict, _HEAD + "cls_tower.0.weight", "classification tower")
    num_convs = max(layers) // 3 + 1
    dcn_in_tower = f"{_HEAD}cls_tower.{3 * (num_convs - 1)}.offset.weight" in state_dict

    cls_logits = _require(state_dict, _HEAD + "cls_logits.weight", "class predictor")
    bbox_pred = _require(state_dict, _HEAD + "bbox_pred.weight", "box predictor")
    num_anchors = bbox_pred.shape[0] // 4
    if num_anchors != 1:
        # The official cell anchors are ordered ratio-major, detectron2's size-major; only
        # the paper's one anchor per location is converted.
        raise ValueError(
            f"Key {_HEAD + 'bbox_pred.weight'!r}: {num_anchors} anchors per location; only "
            "ATSS' one anchor per location is supported"
        )
    sizes = []
    for level, stride in enumerate(_STRIDES):
        cell = _require(state_dict, f"{_ANCHORS}{level}", f"anchors of level {level}")
        if cell.shape != (1, 4):
            raise ValueError(
                f"Key {_ANCHORS + str(level)!r}: expected one anchor, got {tuple(cell.shape)}"
            )
        # Index frame: a side spans x2 - x1 + 1 pixels.
        sizes.append(float(cell[0, 2] - cell[0, 0] + 1) / stride)
    if max(sizes) - min(sizes) > 1e-3:
        raise ValueError(f"Keys {_ANCHORS}*: anchor sides {sizes} strides are not one scale")
    return OfficialArchitecture(
        depth=depth,
        num_groups=num_groups,
        width_per_group=per_group,
        deform_on_per_stage=deform,
        dcn_in_tower=dcn_in_tower,
        num_convs=num_convs,
        num_classes=cls_logits.shape[0],
        anchor_scale=round(sizes[0], 3),
    )


def _frozen_bn(src: str, dst: str) -> Dict[str, str]:
    return {f"{src}.{p}": f"{dst}.{p}" for p in ("weight", "bias", "running_mean", "running_var")}


def _conv(src: str, dst: str, bias: bool) -> Dict[str, str]:
    names = ("weight", "bias") if bias else ("weight",)
    return {f"{src}.{p}": f"{dst}.{p}" for p in names}


def _deformable(src: str, dst: str, bias: bool) -> Dict[str, str]:
    """Official DFConv2d (``offset`` conv, then ``conv``) -> atss.layers.ModulatedDeformConv2d.
    Both split the offset conv's 3 * 9 channels the same way: 18 offsets, (dy, dx) per tap in
    row-major tap order, then 9 mask logits (the official ``modulated_deformable_im2col`` kernel
    and torchvision's ``deform_conv2d`` read the same layout), so the weights copy unchanged."""
    return {**_conv(f"{src}.offset", f"{dst}.conv_offset", True), **_conv(f"{src}.conv", dst, bias)}


def _layout(arch: OfficialArchitecture) -> Dict[str, str]:
    """Every official key of ``arch`` (except anchors and scales) -> this project's key."""
    body, bottom_up = "backbone.body", "backbone.bottom_up"
    names = {
        **_conv(f"{body}.stem.conv1", f"{bottom_up}.stem.conv1", False),
        **_frozen_bn(f"{body}.stem.bn1", f"{bottom_up}.stem.conv1.norm"),
    }
    blocks = next(b for b, d in _DEPTH_OF_BLOCKS.items() if d == arch.depth)
    for stage, (num_blocks, deform) in enumerate(zip(blocks, arch.deform_on_per_stage), 1):
        for b in range(num_blocks):
            src, dst = f"{body}.layer{stage}.{b}", f"{bottom_up}.res{stage + 1}.{b}"
            for j in (1, 2, 3):
                if j == 2 and deform:
                    names.update(_deformable(f"{src}.conv2", f"{dst}.conv2", False))
                else:
                    names.update(_conv(f"{src}.conv{j}", f"{dst}.conv{j}", False))
                names.update(_frozen_bn(f"{src}.bn{j}", f"{dst}.conv{j}.norm"))
            if b == 0:
                names.update(_conv(f"{src}.downsample.0", f"{dst}.shortcut", False))
                names.update(_frozen_bn(f"{src}.downsample.1", f"{dst}.shortcut.norm"))
    # Official FPN blocks are numbered from C2 = 1 (absent in ATSS), detectron2's by stage.
    for idx in (2, 3, 4):
        names.update(_conv(f"backbone.fpn.fpn_inner{idx}", f"backbone.fpn_lateral{idx + 1}", True))
        names.update(_conv(f"backbone.fpn.fpn_layer{idx}", f"backbone.fpn_output{idx + 1}", True))
    for p in ("p6", "p7"):
        names.update(_conv(f"backbone.fpn.top_blocks.{p}", f"backbone.top_block.{p}", True))
    for src, dst in (("cls_tower", "cls_subnet"), ("bbox_tower", "bbox_subnet")):
        for i in range(arch.num_convs):
            conv_src, conv_dst = f"{_HEAD}{src}.{3 * i}", f"head.{dst}.{3 * i}"
            if arch.dcn_in_tower and i == arch.num_convs - 1:
                names.update(_deformable(conv_src, conv_dst, True))
            else:
                names.update(_conv(conv_src, conv_dst, True))
            names.update(_conv(f"{_HEAD}{src}.{3 * i + 1}", f"head.{dst}.{3 * i + 1}", True))
    for src, dst in (("cls_logits", "cls_score"), ("bbox_pred", "bbox_pred")):
        names.update(_conv(_HEAD + src, f"head.{dst}", True))
    names.update(_conv(_HEAD + "centerness", "head.centerness", True))
    return names


def convert_official_state_dict(
    state_dict: Mapping[str, Tensor],
    *,
    frozen_bn_eps: float = DETECTRON2_FROZEN_BN_EPS,
    architecture: Optional[OfficialArchitecture] = None,
) -> Tuple["OrderedDict[str, Tensor]", OfficialArchitecture]:
    """
    Convert the state dict of an official ATSS model to this project's :class:`atss.ATSS`.

    Args:
        state_dict: the official ``checkpoint["model"]``; a ``"module."`` prefix is removed.
        frozen_bn_eps: the eps of the target's FrozenBatchNorm2d. The official frozen BN has no
            eps, so each BN weight is multiplied by sqrt((var + eps) / var): the converted layer
            computes exactly the official weight / sqrt(var) (changing the variance instead could
            make it negative).
        architecture: the expected architecture (e.g. of a config); the detected one must equal
            it.

    Returns:
        The converted state dict (torch tensors, detectron2 names, loadable by
        ``DetectionCheckpointer`` with no missing or unexpected keys into the model of the
        matching config) and the detected architecture.

    Raises:
        ValueError: naming the key, when the checkpoint is not an ATSS model (see
            :func:`detect_architecture`), lacks a tensor of its architecture (truncated), holds
            a tensor the conversion does not account for, or does not match ``architecture``.
    """
    state_dict = strip_module_prefix(state_dict)
    arch = detect_architecture(state_dict)
    if architecture is not None and arch != architecture:
        diff = {
            f: (getattr(arch, f), getattr(architecture, f))
            for f in arch.__dataclass_fields__
            if getattr(arch, f) != getattr(architecture, f)
        }
        raise ValueError(f"The checkpoint's architecture differs, (checkpoint, expected): {diff}")

    names = _layout(arch)
    scales = [f"{_HEAD}scales.{level}.scale" for level in range(len(_STRIDES))]
    anchors = [f"{_ANCHORS}{level}" for level in range(len(_STRIDES))]
    for key in list(names) + scales:
        _require(state_dict, key, "truncated checkpoint?")
    for key in state_dict:
        if key not in names and key not in scales and key not in anchors:
            raise ValueError(f"Key {key!r} of the checkpoint is not part of an official ATSS model")

    out = OrderedDict()
    for src, dst in names.items():
        out[dst] = state_dict[src].detach().clone().float()
    for src, dst in names.items():
        if dst.endswith(".norm.running_var") and src.startswith("backbone.body."):
            var = out[dst]
            if not bool((var > 0).all()):
                raise ValueError(f"Key {src!r} has a non-positive running variance")
            weight = dst[: -len("running_var")] + "weight"
            factor = torch.sqrt((var.double() + frozen_bn_eps) / var.double())
            out[weight] = (out[weight].double() * factor).float()
    out["head.scales"] = torch.cat([state_dict[k].detach().reshape(1).float() for k in scales])
    _check_finite(out)
    return out, arch


def _check_finite(state_dict: Mapping[str, Tensor]) -> None:
    for key, value in state_dict.items():
        if not bool(torch.isfinite(value).all()):
            raise ValueError(f"Key {key!r} has non-finite values")


def anchor_center_shift(state_dict: Mapping[str, Tensor]) -> float:
    """
    How far, in pixels, the official anchor centres sit from detectron2's ``(k + 0.5) * S`` in
    the continuous frame: the official cell anchor of stride S is centred at index S / 2
    (``generate_anchors`` of this ATSS code), i.e. continuous S / 2 + 0.5.
    """
    state_dict = strip_module_prefix(state_dict)
    cell = _require(state_dict, _ANCHORS + "0", "anchors of level 0")
    center_index = float(cell[0, 0] + cell[0, 2]) / 2
    return center_index + 0.5 - _STRIDES[0] / 2
