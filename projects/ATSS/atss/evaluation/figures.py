"""
The figures of an evaluation report (:mod:`atss.evaluation.report`): precision-recall curves,
precision, recall and F1 against the score threshold, and the confusion matrix. Each class gets
a coloured, labelled line up to :data:`MAX_LEGEND_CLASSES` classes; beyond, the classes are thin
grey lines under the all-classes curve, and the confusion matrix shrinks its labels to fit.
"""

import numpy as np
import os
from typing import List
from matplotlib.figure import Figure

from ..checkpoint.atomic import write_atomically

__all__ = [
    "MAX_LEGEND_CLASSES",
    "plot_confusion_matrix",
    "plot_pr_curves",
    "plot_threshold_curves",
    "save_report_figures",
]

MAX_LEGEND_CLASSES = 10
# Counts written in the cells up to this many classes.
MAX_ANNOTATED_CLASSES = 20


def _class_lines(ax, x, rows, names, labels) -> None:
    """One line per class (rows (K, N)); a class without objects (a NaN row) has none."""
    few = len(names) <= MAX_LEGEND_CLASSES
    shown = [k for k, row in enumerate(rows) if not np.isnan(row).all()]
    for k in shown:
        if few:
            ax.plot(x, rows[k], color=f"C{k % 10}", linewidth=1.2, label=labels[k])
        else:
            label = f"each of the {len(shown)} classes with objects" if k == shown[0] else None
            ax.plot(x, rows[k], color="0.6", linewidth=0.5, alpha=0.6, label=label)


def _ap(values) -> str:
    return "no objects" if np.isnan(values) else f"{values:.1f}"


def plot_pr_curves(report) -> Figure:
    """Precision against recall per class and over all classes, at IoU 0.5 and averaged over
    IoU 0.5:0.95; the legend gives each curve's AP (its mean)."""
    fig = Figure(figsize=(12, 6.5), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    pr = report.pr
    panels = [
        ("IoU 0.5", pr.per_class_50, pr.all_50, "AP50"),
        ("IoU 0.5:0.95 (mean over 10 IoUs)", pr.per_class_mean, pr.all_mean, "AP"),
    ]
    for ax, (title, rows, overall, name) in zip(axes, panels):
        aps = rows.mean(axis=1) * 100  # a curve's mean is its AP
        labels = [f"{n} ({name} {_ap(a)})" for n, a in zip(report.class_names, aps)]
        _class_lines(ax, pr.recall, rows, report.class_names, labels)
        ax.plot(
            pr.recall, overall, color="black", linewidth=2.5,
            label=f"all classes ({name} {_ap(overall.mean() * 100)})",
        )  # fmt: skip
        ax.set(title=title, xlabel="recall", xlim=(0, 1), ylim=(0, 1.02))
        ax.grid(alpha=0.3)
        # Below the axes: curves fill any corner.
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=8)
    axes[0].set_ylabel("precision")
    fig.suptitle(f"Precision-recall curves on {report.dataset}{_at(report)}")
    return fig


def plot_threshold_curves(report) -> Figure:
    """F1, precision and recall against the score threshold, per class and over all classes,
    with the recommended threshold."""
    t = report.thresholds
    best = report.at_recommended()
    fig = Figure(figsize=(15, 5.6), layout="constrained")
    axes = fig.subplots(1, 3)
    panels = [
        ("f1", t.f1, t.overall_f1),
        ("precision", t.precision, t.overall_precision),
        ("recall", t.recall, t.overall_recall),
    ]
    labels = [f"{n} ({g} objects)" for n, g in zip(report.class_names, t.num_gt)]
    for ax, (name, rows, overall) in zip(axes, panels):
        title = name.replace("f1", "F1")
        _class_lines(ax, t.thresholds, rows, report.class_names, labels)
        ax.plot(t.thresholds, overall, color="black", linewidth=2.5, label="all classes")
        ax.axvline(report.recommended, color="crimson", linestyle="--")
        ax.set(
            title=f"{title} ({best[name]:.2f} at the recommended threshold)",
            xlabel="score threshold", xlim=(0, 1), ylim=(0, 1.02),
        )  # fmt: skip
        ax.grid(alpha=0.3)
    handles, names = axes[0].get_legend_handles_labels()
    handles.append(axes[0].lines[-1])
    names.append(f"recommended threshold {report.recommended:.2f} (highest F1 over all classes)")
    fig.legend(handles, names, loc="outside lower center", ncol=min(len(names), 4), fontsize=9)
    fig.suptitle(
        f"Detections kept at score >= threshold, matched at IoU {report.iou} on "
        f"{report.dataset}{_at(report)}"
    )
    return fig


def plot_confusion_matrix(report) -> Figure:
    """The confusion matrix as fractions of each row (true class), with the counts written in
    the cells for up to :data:`MAX_ANNOTATED_CLASSES` classes."""
    counts = report.confusion
    n = len(counts)
    labels = report.class_names + ["background"]
    side = float(np.clip(2.5 + 0.2 * n, 6.0, 22.0))
    font = float(np.clip(150 / n, 5, 10))
    fig = Figure(figsize=(side + 1.5, side), layout="constrained")
    ax = fig.subplots()
    totals = counts.sum(axis=1, keepdims=True)
    fractions = counts / np.maximum(totals, 1)
    image = ax.imshow(fractions, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), labels, rotation=90, fontsize=font)
    ax.set_yticks(range(n), labels, fontsize=font)
    ax.set_xlabel("predicted class (background: missed objects)")
    ax.set_ylabel("true class (background: false detections)")
    if n <= MAX_ANNOTATED_CLASSES + 1:
        for (i, j), c in np.ndenumerate(counts):
            if c:
                color = "white" if fractions[i, j] > 0.6 else "black"
                ax.text(j, i, str(c), ha="center", va="center", fontsize=font, color=color)
    fig.colorbar(image, ax=ax, shrink=0.8, label="fraction of the row (counts in the cells)")
    ax.set_title(
        f"Confusion matrix on {report.dataset}{_at(report)}\n"
        f"detections with score >= {report.recommended:.2f} (recommended), IoU {report.iou}"
    )
    return fig


def _at(report) -> str:
    return "" if report.iteration is None else f", iteration {report.iteration}"


def save_report_figures(report, directory: str) -> List[str]:
    """``pr_curves.png``, ``score_threshold.png`` and ``confusion_matrix.png`` in ``directory``."""
    paths = []
    for name, plot in (
        ("pr_curves.png", plot_pr_curves),
        ("score_threshold.png", plot_threshold_curves),
        ("confusion_matrix.png", plot_confusion_matrix),
    ):
        path = os.path.join(directory, name)
        figure = plot(report)
        write_atomically(path, lambda f: figure.savefig(f, format="png", dpi=110))
        paths.append(path)
    return paths
