"""
Parity of the converted official models with the authors' code, run from its source: the table of
docs/official_models.md ("Parity with the official code").

    git clone https://github.com/sfzhang15/ATSS /path/to/ATSS   # the official code, not installed
    python benchmarks/official_parity.py --official-source /path/to/ATSS \\
        [--measure detections positives] [--models atss_R_50_FPN_1x ...] \\
        [--output-dir output/official_parity]

For each model it builds the official model from ``configs/atss/<model>.yaml`` of that source tree
on the CPU and gives it random weights, made to behave like trained ones: each frozen BatchNorm's
statistics are those of its input on a calibration image (so activations stay O(1)), its offset
convolutions are scaled by ``OFFSET_SCALE`` (so that deformable offsets stay small), and the class
bias is -1.5 (so that it detects). It saves them as an official checkpoint (``"module."``
prefixes), converts that with ``tools/convert_official_checkpoint.py --config
configs/Official/<model>.py``, and runs both models on the same two images (320x480, and 300x450,
which the FPN pads). Each official detection is paired with the unpaired detection of the same
class nearest to it; it prints, per model, the detections paired on each image and the largest
score and box differences of the pairs. The ``center_shift=0`` row runs the R-50 model with
detectron2's anchor centres instead of the official ones.

``--measure positives`` compares the official ATSS assignment (``prepare_targets`` of its
``rpn/atss/loss.py``) with ``atss.assignment.atss_assign`` on the same anchors (the official ones,
in the continuous frame) and the same integer COCO-style boxes (50 images of 20 boxes of 2-400 px,
log-uniform, at 800x1216): it prints the positives of each, of ``atss_assign`` with the official
centre margin (0.51 px in the continuous frame) and with 0.01 px, and the anchors on which the
official code and the 0.51 margin disagree.

The official code needs its compiled extension (CUDA); here its operators are torchvision's:
``nms``/``batched_nms`` on ``x2 + 1, y2 + 1`` boxes (maskrcnn-benchmark's pixel convention) and
``deform_conv2d``. Two shims let it run on today's libraries: ``np.float`` (removed from NumPy)
and a contiguous copy in its ``permute_and_flatten`` (today's ``reshape`` returns a view that its
``view`` calls reject). Nothing of this script is needed by the tests.
"""

import atss.require_detectron2  # noqa: F401  (without detectron2: exit 2, naming the set-up)
import argparse
import importlib.util
import numpy as np
import sys
import types
from pathlib import Path
from typing import Dict, List, Tuple
import torch
import torchvision
from torch import Tensor

from detectron2.structures import Instances

from atss.checkpoint.loading import load_model
from atss.config import load_config

ROOT = Path(__file__).resolve().parents[1]
MODELS = [
    "atss_R_50_FPN_1x",
    "atss_dcnv2_R_50_FPN_1x",
    "atss_X_101_32x8d_FPN_2x",
    "atss_dcnv2_X_101_64x4d_FPN_2x",
]
IMAGE_SIZES = [(320, 480), (300, 450)]
PIXEL_MEAN = torch.tensor([102.9801, 115.9465, 122.7717]).view(3, 1, 1)  # official, BGR
CLASS_BIAS = -1.5
# Kaiming-uniform offset convolutions (the official initialisation) make offsets of several pixels
# that amplify float rounding through each deformable stage; scaled down, they stay small.
OFFSET_SCALE = 0.1
# A pair further apart than this is no pair: another detection.
PAIR_MAX_BOX_PX = 1.0


def legacy_boxes(boxes: Tensor) -> Tensor:
    """Boxes of maskrcnn-benchmark's "+1" frame (x2, y2 inclusive) in the continuous frame."""
    return torch.cat([boxes[:, :2], boxes[:, 2:] + 1], dim=1)


