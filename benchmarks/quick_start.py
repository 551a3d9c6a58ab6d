"""
AP on ``shapes_val`` against wall time and CPU time for training recipes of the shapes models,
each run the way a user runs it: ``python train_net.py --config-file CONFIG`` with an empty
dataset directory (so the dataset is generated, as on a fresh machine), from the command to the
AP table. Recipes run one after the other; it prints one row per run (AP, AP50, AP75, APs, APm,
APl, wall and CPU minutes: the README's quick-start table) and one row per recipe over its seeds:

    python benchmarks/quick_start.py [--recipes quick long] [--seeds 0 1] [--evals 4] \\
        [--output-dir output/quick_start] [--plot docs/images/quick_start.png] [KEY=VALUE ...]

The ``custom`` recipe is the Custom CPU config (``configs/Custom/atss_R_18_FPN_cpu.py``) given
the shapes splits by path, as a user gives their own data, trained from scratch
(``train.init_checkpoint=``: no download) over its whole schedule
(``train.early_stop.enabled=False``); the splits are generated before its clock starts.

A run evaluates ``--evals`` times, evenly over its schedule, for the AP-vs-time curve; the times
include those evaluations (a few seconds each), so ``--evals 1`` gives the plain command's
figures. CPU time is user + system time of the whole process tree (train_net.py and its data
workers), sampled when each AP table is printed. Each run's log and a ``results.json`` are written
under ``--output-dir``; ``--plot`` draws AP against wall and CPU time, one line per run. Trailing
``KEY=VALUE`` overrides go to every run (``train.max_iter=20`` for a look at the mechanics).
"""

import atss.require_detectron2  # noqa: F401  (without detectron2: exit 2, naming the set-up)
import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple
import psutil

from detectron2.config import LazyConfig

ROOT = Path(__file__).resolve().parents[1]

# name -> (config, what it is)
RECIPES: Dict[str, Tuple[str, str]] = {
    "quick": ("configs/Shapes/atss_R_18_FPN_shapes.py", "ATSS, the quick start"),
    "long": ("configs/Shapes/atss_R_18_FPN_shapes_long.py", "ATSS, the long recipe"),
    "autoassign": ("configs/Shapes/autoassign_R_18_FPN_shapes.py", "AutoAssign, quick recipe"),
    "aploss": ("configs/Shapes/atss_aploss_R_18_FPN_shapes.py", "ATSS + AP-Loss, quick recipe"),
    "custom": ("configs/Custom/atss_R_18_FPN_cpu.py", "Custom CPU, shapes by path, from scratch"),
}
# Recipes whose config takes its data by path: the shapes splits are given as a user's data.
BY_PATH = {"custom"}
# detectron2's COCO evaluation prints the AP row after this header.
AP_HEADER = "copypaste: AP,AP50,AP75,APs,APm,APl"
TARGET_WALL_S = 300.0
TARGET_CPU_S = 600.0


# The columns of detectron2's AP row, in its order.
AP_COLUMNS = ("AP", "AP50", "AP75", "APs", "APm", "APl")


@dataclass
class Point:
    iteration: int
    wall_s: float
    cpu_s: float
    ap: float
    ap50: float
    ap75: float = math.nan
    aps: float = math.nan
    apm: float = math.nan
    apl: float = math.nan

    def ap_row(self) -> List[float]:
        """The AP columns, as ``AP_COLUMNS``."""
        return [self.ap, self.ap50, self.ap75, self.aps, self.apm, self.apl]


@dataclass
class Run:
    recipe: str
    seed: int
    points: List[Point] = field(default_factory=list)
    wall_s: float = math.nan
    cpu_s: float = math.nan


def tree_cpu_seconds(process: psutil.Process) -> float:
    """User + system seconds of ``process``, its live children and its reaped children."""
    total = 0.0
    for p in [process] + process.children(recursive=True):
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def children_cpu_seconds() -> float:
    """User + system seconds of this process' finished children and their descendants."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def shapes_by_path(root: Path) -> List[str]:
    """The overrides that give the shapes splits, generated where a run of the other recipes
    generates them (``root/shapes``), as a user's data."""
    from atss.data.shapes import ensure_shapes

    overrides = []
    for split, name in (("train", "shapes_train"), ("test", "shapes_val")):
        annotations, images = ensure_shapes(name, str(root / "shapes"))
        overrides += [
            f"dataset.{split}.annotations={annotations}",
            f"dataset.{split}.images={images}",
        ]
    return overrides


