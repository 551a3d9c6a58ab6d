"""
The dataset browser's pictures: images with their boxes and class names (detectron2's
``Visualizer``), label statistics with the model's anchors marked, the objects without positives
by size and by class, and the worst images with the reason of each such object. Figures stay
readable from 1 class to 80 (bar charts grow with the classes).
"""

import numpy as np
from typing import List, Optional, Sequence
from matplotlib import pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, NullFormatter

from detectron2.data import Metadata
from detectron2.utils.visualizer import Visualizer

from ..objects_without_positives import REASONS
from ..visualization.draw import level_colors
from ..visualization.selection import AssignmentView
from .assignment_report import AssignmentResult
from .config_checks import COCO_MAX_DETS
from .objects import ObjectTable
from .statistics import AnchorLevels, box_dimensions

__all__ = [
    "draw_boxes",
    "draw_objects_without_positives",
    "plot_box_sizes",
    "plot_boxes_per_image",
    "plot_class_counts",
    "plot_without_positives_by_class",
    "plot_without_positives_by_size",
]

# Small images are drawn enlarged so that their labels read.
_DRAWN_SIDE = 512
_REASON_COLORS = ("tab:red", "tab:orange", "tab:purple")  # REASONS[1:]
# Short forms of REASONS[1:] for the labels drawn on images.
_REASON_TAGS = ("no centre inside", "below threshold", "taken by others")


def _visualizer(image: np.ndarray, metadata: Optional[Metadata] = None) -> Visualizer:
    return Visualizer(image, metadata, scale=max(1.0, _DRAWN_SIDE / max(image.shape[:2])))


def draw_boxes(
    image: np.ndarray, boxes: np.ndarray, labels: Sequence[str], colors: Optional[list] = None
) -> np.ndarray:
    """An RGB image with XYXY ``boxes`` (its pixels) and their labels drawn."""
    vis = _visualizer(image)
    vis.overlay_instances(boxes=boxes, labels=list(labels), assigned_colors=colors)
    return vis.get_output().get_image()


def _plain_log_axis(ax) -> None:
    """A log x axis labelled 0.5, 1, 10, ... instead of powers of ten."""
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _class_figure_height(num_classes: int) -> float:
    return 1.5 + 0.22 * num_classes


def plot_class_counts(stats: dict) -> Figure:
    """Objects and images per class, horizontal bars, most frequent class on top."""
    per_class = stats["per_class"]
    names = sorted(per_class, key=lambda n: per_class[n]["objects"])
    fig, axes = plt.subplots(
        1, 2, figsize=(10, _class_figure_height(len(names))), sharey=True, squeeze=False
    )
    totals = {"objects": f"{stats['objects']} in all", "images": f"of {stats['images']}"}
    for ax, key in zip(axes[0], ("objects", "images")):
        values = [per_class[n][key] for n in names]
        ax.barh(np.arange(len(names)), values, color="tab:blue")
        ax.set_xlabel(key)
        ax.set_title(f"{key} per class ({totals[key]})")
        for y, v in enumerate(values):
            ax.text(v, y, f" {v}", va="center", fontsize="small")
        ax.margins(x=0.15)
        ax.set_ylim(-0.6, len(names) - 0.4)
    axes[0, 0].set_yticks(np.arange(len(names)), names)
    fig.tight_layout()
    return fig


def plot_boxes_per_image(table: ObjectTable, max_detections: Optional[int]) -> Figure:
    """Histogram of the objects per image, with the detection limits marked."""
    counts = table.num_annotated
    fig, ax = plt.subplots(figsize=(7, 3.5))
    top = int(counts.max()) if len(counts) else 0
    ax.hist(counts, bins=np.arange(top + 2) - 0.5 if top <= 60 else 60, color="tab:blue")
    limits = {f"COCO maxDets {COCO_MAX_DETS}": COCO_MAX_DETS}
    if max_detections is not None:
        limits[f"model keeps {max_detections}"] = max_detections
    for (label, limit), style in zip(limits.items(), ("--", ":")):
        if limit <= top * 1.5:
            ax.axvline(limit, color="tab:red", linestyle=style, label=label)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    ax.set_xlabel("objects per image")
    ax.set_ylabel("images")
    ax.set_title(f"{table.num_images} images, {int(counts.sum())} objects")
    fig.tight_layout()
    return fig


