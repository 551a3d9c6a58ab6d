#!/usr/bin/env python
"""
Cost of ATSS label assignment (Algorithm 1) per image as the number of ground truths grows:
time and peak extra memory of three implementations on an 800 x 1216 image with the anchors of
P3-P7 (strides 8-128; one square anchor of side 8 * stride per location, or RetinaNet's 3 scales x
3 aspect ratios), for 10, 100, 1000 and 5000 ground truths:

- "fast":     ``atss.assignment.atss_assign(use_grid=True)``, candidates from the anchor grid
              (``atss.anchor_grid``), O(A + G * k * L).
- "dense":    ``atss_assign(use_grid=False)``, the (G, A_l) distance matrix of each level.
- "official": the official ATSS code's cost structure, re-implemented here (``official_assign``):
              full (A, G) IoU and distance matrices, per-level top-k over them, anchor centres
              expanded to (G * A,), a Python loop over the ground truths, and the dense (A, G)
              "ious_inf" matrix to resolve anchors claimed by several ground truths.

All three select k = ``--topk`` (9) anchors per level, ``atss_assign``'s default; the official
code takes ``TOPK * anchors_per_location`` (81 with nine anchors per location): ``--topk 81``.

Measurement: every (path, anchors per location, ground truths, device) case runs in a fresh
subprocess limited to one CPU thread (``torch.set_num_threads(1)``), after one warm-up call with
10 ground truths. Time is the median over the calls after the first (``--quick``: the first call,
which also pays for first-touching its memory). Peak extra memory on the CPU is the growth of the
process's resident-set high-water mark (``resource.getrusage(...).ru_maxrss``) during the first
call: it counts every page torch's allocator touched, to a page and a few MB of allocator reuse
(``tracemalloc`` does not see torch's allocations). On CUDA it is
``torch.cuda.max_memory_allocated()`` during the call minus the memory allocated before. Cases
whose estimated peak exceeds ``--memory-cap-gb`` (8) are skipped and printed as "skip". The fast
result is asserted equal to the dense one (where the dense case is skipped, the fast candidates to
the dense ones, computed in chunks of ground truths); "official = dense" tells whether the
official-style baseline gave the same assignment.

Usage (from the repository root): ``python benchmarks/assignment.py [--quick]``.
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
import tempfile
import time
from typing import Callable, Dict, List, Optional
import torch

from detectron2.modeling.anchor_generator import DefaultAnchorGenerator
from detectron2.structures import Boxes, pairwise_iou

from atss.anchor_grid import grid_topk_candidates
from atss.assignment import NEGATIVE, atss_assign, topk_nearest_candidates

IMAGE_SIZE = (800, 1216)  # (height, width)
STRIDES = (8, 16, 32, 64, 128)
NUM_GTS = (10, 100, 1000, 5000)
CELLS_PER_LOCATION = (1, 9)
PATHS = ("fast", "dense", "official")
# Estimated peak bytes per (anchor, ground truth) pair, from this script's measurements (26 and
# 23) with a margin: the dense path holds a level's distances, squares and int64 sort keys at
# once; the official one the IoU and distance matrices and their (A, G, 2) intermediates.
BYTES_PER_PAIR = {"dense": 32, "official": 28}


def make_anchors(cells_per_location: int, device: str) -> List[torch.Tensor]:
    """Anchors of P3-P7 from detectron2's DefaultAnchorGenerator (offset 0.5, as ATSS)."""
    if cells_per_location == 1:
        sizes = [[8 * s] for s in STRIDES]
        aspect_ratios = [1.0]
    else:
        sizes = [[4 * s * 2 ** (i / 3) for i in range(3)] for s in STRIDES]
        aspect_ratios = [0.5, 1.0, 2.0]
    generator = DefaultAnchorGenerator(
        sizes=sizes, aspect_ratios=aspect_ratios, strides=list(STRIDES), offset=0.5
    ).to(device)
    height, width = IMAGE_SIZE
    features = [
        torch.zeros(1, 1, math.ceil(height / s), math.ceil(width / s), device=device)
        for s in STRIDES
    ]
    return [boxes.tensor for boxes in generator(features)]


def make_gt_boxes(num_gt: int, device: str) -> torch.Tensor:
    """Boxes of log-uniform side 16-512 at uniform centres, clipped to the image; seeded."""
    g = torch.Generator().manual_seed(num_gt)
    height, width = IMAGE_SIZE
    centers = torch.rand(num_gt, 2, generator=g) * torch.tensor([width, height])
    half = torch.exp(torch.empty(num_gt, 2).uniform_(math.log(8), math.log(256), generator=g))
    boxes = torch.cat([centers - half, centers + half], dim=1)
    boxes = torch.minimum(boxes.clamp(min=0), torch.tensor([width, height, width, height]))
    return boxes.to(device)