def import_official_code(source: Path) -> types.SimpleNamespace:
    """The official modules this script uses, imported from ``source`` with the shims above."""
    if not (source / "atss_core" / "modeling").is_dir():
        raise SystemExit(
            f"{source} is not the official ATSS source tree (no atss_core/modeling); "
            "git clone https://github.com/sfzhang15/ATSS and give its path"
        )
    np.float = float  # removed from NumPy; the official anchor generator uses it
    extension = types.ModuleType("atss_core._C")
    extension.nms = lambda boxes, scores, iou: torchvision.ops.nms(legacy_boxes(boxes), scores, iou)
    extension.ml_nms = lambda boxes, scores, labels, iou: torchvision.ops.batched_nms(
        legacy_boxes(boxes), scores, labels, iou
    )
    sys.modules["atss_core._C"] = extension
    sys.path.insert(0, str(source))

    from atss_core.config import cfg
    from atss_core.layers import DFConv2d, FrozenBatchNorm2d
    from atss_core.layers.dcn import deform_conv_module
    from atss_core.modeling.detector import build_detection_model
    from atss_core.modeling.rpn.atss import inference
    from atss_core.structures.image_list import to_image_list

    def modulated_deform_conv(x, offset, mask, weight, bias, stride, padding, dilation, *_):
        return torchvision.ops.deform_conv2d(
            x, offset, weight, bias, stride=stride, padding=padding, dilation=dilation, mask=mask
        )

    def deform_conv(x, offset, weight, stride, padding, dilation, *_):
        return torchvision.ops.deform_conv2d(
            x, offset, weight, stride=stride, padding=padding, dilation=dilation
        )

    deform_conv_module.modulated_deform_conv = modulated_deform_conv
    deform_conv_module.deform_conv = deform_conv
    permute_and_flatten = inference.permute_and_flatten
    inference.permute_and_flatten = lambda *args: permute_and_flatten(*args).contiguous()
    from atss_core.modeling.rpn.anchor_generator import make_anchor_generator_atss
    from atss_core.modeling.rpn.atss.atss import BoxCoder
    from atss_core.modeling.rpn.atss.loss import make_atss_loss_evaluator
    from atss_core.structures.bounding_box import BoxList

    return types.SimpleNamespace(
        cfg=cfg,
        DFConv2d=DFConv2d,
        BoxList=BoxList,
        BoxCoder=BoxCoder,
        make_anchor_generator_atss=make_anchor_generator_atss,
        make_atss_loss_evaluator=make_atss_loss_evaluator,
        FrozenBatchNorm2d=FrozenBatchNorm2d,
        build_detection_model=build_detection_model,
        to_image_list=to_image_list,
    )


def test_image(height: int, width: int, seed: int) -> Tensor:
    """A (3, H, W) BGR image in 0-255: smooth noise with a few flat rectangles."""
    gen = torch.Generator().manual_seed(seed)
    image = torch.nn.functional.interpolate(
        torch.rand(1, 3, height // 16, width // 16, generator=gen) * 255, size=(height, width),
        mode="bilinear", align_corners=False,
    )[0]  # fmt: skip
    for _ in range(6):
        y, x = (torch.rand(2, generator=gen) * torch.tensor([height - 40, width - 40])).int()
        h, w = (torch.rand(2, generator=gen) * 120 + 16).int()
        image[:, y : y + h, x : x + w] = torch.rand(3, 1, 1, generator=gen) * 255
    return image.round()


def official_model(official, name: str, source: Path, calibration: Tensor):
    """The official model of ``name``, with random weights calibrated on ``calibration``."""
    cfg = official.cfg.clone()
    cfg.merge_from_file(str(source / "configs" / "atss" / f"{name}.yaml"))
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.WEIGHT = ""
    torch.manual_seed(0)
    model = official.build_detection_model(cfg).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, official.DFConv2d):
                module.offset.weight.mul_(OFFSET_SCALE)

    def calibrate(module, inputs):
        (x,) = inputs
        module.running_mean.copy_(x.mean(dim=(0, 2, 3)))
        module.running_var.copy_(x.var(dim=(0, 2, 3)) + 1e-5)
        module.weight.fill_(1.0)
        module.bias.zero_()

    hooks = [
        m.register_forward_pre_hook(calibrate)
        for m in model.modules()
        if isinstance(m, official.FrozenBatchNorm2d)
    ]
    with torch.no_grad():
        model(official.to_image_list([calibration - PIXEL_MEAN], 32))
    for hook in hooks:
        hook.remove()
    with torch.no_grad():
        model.rpn.head.cls_logits.bias.fill_(CLASS_BIAS)
    return model