def plot_box_sizes(table: ObjectTable, anchors: AnchorLevels) -> Figure:
    """
    Histograms of box width, height and aspect ratio (height / width) in input pixels, with
    each level's anchor sizes marked in its colour, the anchors' aspect ratios, and the finest
    stride dashed: a box thinner than it may hold no anchor centre.
    """
    dims = box_dimensions(table)
    colors = level_colors(len(anchors.names))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, key in zip(axes, ("width", "height", "aspect_ratio")):
        values = dims[key][dims[key] > 0]
        if key == "aspect_ratio":
            ratios = np.concatenate([h / w for w, h in zip(anchors.widths, anchors.heights)])
            marks = [np.unique(ratios.round(3))]
        else:
            marks = [np.unique(a) for a in (anchors.widths if key == "width" else anchors.heights)]
            marks.append(np.array([anchors.strides[0]], dtype=np.float64))
        every = np.concatenate([values, *marks])
        ax.hist(values, bins=np.geomspace(every.min() * 0.9, every.max() * 1.1, 50), color="0.6")
        _plain_log_axis(ax)
        if key == "aspect_ratio":
            for j, ratio in enumerate(marks[0]):
                ax.axvline(ratio, color="k", label="anchor aspect ratios" if j == 0 else None)
            low, high = np.log2(every.min()), np.log2(every.max())
            ax.set_xticks(2.0 ** np.arange(np.floor(low), np.ceil(high) + 1))
            ax.set_xlabel("box aspect ratio (height / width)")
        else:
            for name, color, sides in zip(anchors.names, colors, marks):
                for j, side in enumerate(sides):
                    ax.axvline(side, color=color, label=f"{name} anchors" if j == 0 else None)
            finest = f"finest stride {anchors.strides[0]}"
            ax.axvline(anchors.strides[0], color="k", linestyle="--", label=finest)
            ax.set_xlabel(f"box {key} (px)")
        ax.legend(fontsize="small")
    axes[0].set_ylabel("objects")
    fig.suptitle("boxes after the training resize, against the model's anchors")
    fig.tight_layout()
    return fig


def _reason_counts(result: AssignmentResult, groups: np.ndarray, num_groups: int) -> dict:
    """Per reason the objects without positives of each group, (num_groups,) each."""
    if result.reasons is None:
        without = np.bincount(groups[result.without_positives], minlength=num_groups)
        return {REASONS[1]: np.zeros(num_groups), "without positives": without}
    return {
        name: np.bincount(groups[result.reasons == code], minlength=num_groups)
        for code, name in enumerate(REASONS)
        if code > 0
    }