def official_assign(anchors_per_level: List[torch.Tensor], gt_boxes: torch.Tensor, topk: int):
    """
    ATSS assignment for one image with the official implementation's tensors and loop, for its
    cost; (A,) index of the ground truth or NEGATIVE.
    """
    anchors = torch.cat(anchors_per_level)
    num_anchors, num_gt = anchors.shape[0], gt_boxes.shape[0]
    ious = pairwise_iou(Boxes(anchors), Boxes(gt_boxes))  # (A, G)
    anchor_ctrs = (anchors[:, :2] + anchors[:, 2:]) / 2
    gt_ctrs = (gt_boxes[:, :2] + gt_boxes[:, 2:]) / 2
    distances = (anchor_ctrs[:, None, :] - gt_ctrs[None, :, :]).pow(2).sum(-1).sqrt()  # (A, G)

    candidates, start = [], 0
    for level_anchors in anchors_per_level:
        end = start + level_anchors.shape[0]
        k = min(topk, level_anchors.shape[0])
        candidates.append(distances[start:end].topk(k, dim=0, largest=False).indices + start)
        start = end
    candidates = torch.cat(candidates)  # (K, G)
    candidate_ious = ious[candidates, torch.arange(num_gt, device=anchors.device)]
    threshold = candidate_ious.mean(0) + candidate_ious.std(0)
    is_pos = candidate_ious >= threshold[None]

    # Centre inside the box, through anchor centres repeated for every ground truth and indices
    # shifted one ground truth at a time, as the official code does.
    for gt in range(num_gt):
        candidates[:, gt] += gt * num_anchors
    repeated_x = anchor_ctrs[:, 0].view(1, -1).expand(num_gt, num_anchors).contiguous().view(-1)
    repeated_y = anchor_ctrs[:, 1].view(1, -1).expand(num_gt, num_anchors).contiguous().view(-1)
    candidates = candidates.view(-1)
    cand_x = repeated_x[candidates].view(-1, num_gt)
    cand_y = repeated_y[candidates].view(-1, num_gt)
    sides = torch.stack(
        [
            cand_x - gt_boxes[:, 0],
            cand_y - gt_boxes[:, 1],
            gt_boxes[:, 2] - cand_x,
            gt_boxes[:, 3] - cand_y,
        ],
        dim=1,
    )
    is_pos = is_pos & (sides.min(dim=1).values > 0.01)

    # Highest IoU wins, through the dense (G * A,) "ious_inf" matrix.
    ious_inf = torch.full_like(ious, -math.inf).t().contiguous().view(-1)
    positive = candidates[is_pos.view(-1)]
    ious_inf[positive] = ious.t().contiguous().view(-1)[positive]
    best, matched = ious_inf.view(num_gt, -1).t().max(dim=1)
    return torch.where(best == -math.inf, NEGATIVE, matched)


def fast_assign(anchors_per_level, gt_boxes, topk):
    return atss_assign(anchors_per_level, gt_boxes, topk=topk, use_grid=True)


def dense_assign(anchors_per_level, gt_boxes, topk):
    return atss_assign(anchors_per_level, gt_boxes, topk=topk, use_grid=False)


ASSIGN: Dict[str, Callable] = {
    "fast": fast_assign,
    "dense": dense_assign,
    "official": official_assign,
}