def official_detections(official, model, image: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """
    Boxes (N, 4) in detectron2's continuous frame, scores (N,) and 0-based classes (N,) of the
    official model on ``image``.
    """
    with torch.no_grad():
        (boxlist,) = model(official.to_image_list([image - PIXEL_MEAN], 32))
    # A box [x1, x2] of maskrcnn-benchmark's "+1" frame is the continuous [x1, x2 + 1]; its labels
    # are 1-based (0 is the background).
    return legacy_boxes(boxlist.bbox), boxlist.get_field("scores"), boxlist.get_field("labels") - 1


def converted_model(name: str, official_state: Dict[str, Tensor], workdir: Path, overrides):
    """Our model of ``configs/Official/<name>.py`` with the converted official weights."""
    src, dst = workdir / f"official_{name}.pth", workdir / f"converted_{name}.pth"
    torch.save({"model": {f"module.{k}": v for k, v in official_state.items()}}, src)
    config = f"configs/Official/{name}.py"
    spec = importlib.util.spec_from_file_location(
        "convert_official_checkpoint", ROOT / "tools" / "convert_official_checkpoint.py"
    )
    converter = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(converter)
    converter.main([str(src), str(dst), "--config", str(ROOT / config)])
    cfg = load_config(str(ROOT / config), list(overrides))
    return load_model(cfg, str(dst), device="cpu").eval()


def our_detections(model, image: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    with torch.no_grad():
        instances: Instances = model([{"image": image}])[0]["instances"]
    return instances.pred_boxes.tensor, instances.scores, instances.pred_classes


def pair(official, ours) -> Tuple[int, float, float]:
    """
    Pairs each official detection (by decreasing score) with the unpaired one of ours of the same
    class whose box is nearest (largest coordinate difference); returns the number paired and the
    largest score and box (px) differences of the pairs.
    """
    (boxes_o, scores_o, classes_o), (boxes, scores, classes) = official, ours
    free = torch.ones(len(boxes), dtype=torch.bool)
    paired, score_diff, box_diff = 0, 0.0, 0.0
    for i in scores_o.argsort(descending=True).tolist():
        distance = (boxes - boxes_o[i]).abs().amax(dim=1)
        distance[~free | (classes != classes_o[i])] = float("inf")
        if len(distance) == 0 or distance.min() > PAIR_MAX_BOX_PX:
            continue
        j = int(distance.argmin())
        free[j] = False
        paired += 1
        score_diff = max(score_diff, float((scores[j] - scores_o[i]).abs()))
        box_diff = max(box_diff, float(distance[j]))
    return paired, score_diff, box_diff


def measure(official, name, source, workdir, overrides=()) -> List[str]:
    images = [test_image(h, w, seed) for seed, (h, w) in enumerate(IMAGE_SIZES)]
    reference = official_model(official, name, source, images[0])
    ours = converted_model(name, reference.state_dict(), workdir, overrides)
    counts, score_diff, box_diff = [], 0.0, 0.0
    for image in images:
        expected = official_detections(official, reference, image)
        n, s, b = pair(expected, our_detections(ours, image))
        counts.append(f"{n}/{len(expected[0])}")
        score_diff, box_diff = max(score_diff, s), max(box_diff, b)
    label = name + "".join(f" with {o}" for o in overrides)
    return [label, ", ".join(counts), f"{score_diff:.1e}", f"{box_diff:.2g} px"]


def measure_positives(official, source: Path, num_images=50, num_boxes=20, size=(800, 1216)):
    """Positives of the official ATSS assignment and of ``atss_assign`` on the same inputs."""
    from atss.assignment import atss_assign

    cfg = official.cfg.clone()
    cfg.merge_from_file(str(source / "configs" / "atss" / "atss_R_50_FPN_1x.yaml"))
    loss = official.make_atss_loss_evaluator(cfg, official.BoxCoder(cfg))
    generator = official.make_anchor_generator_atss(cfg)
    height, width = size
    grid_sizes = [(-(-height // s), -(-width // s)) for s in cfg.MODEL.ATSS.ANCHOR_STRIDES]
    anchors = generator.grid_anchors(grid_sizes)  # the official "+1" frame
    anchor_lists = [[official.BoxList(a, (width, height), mode="xyxy") for a in anchors]]
    continuous_anchors = [legacy_boxes(a) for a in anchors]
    gen = torch.Generator().manual_seed(0)
    counts = {"official": 0, "margin 0.51": 0, "margin 0.01": 0, "disagree": 0}
    for _ in range(num_images):
        sides = torch.exp(
            torch.empty(num_boxes, 2).uniform_(np.log(2), np.log(400), generator=gen)
        ).round()
        corner = (torch.rand(num_boxes, 2, generator=gen) * (torch.tensor([width, height]) - sides))
        coco = torch.cat([corner.floor(), sides], dim=1)  # x, y, w, h in whole pixels
        target = official.BoxList(coco, (width, height), mode="xywh").convert("xyxy")
        target.add_field("labels", torch.ones(num_boxes, dtype=torch.long))
        (labels,), _ = loss.prepare_targets([target], anchor_lists)
        official_pos = labels > 0
        continuous_gt = torch.cat([coco[:, :2], coco[:, :2] + coco[:, 2:]], dim=1)
        ours = {
            m: atss_assign(continuous_anchors, continuous_gt, center_margin=m) >= 0
            for m in (0.51, 0.01)
        }
        counts["official"] += int(official_pos.sum())
        counts["margin 0.51"] += int(ours[0.51].sum())
        counts["margin 0.01"] += int(ours[0.01].sum())
        counts["disagree"] += int((ours[0.51] != official_pos).sum())
    print(
        f"{num_images} images of {num_boxes} boxes at {width}x{height}: positives, official "
        f"{counts['official']}, atss_assign with center_margin 0.51 {counts['margin 0.51']}, "
        f"with 0.01 {counts['margin 0.01']}; anchors positive for one of the official code and "
        f"0.51 only: {counts['disagree']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--official-source", type=Path, required=True, metavar="DIR",
        help="a checkout of github.com/sfzhang15/ATSS (its atss_core is imported from there)",
    )  # fmt: skip
    parser.add_argument(
        "--measure", nargs="+", choices=["detections", "positives"],
        default=["detections", "positives"],
    )  # fmt: skip
    parser.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    parser.add_argument("--output-dir", type=Path, default=Path("output/official_parity"))
    args = parser.parse_args()

    official = import_official_code(args.official_source.resolve())
    torch.set_grad_enabled(False)
    if "positives" in args.measure:
        measure_positives(official, args.official_source)
    if "detections" not in args.measure:
        return
    args.output_dir.mkdir(parents=True, exist_ok=True)
    rows = [measure(official, m, args.official_source, args.output_dir) for m in args.models]
    if "atss_R_50_FPN_1x" in args.models:
        rows.append(
            measure(
                official, "atss_R_50_FPN_1x", args.official_source, args.output_dir,
                ["model.anchor_generator.center_shift=0"],
            )  # fmt: skip
        )
    header = ["model", "detections paired", "largest score difference", "largest box difference"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
