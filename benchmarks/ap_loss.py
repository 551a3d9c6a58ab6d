#!/usr/bin/env python
"""
Cost of AP-Loss (loss value and gradient) on the CPU: ``atss.losses.ap_loss`` (searchsorted into
the sorted step breakpoints of the positives, bincount and prefix sums, O((P + N) log P)) against
``official_ap_loss``, a re-implementation of the official code's per-positive loop
(cccorn/AP-loss lib/model/aploss.py: prune negatives below min(positives) - delta, sort the
positives, then one vector pass over all positives and all kept negatives per positive,
O(P (P + N'))), for P in {100, 1000, 5000} positive items and N in {1e5, 1e6, 1e7} negative items.

Inputs (float32, as in training): one image of R anchors and K = 20 classes with R * K = P + N;
P anchors are positive (one positive item and 19 negative items each), the others background.
Logits are drawn as at the start of training, where the official pruning removes almost nothing:
negatives N(-4.6, 1), positives N(-3.6, 1), rounded to multiples of 1/256 so that ties occur.

Measurement: every (implementation, P, N) case runs in a fresh subprocess with one CPU thread.
Time is loss + backward of one call, the best of 3 calls (the official loop: of 3 calls when the
first takes under 5 s, else of that one). Peak extra memory is the
growth of the process's resident-set high-water mark (/proc/self/status VmHWM, reset through
/proc/self/clear_refs) during the first call, over the inputs already in memory. The official
loop stops at ``--cap`` seconds (60): its time is then extrapolated from the fraction of
positives done (its passes cost the same) and printed with "~", the equality check is "skip".
Where it finishes, its loss and gradient are asserted equal to the fast path's:
|a - b| <= 1e-5 * max|b| (the official loop accumulates in float32).

Usage (from the repository root): ``python benchmarks/ap_loss.py [--cap SECONDS] [--quick]``.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Tuple
import torch

from atss.losses import ap_loss

# The official loop is the tests' reference implementation.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "references"))
from official_ap_loss import official_ap_loss  # noqa: E402

NUM_CLASSES = 20


def make_inputs(num_pos: int, num_neg: int, seed: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """(1, R, K) logits and (1, R) labels: ``num_pos`` positive, ``num_neg`` negative items."""
    total = num_pos + num_neg
    if total % NUM_CLASSES:
        raise ValueError(f"P + N = {total} is not a multiple of K = {NUM_CLASSES}")
    num_anchors = total // NUM_CLASSES
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(1, num_anchors, NUM_CLASSES, generator=gen) - 4.6
    labels = torch.full((1, num_anchors), NUM_CLASSES)
    pos_anchors = torch.randperm(num_anchors, generator=gen)[:num_pos]
    pos_classes = torch.randint(NUM_CLASSES, (num_pos,), generator=gen)
    labels[0, pos_anchors] = pos_classes
    logits[0, pos_anchors, pos_classes] += 1.0
    return (logits * 256).round() / 256, labels


def _rss_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def worker(impl: str, num_pos: int, num_neg: int, cap: float) -> Dict:
    torch.set_num_threads(1)
    logits, labels = make_inputs(num_pos, num_neg)
    base = _rss_kb("VmRSS")
    _reset_peak()
    start = time.perf_counter()
    if impl == "fast":
        x = logits.clone().requires_grad_()
        loss = ap_loss(x, labels)
        loss.backward()
        seconds = time.perf_counter() - start
        peak_mb = (_rss_kb("VmHWM") - base) / 1024
        for _ in range(2):
            x = logits.clone().requires_grad_()
            start = time.perf_counter()
            ap_loss(x, labels).backward()
            seconds = min(seconds, time.perf_counter() - start)
        return {"seconds": seconds, "peak_mb": peak_mb, "loss": float(loss)}

    loss, grad, fraction = official_ap_loss(logits, labels, time_cap=cap)
    seconds = time.perf_counter() - start
    peak_mb = (_rss_kb("VmHWM") - base) / 1024
    if seconds < 5:
        for _ in range(2):
            start = time.perf_counter()
            official_ap_loss(logits, labels)
            seconds = min(seconds, time.perf_counter() - start)
    result = {"seconds": seconds / fraction, "peak_mb": peak_mb, "finished": fraction == 1.0}
    if fraction == 1.0:
        x = logits.clone().requires_grad_()
        ours = ap_loss(x, labels)
        ours.backward()
        for name, a, b in (("loss", loss, ours.detach()), ("gradient", grad, x.grad)):
            err = float((a - b).abs().max())
            scale = float(b.abs().max())
            if err > 1e-5 * scale:
                raise AssertionError(f"{name} differs: max |diff| {err:.3g}, max |value| {scale}")
        result["max_rel_diff"] = float((grad - x.grad).abs().max() / x.grad.abs().max())
    return result


def run_case(impl: str, num_pos: int, num_neg: int, cap: float) -> Dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = [sys.executable, __file__, "--worker", impl, str(num_pos), str(num_neg)]
    cmd += ["--cap", str(cap)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cap", type=float, default=60.0, help="time cap of the official loop")
    parser.add_argument("--quick", action="store_true", help="N up to 1e6 only")
    parser.add_argument("--worker", nargs=3, metavar=("IMPL", "P", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        impl, num_pos, num_neg = args.worker
        print(json.dumps(worker(impl, int(num_pos), int(num_neg), args.cap)))
        return

    negs = [10**5, 10**6] if args.quick else [10**5, 10**6, 10**7]
    print(f"torch {torch.__version__}, 1 CPU thread, official loop capped at {args.cap:g} s")
    header = "| P | N | official s | fast s | speed-up | official MB | fast MB | equal |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for num_pos in (100, 1000, 5000):
        for num_neg in negs:
            fast = run_case("fast", num_pos, num_neg, args.cap)
            official = run_case("official", num_pos, num_neg, args.cap)
            approx = "" if official["finished"] else "~"
            equal = (
                f"yes ({official['max_rel_diff']:.1e})" if official["finished"] else "skip"
            )
            print(
                f"| {num_pos} | {num_neg:.0e} | {approx}{official['seconds']:.2f} | "
                f"{fast['seconds']:.3f} | {approx}{official['seconds'] / fast['seconds']:.1f}x | "
                f"{official['peak_mb']:.0f} | {fast['peak_mb']:.0f} | {equal} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