def train(recipe: str, seed: int, evals: int, output_dir: Path, overrides: List[str]) -> Run:
    """Runs train_net.py on one recipe and seed; returns the AP after each evaluation."""
    config = RECIPES[recipe][0]
    run_dir = output_dir / f"{recipe}_seed{seed}"
    datasets = run_dir / "datasets"
    if datasets.exists():
        raise SystemExit(f"{datasets} exists: give an --output-dir that was not used before.")
    run_dir.mkdir(parents=True)
    if recipe in BY_PATH:
        whole_schedule = ["train.init_checkpoint=", "train.early_stop.enabled=False"]
        overrides = [*shapes_by_path(datasets), *whole_schedule, *overrides]
    cfg = LazyConfig.apply_overrides(LazyConfig.load(str(ROOT / config)), overrides)
    max_iter = cfg.train.max_iter
    period = math.ceil(max_iter / evals)
    command = [
        sys.executable,
        "train_net.py",
        "--config-file",
        config,
        f"train.seed={seed}",
        f"train.eval_period={period}",
        f"train.output_dir={run_dir / 'train'}",
        *overrides,
    ]
    env = dict(os.environ, ATSS_DATASETS=str(datasets))
    print(f"== {recipe} seed {seed}: {' '.join(command[1:])}", flush=True)
    run = Run(recipe, seed)
    iterations = [min(k * period, max_iter) for k in range(1, evals + 1)]
    cpu_before = children_cpu_seconds()
    start = time.perf_counter()
    with open(run_dir / "log.txt", "w") as log, subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as child:
        process = psutil.Process(child.pid)
        ap_row_next = False
        for line in child.stdout:
            log.write(line)
            if ap_row_next:
                aps = [float(v) for v in line.rsplit("copypaste: ", 1)[1].split(",")]
                wall, cpu = time.perf_counter() - start, tree_cpu_seconds(process)
                point = Point(iterations[len(run.points)], wall, cpu, *aps[: len(AP_COLUMNS)])
                run.points.append(point)
                print(
                    f"   iter {point.iteration:5d}  {wall:7.1f} s  {cpu:7.1f} CPU-s  "
                    f"AP {point.ap:5.1f}"
                )
            ap_row_next = line.rstrip().endswith(AP_HEADER)
        returncode = child.wait()
    run.wall_s = time.perf_counter() - start
    run.cpu_s = children_cpu_seconds() - cpu_before
    if returncode != 0 or len(run.points) != evals:
        raise SystemExit(
            f"{recipe} seed {seed} failed (exit {returncode}, {len(run.points)} of {evals} AP "
            f"tables); see {run_dir / 'log.txt'}"
        )
    return run


def spread(values: List[float]) -> str:
    """``mean`` for one value, ``mean ± half the range`` for several."""
    mean = statistics.mean(values)
    if len(values) == 1:
        return f"{mean:.1f}"
    return f"{mean:.1f} ± {(max(values) - min(values)) / 2:.1f}"


def per_run(runs: List[Run]) -> str:
    """One row per run: its final AP columns and its wall and CPU minutes."""
    header = ["recipe", "seed", *AP_COLUMNS, "wall (min)", "CPU (min)"]
    lines = [" ".join(f"{h:<10}" for h in header), "-" * 110]
    for r in runs:
        values = [*r.points[-1].ap_row(), r.wall_s / 60, r.cpu_s / 60]
        lines.append(
            f"{r.recipe:<10} {r.seed:<10} " + " ".join(f"{v:<10.1f}" for v in values)
        )
    return "\n".join(lines)


def summary(runs: List[Run]) -> str:
    lines = [
        f"{'recipe':<11} {'seeds':<6} {'AP':<11} {'AP50':<11} {'wall (min)':<11} "
        f"{'CPU (min)':<11} what",
        "-" * 90,
    ]
    for recipe in dict.fromkeys(r.recipe for r in runs):
        mine = [r for r in runs if r.recipe == recipe]
        lines.append(
            f"{recipe:<11} {','.join(str(r.seed) for r in mine):<6} "
            f"{spread([r.points[-1].ap for r in mine]):<11} "
            f"{spread([r.points[-1].ap50 for r in mine]):<11} "
            f"{spread([r.wall_s / 60 for r in mine]):<11} "
            f"{spread([r.cpu_s / 60 for r in mine]):<11} {RECIPES[recipe][1]}"
        )
    return "\n".join(lines)


def plot(runs: List[Run], path: Path) -> None:
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for run in runs:
        label = f"{run.recipe} (seed {run.seed})"
        for ax, key in zip(axes, ("wall_s", "cpu_s")):
            ax.plot(
                [getattr(p, key) / 60 for p in run.points],
                [p.ap for p in run.points],
                "o-",
                label=label,
            )
    for ax, name, target in zip(axes, ("wall", "CPU"), (TARGET_WALL_S, TARGET_CPU_S)):
        ax.axvline(target / 60, color="gray", linestyle=":")
        ax.axhline(40.0, color="gray", linestyle=":")
        ax.set_xlabel(f"{name} time (min), dataset generation included")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("AP on shapes_val")
    axes[1].legend(loc="lower right")
    figure.suptitle("python train_net.py --config-file <recipe> (2 cores, no GPU)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipes", nargs="+", choices=sorted(RECIPES), default=["quick", "long"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--evals", type=int, default=4, help="AP tables per run (1: the plain run)")
    parser.add_argument("--output-dir", type=Path, default=Path("output/quick_start"))
    parser.add_argument("--plot", type=Path, help="PNG of AP against wall and CPU time")
    parser.add_argument("overrides", nargs="*", help="KEY=VALUE config overrides for every run")
    args = parser.parse_args()
    if args.evals < 1:
        parser.error("--evals must be at least 1")

    runs = [
        train(recipe, seed, args.evals, args.output_dir.resolve(), args.overrides)
        for recipe in args.recipes
        for seed in args.seeds
    ]
    (args.output_dir / "results.json").write_text(json.dumps([asdict(r) for r in runs], indent=1))
    print(per_run(runs))
    print()
    print(summary(runs))
    if args.plot:
        plot(runs, args.plot)


if __name__ == "__main__":
    main()