def estimated_bytes(path: str, cells_per_location: int, num_gt: int) -> float:
    if path == "fast":
        return 0.0
    height, width = IMAGE_SIZE
    locations = sum(math.ceil(height / s) * math.ceil(width / s) for s in STRIDES)
    return BYTES_PER_PAIR[path] * locations * cells_per_location * num_gt


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _max_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def run_case(args) -> Dict:
    """One case in this (fresh) process; returns its measurements."""
    torch.set_num_threads(1)
    device, topk = args.device, args.topk
    assign = ASSIGN[args.path]
    anchors = make_anchors(args.cells, device)
    gt_boxes = make_gt_boxes(args.num_gt, device)
    assign(anchors, make_gt_boxes(10, device), topk)  # warm-up: kernels, allocator, threads

    _sync(device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = _max_rss_bytes()
    start = time.perf_counter()
    result = assign(anchors, gt_boxes, topk)
    _sync(device)
    times = [time.perf_counter() - start]
    peak = (torch.cuda.max_memory_allocated() if device == "cuda" else _max_rss_bytes()) - base

    while len(times) < 1 + args.repeats and sum(times[1:]) < args.min_seconds:
        start = time.perf_counter()
        assign(anchors, gt_boxes, topk)
        _sync(device)
        times.append(time.perf_counter() - start)

    check = _check(args, anchors, gt_boxes, result)
    return {
        "ms": 1e3 * statistics.median(times[1:] or times),
        "mb": max(peak, 0) / 2**20,
        "check": check,
    }


def _check(args, anchors, gt_boxes, result) -> Optional[str]:
    """Save the dense result; compare the fast and official ones with it."""
    saved = os.path.join(args.results_dir, f"{args.device}-{args.cells}-{args.num_gt}.pt")
    if args.path == "dense":
        torch.save(result.cpu(), saved)
        return None
    if os.path.exists(saved):
        same = torch.equal(result.cpu(), torch.load(saved))
        assert same or args.path == "official", "fast assignment differs from the dense one"
        return "yes" if same else "no"
    if args.path == "fast":
        # The dense assignment did not fit: compare the candidates, by chunks of ground truths.
        centers = (gt_boxes[:, :2] + gt_boxes[:, 2:]) / 2
        fast = grid_topk_candidates(anchors, centers, args.topk)
        assert fast is not None, "the fast path fell back to the dense one"
        for chunk in range(0, len(centers), 250):
            dense = topk_nearest_candidates(anchors, centers[chunk : chunk + 250], args.topk)
            assert torch.equal(fast[chunk : chunk + 250], dense), "fast candidates differ"
    return None


def _subprocess(args, path: str, cells: int, num_gt: int, device: str) -> Dict:
    command = [sys.executable, os.path.abspath(__file__), "--case", path, "--cells", str(cells)]
    command += ["--num-gt", str(num_gt), "--device", device, "--topk", str(args.topk)]
    command += ["--results-dir", args.results_dir, "--repeats", str(args.repeats)]
    command += ["--min-seconds", str(args.min_seconds)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        case = f"{path}, {cells} anchors/location, {num_gt} GTs on {device}"
        sys.exit(f"case {case} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(args) -> None:
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    cap = args.memory_cap_gb * 2**30
    header = (
        f"{'device':6} {'anch/loc':>8} {'GTs':>5} | {'fast ms':>8} {'fast MB':>8} | "
        f"{'dense ms':>9} {'dense MB':>9} | {'official ms':>11} {'official MB':>11} | "
        f"{'dense/fast':>10} {'official = dense':>16}"
    )
    print(
        f"ATSS assignment, {IMAGE_SIZE[0]}x{IMAGE_SIZE[1]} image, P3-P7, k={args.topk}, "
        "1 CPU thread; ms per image, peak extra memory in MB"
    )
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as results_dir:
        args.results_dir = results_dir
        for device in devices:
            for cells in CELLS_PER_LOCATION:
                for num_gt in NUM_GTS:
                    row = {}
                    # Dense before fast and official: they compare their result with its.
                    for path in ("dense", "fast", "official"):
                        if estimated_bytes(path, cells, num_gt) > cap:
                            row[path] = None
                        else:
                            row[path] = _subprocess(args, path, cells, num_gt, device)
                    print(_format_row(device, cells, num_gt, row), flush=True)
    print(f"skip: estimated peak above {args.memory_cap_gb:g} GB (--memory-cap-gb)")


def _format_row(device: str, cells: int, num_gt: int, row: Dict) -> str:
    def cell(path: str, key: str, width: int) -> str:
        if row[path] is None:
            return f"{'skip':>{width}}"
        return f"{row[path][key]:>{width}.1f}"

    speedup = (
        f"{row['dense']['ms'] / row['fast']['ms']:>9.1f}x" if row["dense"] else f"{'-':>10}"
    )
    same = row["official"]["check"] if row["official"] and row["official"]["check"] else "-"
    return (
        f"{device:6} {cells:>8} {num_gt:>5} | {cell('fast', 'ms', 8)} {cell('fast', 'mb', 8)} | "
        f"{cell('dense', 'ms', 9)} {cell('dense', 'mb', 9)} | "
        f"{cell('official', 'ms', 11)} {cell('official', 'mb', 11)} | {speedup} {same:>16}"
    )


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="time the first call only (about twice as fast)"
    )
    parser.add_argument("--topk", type=int, default=9, help="candidates per level")
    parser.add_argument("--memory-cap-gb", type=float, default=8.0)
    parser.add_argument("--repeats", type=int, default=5, help="timed calls after the first")
    parser.add_argument("--min-seconds", type=float, default=1.0, help="stop repeating after")
    parser.add_argument("--case", choices=PATHS, help=argparse.SUPPRESS)
    parser.add_argument("--cells", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--num-gt", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    parser.add_argument("--results-dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = 0
    return args


if __name__ == "__main__":
    args = parse_args()
    if args.case:
        args.path = args.case
        print(json.dumps(run_case(args)))
    else:
        main(args)
