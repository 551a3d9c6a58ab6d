"""
Pictures of what the detector predicts and of how each rule chooses positives. Images are drawn
with detectron2's ``Visualizer``; charts with matplotlib. Functions that make a chart return the
figure and what it plots, so a notebook can check the picture against the numbers.
"""

import numpy as np
from typing import Callable, Dict, List, Optional, Sequence, Tuple
import torch
from matplotlib import pyplot as plt
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from detectron2.data import Metadata
from detectron2.structures import Instances
from detectron2.utils.visualizer import Visualizer

from .selection import AssignmentView, SizeStats

__all__ = [
    "level_colors",
    "draw_predictions",
    "draw_ground_truth",
    "show_images",
    "score_threshold_control",
    "plot_candidates",
    "plot_iou_histogram",
    "draw_positives",
    "plot_positives",
    "size_bins",
    "plot_positives_vs_size",
    "plot_positives_per_level",
]

# Images this small (the shapes are 96-128 px) are drawn enlarged, so boxes and labels read.
_DRAWN_SIDE = 512
_GT_COLOR = "white"


def level_colors(num_levels: int) -> List[Tuple[float, float, float]]:
    """One colour per pyramid level, P3 first."""
    cmap = plt.get_cmap("tab10")
    return [cmap(i)[:3] for i in range(num_levels)]


def _visualizer(image: np.ndarray, metadata: Optional[Metadata] = None) -> Visualizer:
    scale = max(1.0, _DRAWN_SIDE / max(image.shape[:2]))
    return Visualizer(image, metadata, scale=scale)


def draw_predictions(
    image: np.ndarray, instances: Instances, metadata: Metadata, score_thresh: float
) -> Tuple[np.ndarray, Instances]:
    """
    Draw the detections scoring at least ``score_thresh`` with their class names.

    Returns:
        the drawn (H', W', 3) RGB image and the instances drawn.
    """
    shown = instances[instances.scores >= score_thresh].to("cpu")
    return _visualizer(image, metadata).draw_instance_predictions(shown).get_image(), shown


def draw_ground_truth(image: np.ndarray, dataset_dict: dict, metadata: Metadata) -> np.ndarray:
    """Draw a dataset dict's annotations (in the coordinates of ``image``) with class names."""
    return _visualizer(image, metadata).draw_dataset_dict(dataset_dict).get_image()


