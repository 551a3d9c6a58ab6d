"""
A trained model's detections in bfloat16 against float32 on a CPU, on its config's test set: the
AP of each precision, and for each float32 detection its bfloat16 twin (the detection of its
class that overlaps it most), with their IoU and score difference.

    python benchmarks/bfloat16_detections.py --config-file RUN/config.yaml \\
        train.init_checkpoint=RUN/model_final.pth [--score 0.3] [key=value ...]

The model runs as evaluation runs it (``atss.config.precision.apply_precision``): once in float32,
once under bfloat16 autocast with the memory format of the config's ``train.amp.channels_last``
(on a CPU without native bfloat16 units bfloat16 is emulated: right, but slow). The checks, whose
failure makes the exit status 1:

* the AP of bfloat16 within ``AP_TOLERANCE`` points of float32's;
* at least ``TWIN_SHARE`` of the float32 detections scoring ``--score`` or more have a bfloat16
  twin at an IoU of ``TWIN_IOU`` or more.
"""

import atss.require_detectron2  # noqa: F401  (without detectron2: exit 2, naming the set-up)
import argparse
import copy
from typing import Dict, List, NamedTuple, Tuple
import torch

from detectron2.config import instantiate
from detectron2.structures import Instances, pairwise_iou

from atss.checkpoint.loading import load_model
from atss.checkpoint.resilient import CheckpointError
from atss.config import ConfigError, configure_user_datasets, load_config
from atss.config.precision import apply_precision, precision_of_config
from atss.engine.data_setup import configure_lazy_data

AP_TOLERANCE = 0.5  # AP points
TWIN_IOU = 0.9
TWIN_SHARE = 0.98
AP_KEYS = ("AP", "AP50", "AP75")


def twins(reference: Instances, other: Instances) -> Tuple[torch.Tensor, torch.Tensor]:
    """
    For each of the R detections of ``reference``, the detection of ``other`` of the same class
    that overlaps it most: their IoU (R,), 0 where ``other`` has none of its class, and the
    absolute difference of their scores (R,), NaN where there is no twin.
    """
    iou = pairwise_iou(reference.pred_boxes, other.pred_boxes)  # (R, O)
    same_class = reference.pred_classes[:, None] == other.pred_classes[None, :]
    iou = torch.where(same_class, iou, torch.zeros(()))
    if iou.shape[1] == 0:
        return iou.new_zeros(len(reference)), iou.new_full((len(reference),), float("nan"))
    best_iou, best = iou.max(dim=1)
    score_diff = (reference.scores - other.scores[best]).abs()
    no_twin = torch.full_like(score_diff, float("nan"))
    return best_iou, torch.where(best_iou > 0, score_diff, no_twin)


class Comparison(NamedTuple):
    """
    ap: COCO's AP, AP50, AP75 ... of each precision ("float32", "bfloat16").
    counts: each precision's detections scoring at least the compared score.
    iou, score_diff (N,): :func:`twins` of the N float32 detections scoring at least that.
    """

    ap: Dict[str, Dict[str, float]]
    counts: Dict[str, int]
    iou: torch.Tensor
    score_diff: torch.Tensor


def run(cfg, score: float) -> Comparison:
    """The config's model, with its weights, in float32 and in bfloat16 on its test set."""
    float32 = load_model(cfg, device="cpu").eval()
    bfloat16 = copy.deepcopy(float32)
    models = {
        "float32": apply_precision(float32, precision_of_config(cfg, "cpu", enabled=False)),
        "bfloat16": apply_precision(bfloat16, precision_of_config(cfg, "cpu", enabled=True)),
    }
    evaluators = {name: instantiate(cfg.dataloader.evaluator) for name in models}
    for evaluator in evaluators.values():
        evaluator.reset()
    ious: List[torch.Tensor] = []
    score_diffs: List[torch.Tensor] = []
    counts = {name: 0 for name in models}
    with torch.no_grad():
        for inputs in instantiate(cfg.dataloader.test):
            outputs = {name: model(inputs) for name, model in models.items()}
            for name, evaluator in evaluators.items():
                evaluator.process(inputs, outputs[name])
            for reference, other in zip(outputs["float32"], outputs["bfloat16"]):
                reference, other = reference["instances"], other["instances"]
                compared = reference.scores >= score
                counts["float32"] += int(compared.sum())
                counts["bfloat16"] += int((other.scores >= score).sum())
                iou, score_diff = twins(reference[compared], other)
                ious.append(iou)
                score_diffs.append(score_diff)
    ap = {name: evaluator.evaluate()["bbox"] for name, evaluator in evaluators.items()}
    return Comparison(ap, counts, torch.cat(ious), torch.cat(score_diffs))


def report(comparison: Comparison, score: float) -> List[str]:
    """The printed table, and a line per failed check (prefixed ``FAILED``)."""
    ap, counts, iou, score_diff = comparison
    lines = ["| | " + " | ".join(AP_KEYS) + f" | detections (score >= {score:g}) |"]
    lines.append("|---|" + "---|" * (len(AP_KEYS) + 1))
    for name in ("float32", "bfloat16"):
        cells = [f"{ap[name][k]:.2f}" for k in AP_KEYS] + [str(counts[name])]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    share = float((iou >= TWIN_IOU).float().mean()) if len(iou) else 1.0
    matched = score_diff[~score_diff.isnan()]
    lines.append(
        f"Twins of the {len(iou)} float32 detections: {100 * share:.1f}% at IoU >= {TWIN_IOU}; "
        + (
            f"IoU median {iou.median():.4f}, lowest {iou.min():.4f}; score difference median "
            f"{matched.median():.4f}, largest {matched.max():.4f}"
            if len(matched)
            else "none has a twin"
        )
    )
    ap_diff = ap["bfloat16"]["AP"] - ap["float32"]["AP"]
    lines.append(f"AP difference (bfloat16 - float32): {ap_diff:+.2f} points")
    if abs(ap_diff) > AP_TOLERANCE:
        lines.append(f"FAILED: the AP differs by more than {AP_TOLERANCE} points")
    if share < TWIN_SHARE:
        lines.append(
            f"FAILED: fewer than {100 * TWIN_SHARE:.0f}% of the float32 detections have a twin "
            f"at IoU >= {TWIN_IOU}"
        )
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config-file", required=True, help="a config or a run's config.yaml")
    parser.add_argument(
        "--score", type=float, default=0.3, help="the float32 detections whose twins are sought"
    )
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="key=value overrides")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config_file, args.opts)
        configure_user_datasets(cfg, evaluate=True)
        configure_lazy_data(cfg)
        comparison = run(cfg, args.score)
    except (ConfigError, CheckpointError) as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")
    lines = report(comparison, args.score)
    print("\n".join(lines))
    return 1 if any(line.startswith("FAILED") for line in lines) else 0


if __name__ == "__main__":
    raise SystemExit(main())
