"""
One training step and one inference of the CPU models in float32 and in bfloat16 autocast, each
with contiguous (NCHW) and channels_last weights, and bfloat16 + channels_last with the trunk and
head compiled by ``torch.compile``, side by side in one run; the CPU's bfloat16 units first.

    python benchmarks/cpu_precision.py [--models quick custom r50] [--steps train inference] \\
        [--repeats 5] [--threads N] [--no-compile]

The models run the way training and inference run them (``atss.config.precision.apply_precision``),
with random weights (timing does not depend on them) on random images with 8 boxes each:

* quick: the quick start's model (``configs/Shapes/atss_R_18_FPN_shapes.py``), 16 images 128x128;
* custom: the Custom CPU model (``configs/Custom/atss_R_18_FPN_cpu.py``), 8 images 320x320;
* r50: ATSS R-50 FPN (``configs/ATSS/atss_R_50_FPN_1x.py``), one image 800x1216.

A training step is forward + backward + an AdamW step; inference is the eval-mode forward with
its post-processing, on the first image. Each figure is the median of ``--repeats`` runs after
one warm-up run, the variants called in turn (so that a shared machine's changing load slows all
alike); the compiled column's first call, which compiles, is given apart, in seconds.
"""

import atss.require_detectron2  # noqa: F401  (without detectron2: exit 2, naming the set-up)
import argparse
import statistics
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple
import torch

from detectron2.config import LazyConfig, instantiate
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage

from atss.config.precision import Precision, apply_precision, cpu_bfloat16_units

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

# name -> (config, images per training step, image height, width)
MODELS: Dict[str, Tuple[str, int, int, int]] = {
    "quick": ("Shapes/atss_R_18_FPN_shapes.py", 16, 128, 128),
    "custom": ("Custom/atss_R_18_FPN_cpu.py", 8, 320, 320),
    "r50": ("ATSS/atss_R_50_FPN_1x.py", 1, 800, 1216),
}
VARIANTS = {
    "fp32": (torch.float32, False),
    "fp32+cl": (torch.float32, True),
    "bf16": (torch.bfloat16, False),
    "bf16+cl": (torch.bfloat16, True),
}
COMPILED = "bf16+cl, compiled"
STEPS = ("train", "inference")
NUM_CLASSES = 3


def make_inputs(num_images: int, height: int, width: int) -> List[dict]:
    generator = torch.Generator().manual_seed(0)
    inputs = []
    for _ in range(num_images):
        image = torch.rand(3, height, width, generator=generator) * 255
        size = torch.tensor([width, height])
        xy = torch.rand(8, 2, generator=generator) * size * 0.7
        wh = (0.05 + torch.rand(8, 2, generator=generator) * 0.25) * size
        instances = Instances((height, width))
        instances.gt_boxes = Boxes(torch.cat([xy, xy + wh], dim=1))
        instances.gt_classes = torch.randint(0, NUM_CLASSES, (8,), generator=generator)
        inputs.append({"image": image, "instances": instances})
    return inputs


def build(config: str, dtype: torch.dtype, channels_last: bool, compiled: bool):
    cfg = LazyConfig.load(str(CONFIGS / config))
    cfg.model.num_classes = NUM_CLASSES
    torch.manual_seed(0)
    model = apply_precision(
        instantiate(cfg.model), Precision("cpu", dtype, channels_last, "benchmark")
    )
    if compiled:
        model.backbone.compile()
        model.head.compile()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    return model, optimizer


def steps(model, optimizer, inputs) -> Tuple[Callable, Callable]:
    def train_step():
        model.train()
        with EventStorage():
            losses = model(inputs)
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()

    def inference():
        model.eval()
        with torch.no_grad():
            model([{"image": inputs[0]["image"]}])

    return train_step, inference


def interleaved_medians(fns: Dict[str, Callable], repeats: int) -> Dict[str, float]:
    """
    Median seconds of each function, called in turn ``repeats`` times after one untimed call
    each: a change of load on a shared machine slows every column alike.
    """
    for fn in fns.values():
        fn()
    times: Dict[str, List[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--no-compile", action="store_true", help="leave out torch.compile")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    units = cpu_bfloat16_units()
    print(
        f"CPU: {torch.cpu.get_capabilities().get('cpu_name', '?')}, {args.threads} threads, "
        f"native bfloat16 units: {', '.join(units) or 'none (bfloat16 is emulated)'}; "
        f"torch {torch.__version__}; median of {args.repeats}, ms (speed-up over fp32)"
    )
    columns = list(VARIANTS) + ([] if args.no_compile else [COMPILED])
    print("| model | step | " + " | ".join(columns) + " |")
    print("|---|---|" + "---|" * len(columns))
    for name in args.models:
        config, num_images, height, width = MODELS[name]
        inputs = make_inputs(num_images, height, width)
        built = {v: build(config, *VARIANTS[v], compiled=False) for v in VARIANTS}
        compile_s = {}
        if not args.no_compile:
            built[COMPILED] = build(config, torch.bfloat16, True, compiled=True)
        for kind in args.steps:
            fns = {v: steps(*built[v], inputs)[STEPS.index(kind)] for v in built}
            if COMPILED in fns:
                start = time.perf_counter()
                fns[COMPILED]()
                compile_s[kind] = time.perf_counter() - start
            medians = interleaved_medians(fns, args.repeats)
            base = medians["fp32"]
            cells = [f"{1e3 * base:.0f}"] + [
                f"{1e3 * medians[v]:.0f} (x{base / medians[v]:.2f})" for v in columns[1:]
            ]
            if COMPILED in medians:
                cells[-1] += f", first call {compile_s[kind]:.0f} s"
            shape = f"{num_images if kind == 'train' else 1}x{height}x{width}"
            print(f"| {name} | {kind}, {shape} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