def show_images(
    images: Sequence[np.ndarray], titles: Sequence[str], columns: int = 4, width: float = 3.5
) -> Figure:
    """Images in rows of ``columns``, one titled panel each."""
    columns = min(columns, len(images))
    rows = -(-len(images) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, width * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title in zip(axes.flat, images, titles):
        ax.imshow(image)
        ax.set_title(title, fontsize="medium")
    fig.tight_layout()
    return fig


def score_threshold_control(show: Callable[[float], object], value: float) -> None:
    """
    ``show(score_thresh)`` behind a slider when ipywidgets is installed; otherwise called once
    with ``value`` (set it in the cell to try another threshold).
    """
    try:
        from ipywidgets import FloatSlider, interact
    except ImportError:
        show(value)
        return
    interact(show, score_thresh=FloatSlider(value=value, min=0.0, max=1.0, step=0.05))


def plot_candidates(view: AssignmentView, gt_index: int, rule: str = "atss") -> Figure:
    """
    Algorithm 1, lines 3-6 for one object: on each level its k candidate anchors (the nearest to
    its centre), drawn thin and dashed, and those that ``rule`` makes its positives thick.
    """
    colors = level_colors(len(view.level_names))
    level = view.level_of_anchor
    candidates = view.candidates[gt_index]
    positive = view.assigned[rule][candidates] == gt_index
    anchors = view.anchors
    num_levels = len(view.level_names)
    radius = max(view.image.shape[:2]) / 150
    fig, axes = plt.subplots(1, num_levels, figsize=(3.2 * num_levels, 3.4), squeeze=False)
    for i, (ax, name) in enumerate(zip(axes[0], view.level_names)):
        vis = _visualizer(view.image)
        vis.draw_box(view.gt_boxes[gt_index].tolist(), alpha=1.0, edge_color=_GT_COLOR)
        on_level = level[candidates] == i
        for index, is_pos in zip(candidates[on_level].tolist(), positive[on_level].tolist()):
            box = anchors[index].tolist()
            vis.draw_box(
                box,
                alpha=1.0 if is_pos else 0.6,
                edge_color=colors[i],
                line_style="-" if is_pos else "--",
            )
            # The centre too: anchors of the upper levels can be larger than the image.
            center = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
            vis.draw_circle(center, color=colors[i], radius=radius * (2 if is_pos else 1))
        ax.imshow(vis.get_output().get_image())
        ax.set_title(
            f"{name}: {int(on_level.sum())} candidates, {int(positive[on_level].sum())} pos"
        )
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_iou_histogram(view: AssignmentView, gt_index: int, bins: int = 50) -> Figure:
    """
    Algorithm 1, lines 7-10 for one object: the IoUs of its candidates, their mean, standard
    deviation and the threshold mean + std, with the candidates of each level stacked in its
    colour, and each candidate's IoU as a tick below the axis.
    """
    num_levels = len(view.level_names)
    ious = view.candidate_ious[gt_index].numpy()
    level = view.level_of_anchor[view.candidates[gt_index]].numpy()
    mean, std = float(view.iou_mean[gt_index]), float(view.iou_std[gt_index])
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.hist(
        [ious[level == i] for i in range(num_levels)],
        bins=bins,
        range=(0.0, 1.0),
        stacked=True,
        color=level_colors(num_levels),
        label=view.level_names,
    )
    for i, color in enumerate(level_colors(num_levels)):
        on_level = ious[level == i]
        ax.plot(
            on_level,
            np.full_like(on_level, -0.03),
            "|",
            color=color,
            markersize=12,
            transform=ax.get_xaxis_transform(),
            clip_on=False,
        )
    ax.axvspan(mean - std, mean + std, color="0.85", zorder=0, label="mean ± std")
    ax.axvline(mean, color="k", linestyle="--", label=f"mean {mean:.3f}")
    ax.axvline(mean + std, color="r", label=f"threshold {mean + std:.3f}")
    ax.set_xlabel("IoU of candidate with the object")
    ax.set_ylabel("candidates")
    ax.set_title(f"object {gt_index}: {len(ious)} candidates, std {std:.3f}")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def draw_positives(view: AssignmentView, rule: str) -> Tuple[np.ndarray, np.ndarray]:
    """
    The image with its objects (white) and the centres of ``rule``'s positive anchors, coloured
    by level and joined to their object's centre.

    Returns:
        the drawn RGB image and the number of positives drawn on each level, (L,).
    """
    colors = level_colors(len(view.level_names))
    assigned = view.assigned[rule]
    positive = (assigned >= 0).nonzero().flatten()
    level = view.level_of_anchor[positive]
    anchor_centers = (view.anchors[positive, :2] + view.anchors[positive, 2:]) / 2
    gt_centers = (view.gt_boxes[:, :2] + view.gt_boxes[:, 2:]) / 2
    radius = max(view.image.shape[:2]) / 120
    vis = _visualizer(view.image)
    for box in view.gt_boxes.tolist():
        vis.draw_box(box, alpha=1.0, edge_color=_GT_COLOR)
    for center, gt, lvl in zip(
        anchor_centers.tolist(), assigned[positive].tolist(), level.tolist()
    ):
        target = gt_centers[gt].tolist()
        vis.draw_line([center[0], target[0]], [center[1], target[1]], color=colors[lvl])
        vis.draw_circle(center, color=colors[lvl], radius=radius)
    drawn = torch.bincount(level, minlength=len(view.level_names)).numpy()
    return vis.get_output().get_image(), drawn


def plot_positives(
    view: AssignmentView, rules: Sequence[str]
) -> Tuple[Figure, Dict[str, np.ndarray]]:
    """
    :func:`draw_positives` for each rule side by side, with a legend of the levels.

    Returns:
        the figure and, per rule, the positives drawn on each level.
    """
    colors = level_colors(len(view.level_names))
    fig, axes = plt.subplots(1, len(rules), figsize=(3.6 * len(rules), 4.0), squeeze=False)
    drawn = {}
    for ax, rule in zip(axes[0], rules):
        image, drawn[rule] = draw_positives(view, rule)
        ax.imshow(image)
        ax.set_title(f"{rule}: {int(drawn[rule].sum())} positives")
        ax.axis("off")
    handles = [
        Line2D([], [], marker="o", linestyle="", color=c, label=n)
        for c, n in zip(colors, view.level_names)
    ]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles))
    fig.tight_layout(rect=(0, 0.08, 1, 0.96))
    return fig, drawn


