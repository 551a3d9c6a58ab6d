"""
Training curves from the ``metrics.json`` detectron2's ``JSONWriter`` writes in a run's output
directory: one JSON object per line, each with its ``iteration``.
"""

import json
import numpy as np
import os
from typing import Dict, List, Sequence, Tuple
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

__all__ = ["load_metrics", "metric_series", "curve_panels", "plot_training_curves"]

Series = Tuple[np.ndarray, np.ndarray]


def load_metrics(path: str) -> List[dict]:
    """The records of a ``metrics.json``; a line that is not a JSON object with an iteration
    raises a ValueError naming the file and line."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} does not exist: is it a training run's output directory?")
    records = []
    with open(path) as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}, line {number}: not JSON ({e})") from None
            if not isinstance(record, dict) or "iteration" not in record:
                raise ValueError(f"{path}, line {number}: not a record with an 'iteration'")
            records.append(record)
    if not records:
        raise ValueError(f"{path} holds no record")
    return records


def metric_series(records: Sequence[dict], key: str) -> Series:
    """(iterations, values) of the records that hold ``key``."""
    pairs = [(r["iteration"], r[key]) for r in records if key in r]
    iterations, values = zip(*pairs) if pairs else ((), ())
    return np.asarray(iterations), np.asarray(values, dtype=float)


def curve_panels(records: Sequence[dict]) -> Dict[str, List[str]]:
    """
    The keys plotted in each panel, among those the run logged: losses, learning rate, positives
    per image (all levels and each level, the ATSS model's ``num_pos_anchors``), positives per
    object (``num_pos_per_gt``) and the COCO AP of the evaluations.
    """
    keys = sorted({k for r in records for k in r})
    panels = {
        "losses": [k for k in keys if k.startswith("loss_") or k == "total_loss"],
        "learning rate": [k for k in keys if k == "lr"],
        "positives per image": [k for k in keys if k.startswith("num_pos_anchors")],
        "positives per object": [k for k in keys if k == "num_pos_per_gt"],
        "AP": [k for k in keys if k in ("bbox/AP", "bbox/AP50", "bbox/AP75")],
    }
    return {title: names for title, names in panels.items() if names}


def plot_training_curves(records: Sequence[dict]) -> Tuple[Figure, Dict[str, Series]]:
    """
    One panel per group of :func:`curve_panels`, each metric a line labelled by its key.

    Returns:
        the figure and, per key, the (iterations, values) plotted.
    """
    panels = curve_panels(records)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    plotted = {}
    for ax, (title, keys) in zip(axes[0], panels.items()):
        for key in keys:
            plotted[key] = metric_series(records, key)
            # A single evaluation is a point, not a line.
            marker = "o" if len(plotted[key][0]) < 5 else None
            ax.plot(*plotted[key], marker=marker, label=key)
        ax.set_title(title)
        ax.set_xlabel("iteration")
        if title == "losses":
            ax.set_yscale("log")
        ax.legend(fontsize="x-small")
    fig.tight_layout()
    return fig, plotted