def plot_without_positives_by_size(
    table: ObjectTable, result: AssignmentResult, anchors: AnchorLevels, num_bins: int = 16
) -> Figure:
    """
    The fraction of objects without positives against object size (sqrt of the box area, input
    pixels, log bins), stacked by reason, with the objects per bin and the anchor sizes.
    """
    areas = np.prod((table.boxes[:, 2:] - table.boxes[:, :2]).clip(min=0), axis=1)
    sizes = np.sqrt(areas).clip(min=0.5)
    edges = np.geomspace(sizes.min(), sizes.max() * 1.0001, num_bins + 1)
    bins = np.clip(np.digitize(sizes, edges) - 1, 0, num_bins - 1)
    totals = np.bincount(bins, minlength=num_bins)
    counts = _reason_counts(result, bins, num_bins)
    centers = np.sqrt(edges[:-1] * edges[1:])
    fig, ax = plt.subplots(figsize=(9, 4.5))
    left = np.zeros(num_bins)
    widths = np.diff(edges) * 0.9
    names = REASONS[1:] if result.reasons is not None else ("without positives",)
    for name, color in zip(names, _REASON_COLORS):
        values = counts[name] / np.maximum(totals, 1)
        ax.bar(edges[:-1], values, widths, bottom=left, align="edge", color=color, label=name)
        left = left + values
    for center, total, frac in zip(centers, totals, left):
        if total:
            ax.text(center, frac, f"{int(total)}", ha="center", va="bottom", fontsize="x-small")
    for i, (name, color) in enumerate(zip(anchors.names, level_colors(len(anchors.names)))):
        for side in np.unique(np.sqrt(anchors.widths[i] * anchors.heights[i])):
            ax.axvline(side, color=color, linestyle=":", label=f"{name} anchor")
    _plain_log_axis(ax)
    ax.set_xlabel("object size sqrt(area) after the training resize (px); numbers: objects")
    ax.set_ylabel("fraction without positives")
    overall = result.without_positives.mean() if len(sizes) else 0.0
    ax.set_title(f"{result.rule}: {overall:.1%} of {len(sizes)} objects get no positive sample")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_without_positives_by_class(
    table: ObjectTable, result: AssignmentResult, class_names: Sequence[str]
) -> Figure:
    """Per class the fraction of its objects without positives, stacked by reason."""
    num_classes = len(class_names)
    totals = np.bincount(table.classes, minlength=num_classes)
    counts = _reason_counts(result, table.classes, num_classes)
    fraction = sum(counts.values()) / np.maximum(totals, 1)
    order = np.argsort(fraction, kind="stable")
    fig, ax = plt.subplots(figsize=(8, _class_figure_height(num_classes)))
    left = np.zeros(num_classes)
    names = REASONS[1:] if result.reasons is not None else ("without positives",)
    for name, color in zip(names, _REASON_COLORS):
        values = (counts[name] / np.maximum(totals, 1))[order]
        ax.barh(np.arange(num_classes), values, left=left, color=color, label=name)
        left = left + values
    for y, c in enumerate(order):
        ax.text(left[y], y, f" {fraction[c]:.1%} of {totals[c]}", va="center", fontsize="small")
    ax.set_yticks(np.arange(num_classes), [class_names[c] for c in order])
    ax.set_ylim(-0.6, num_classes - 0.4)
    ax.set_xlabel("fraction of the class's objects without positives")
    ax.margins(x=0.25)
    ax.legend(fontsize="small", loc="lower right")
    ax.set_title(f"{result.rule}: objects without positives per class")
    fig.tight_layout()
    return fig


def draw_objects_without_positives(
    view: AssignmentView,
    rule: str,
    reasons: np.ndarray,
    class_names: Sequence[str],
) -> np.ndarray:
    """
    One image as the model sees it in training: the centres of ``rule``'s positive anchors
    (coloured by level), the objects that got some (white) and those that got none (in the
    colour of their reason, labelled with it).

    Args:
        view: :func:`atss.visualization.view_assignment` of the image.
        reasons: (G,) codes of ``REASONS`` for its objects (HAS_POSITIVE for all with another
            rule than ATSS, whose reasons are not known: then drawn in the first colour).
    """
    colors = level_colors(len(view.level_names))
    assigned = view.assigned[rule]
    positive = (assigned >= 0).nonzero().flatten()
    centers = ((view.anchors[positive, :2] + view.anchors[positive, 2:]) / 2).tolist()
    levels = view.level_of_anchor[positive].tolist()
    num_pos = view.stats(rule)["num_pos_per_gt"].numpy()
    # White margins on the right and at the bottom, where the labels of objects at the image's
    # edges go.
    height, width = view.image.shape[:2]
    image = np.pad(view.image, ((0, height // 8), (0, width // 3), (0, 0)), constant_values=255)
    vis = Visualizer(image, scale=max(1.0, _DRAWN_SIDE / max(height, width)))
    radius = max(view.image.shape[:2]) / 150
    for center, level in zip(centers, levels):
        vis.draw_circle(center, color=colors[level], radius=radius)
    labels: List[str] = []
    box_colors = []
    for i, cls in enumerate(view.gt_classes.tolist()):
        name = class_names[cls] if cls < len(class_names) else str(cls)
        if num_pos[i]:
            labels.append(f"{name}: {num_pos[i]} pos")
            box_colors.append("white")
        else:
            code = max(int(reasons[i]), 1)
            labels.append(f"{name}: {_REASON_TAGS[code - 1]}")
            box_colors.append(_REASON_COLORS[code - 1])
    vis.overlay_instances(
        boxes=view.gt_boxes.numpy(), labels=labels, assigned_colors=box_colors
    )
    return vis.get_output().get_image()
