"""
CPU latency of one 800x1216 image through ATSS R-50 FPN exported for deployment, next to
detectron2's own RetinaNet R-50 FPN exported the same way, in one run:

    python benchmarks/export_speed.py [--height 800 --width 1216 --repeats 5 --threads 2]

For each model: eager PyTorch, TorchScript traced and scripted (``atss.export``, the code of
``tools/deploy/export_model.py``) and the traced ONNX model in ONNX Runtime, all on ``--threads``
CPU threads. Each figure is the median of ``--repeats`` runs after two warm-up runs (TorchScript
optimises on its first calls). Random weights, made to behave like trained ones (see
``detecting_random_weights``); every exported model is checked to give the eager model's
detections on the image before it is timed.
"""

import atss.require_detectron2  # noqa: F401  (without detectron2: exit 2, naming the set-up)
import argparse
import os
import tempfile
from pathlib import Path
import torch

from detectron2.config import LazyConfig, instantiate
from detectron2.model_zoo import get_config
from detectron2.modeling.backbone.resnet import BottleneckBlock
from detectron2.structures import Instances, pairwise_iou

from atss.export import ExportedDetector, export_scripting, export_tracing, plain_module_attributes
from timing import median_seconds

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
VARIANTS = ("eager", "TorchScript traced", "TorchScript scripted", "ONNX Runtime")


def detecting_random_weights(model: torch.nn.Module) -> torch.nn.Module:
    """
    Random weights give activations in the thousands through 16 un-normalised residual blocks
    (frozen BatchNorm is the identity), where float rounding alone changes which boxes survive;
    zero-initialised residual branches (Goyal et al., 2017) keep them bounded. A classification
    bias at probability 0.12 makes candidates pass the score threshold, so NMS has work as in a
    trained model.
    """
    for block in model.modules():
        if isinstance(block, BottleneckBlock):
            torch.nn.init.zeros_(block.conv3.norm.weight)
    torch.nn.init.constant_(model.head.cls_score.bias, -2.0)
    return model


def check_same_detections(exported: Instances, eager: Instances, name: str) -> None:
    """
    Each exported detection is an eager one: same class, IoU >= 0.999, score within 1e-4
    relative. Matched regardless of order: among the millions of (anchor, class) candidates of
    random weights on an 800x1216 image, scores closer than float rounding are common, so two
    candidates may swap places (tests/export/test_export.py checks the order, on small images).
    """
    if len(exported) != len(eager):
        raise AssertionError(f"{name}: {len(exported)} detections vs {len(eager)} eager")
    iou = pairwise_iou(exported.pred_boxes, eager.pred_boxes)
    same_class = exported.pred_classes[:, None] == eager.pred_classes[None, :]
    close_score = (exported.scores[:, None] - eager.scores[None, :]).abs() <= 1e-4 * eager.scores
    matched = ((iou >= 0.999) & same_class & close_score).any(dim=1)
    if not matched.all():
        raise AssertionError(f"{name}: {int((~matched).sum())} detections differ from eager")


def measure(model, image: torch.Tensor, repeats: int, threads: int, workdir: str) -> dict:
    model = plain_module_attributes(detecting_random_weights(model).eval())
    with torch.no_grad():
        eager = model([{"image": image}])[0]["instances"]
    print(f"{type(model).__name__}: {len(eager)} detections")
    runners = {}
    for variant, method, fmt in [
        ("TorchScript traced", "tracing", "torchscript"),
        ("TorchScript scripted", "scripting", "torchscript"),
        ("ONNX Runtime", "tracing", "onnx"),
    ]:
        out = os.path.join(workdir, variant.replace(" ", "_"))
        os.makedirs(out)
        if method == "tracing":
            path = export_tracing(model, image, fmt, out)
        else:
            path = export_scripting(model, out)
        runner = ExportedDetector(path, method, num_threads=threads)
        # Resized to the input size as the eager model's: RetinaNet clips its boxes only there.
        detections = runner.eval_function()([{"image": image}])[0]["instances"]
        check_same_detections(detections, eager, variant)
        runners[variant] = runner

    def run_eager():
        with torch.no_grad():
            model([{"image": image}])

    times = {"eager": median_seconds(run_eager, repeats, warmup=2)}
    for variant, runner in runners.items():
        times[variant] = median_seconds(lambda: runner.raw(image), repeats, warmup=2)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--height", type=int, default=800)
    parser.add_argument("--width", type=int, default=1216)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    image = torch.rand(3, args.height, args.width) * 255

    models = {
        "ATSS R-50 FPN": LazyConfig.load(str(CONFIGS / "ATSS" / "atss_R_50_FPN_1x.py")).model,
        "RetinaNet R-50 FPN (detectron2)": get_config(
            "COCO-Detection/retinanet_R_50_FPN_1x.py"
        ).model,
    }
    results = {}
    with tempfile.TemporaryDirectory() as workdir:
        for i, (name, model_cfg) in enumerate(models.items()):
            model_dir = os.path.join(workdir, str(i))
            results[name] = measure(
                instantiate(model_cfg), image, args.repeats, args.threads, model_dir
            )

    print(
        f"\nMedian latency of one {args.height}x{args.width} image, {args.threads} CPU threads, "
        f"seconds (median of {args.repeats}):"
    )
    header = f"| model | {' | '.join(VARIANTS)} |"
    print(header)
    print("|" + "---|" * (len(VARIANTS) + 1))
    for name, times in results.items():
        print(f"| {name} | " + " | ".join(f"{times[v]:.2f}" for v in VARIANTS) + " |")


if __name__ == "__main__":
    main()