def size_bins(stats: SizeStats, num_bins: int = 8) -> np.ndarray:
    """Log-spaced edges covering the object sizes, (num_bins + 1,)."""
    return np.geomspace(stats.sizes.min(), stats.sizes.max() * (1 + 1e-6), num_bins + 1)


def plot_positives_vs_size(
    stats: SizeStats, edges: np.ndarray
) -> Tuple[Figure, Dict[str, np.ndarray]]:
    """
    Section 4.1's claim as a plot: each object's positives against its size (sqrt of its area),
    one point per object and rule, with the mean positives per object in each size bin.

    Returns:
        the figure and, per rule, the mean plotted for each bin (NaN for an empty bin).
    """
    bin_of = np.digitize(stats.sizes, edges) - 1
    centers = np.sqrt(edges[:-1] * edges[1:])
    rng = np.random.default_rng(0)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    means = {}
    for i, (rule, num_pos) in enumerate(stats.num_pos.items()):
        color = plt.get_cmap("tab10")(i)
        jitter = rng.uniform(-0.25, 0.25, size=len(num_pos))
        ax.scatter(stats.sizes, num_pos + jitter, s=4, color=color, alpha=0.25)
        means[rule] = np.array(
            [
                num_pos[bin_of == b].mean() if (bin_of == b).any() else np.nan
                for b in range(len(centers))
            ]
        )
        # ATSS, the subject, drawn over the others.
        ax.plot(
            centers, means[rule], marker="o", color=color, label=rule, zorder=3 + (rule == "atss")
        )
    ax.set_xscale("log")
    ax.set_xlabel("object size sqrt(area) (input pixels)")
    ax.set_ylabel("positives per object")
    ax.set_title(f"{len(stats.sizes)} objects in {stats.num_images} images")
    ax.legend()
    fig.tight_layout()
    return fig, means


def plot_positives_per_level(stats: SizeStats) -> Tuple[Figure, Dict[str, np.ndarray]]:
    """
    Mean positives per object on each level, one group of bars per level and one bar per rule.

    Returns:
        the figure and, per rule, the (L,) bar heights.
    """
    rules = list(stats.num_pos_per_level)
    num_levels = len(stats.level_names)
    width = 0.8 / len(rules)
    fig, ax = plt.subplots(figsize=(8, 3.5))
    heights = {}
    for i, rule in enumerate(rules):
        heights[rule] = stats.num_pos_per_level[rule].mean(axis=0)
        ax.bar(
            np.arange(num_levels) + (i - (len(rules) - 1) / 2) * width,
            heights[rule],
            width,
            label=rule,
        )
    ax.set_xticks(np.arange(num_levels), stats.level_names)
    ax.set_ylabel("positives per object")
    ax.legend()
    fig.tight_layout()
    return fig, heights
