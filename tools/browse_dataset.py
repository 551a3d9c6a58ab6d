#!/usr/bin/env python
"""
Check a dataset against a config before training: draw its images with their boxes, describe its
boxes against the model's anchors, run the config's assignment on every training image and name
the objects that will get no positive sample, and why (docs/custom_data.md).

    python tools/browse_dataset.py --config-file configs/Shapes/atss_R_18_FPN_shapes.py \\
        --output output/browse/shapes
    python tools/browse_dataset.py --config-file configs/Custom/atss_R_18_FPN_cpu.py \\
        --output output/browse/mydata dataset.train.annotations=data/train.json

The data is the config's training set, given by path as for train_net.py (``dataset.train.*``,
YAML ``DATASETS.TRAIN_*``) or registered (``--dataset NAME``); config overrides follow the
options (``model.assignment.topk=15``, ``model.anchor_generator.anchor_scale=4``, ...). No
training and no checkpoint: the assignment depends on the boxes and the anchors only. It runs at
the speed of reading the annotations; the images are read only to be drawn. Writes to ``--output``:
``report.json``, the figures ``class_counts.png``, ``boxes_per_image.png``, ``box_sizes.png``,
``without_positives_by_size.png`` and ``without_positives_by_class.png``, drawn images under
``images/`` and the worst images of the assignment under ``worst/``.
"""

import atss.require_detectron2  # noqa: F401  (without detectron2: exit 2, naming the set-up)
import argparse
import copy
import json
import numpy as np
import os
import sys
import torch
from matplotlib import pyplot as plt
from PIL import Image

from detectron2.data import DatasetMapper
from detectron2.data.detection_utils import convert_image_to_rgb, read_image

import atss  # noqa: F401  (registers the model and the datasets)
from atss.browse import (
    BrowseInputs,
    ConfigError,
    anchor_levels,
    config_warnings,
    fixed_resize,
    label_statistics,
    load_inputs,
    measure_assignment,
    resize_scales,
    summarize_assignment,
    training_mapper,
    transformed_objects,
    worst_images,
)
from atss.browse.figures import (
    draw_boxes,
    draw_objects_without_positives,
    plot_box_sizes,
    plot_boxes_per_image,
    plot_class_counts,
    plot_without_positives_by_class,
    plot_without_positives_by_size,
)
from atss.modeling.meta_arch import ATSS
from atss.objects_without_positives import HAS_POSITIVE
from atss.visualization import (
    draw_ground_truth,
    plot_candidates,
    plot_iou_histogram,
    view_assignment,
)

# Objects drawn with their candidates and IoU histogram, per worst image.
OBJECTS_PER_WORST_IMAGE = 2


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="browse_dataset.py", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--config-file", default="", help="LazyConfig .py or YAML config")
    parser.add_argument("--output", required=True, help="folder for the report and the figures")
    parser.add_argument(
        "--dataset", help="a registered dataset, instead of the config's training set"
    )
    parser.add_argument(
        "--num-images", type=int, default=12, help="images drawn with their boxes (default 12)"
    )
    parser.add_argument(
        "--augment",
        action="store_true",
        help="draw the images after the training augmentation (random flips, resizes...)",
    )
    parser.add_argument(
        "--worst", type=int, default=4, help="worst images of the assignment drawn (default 4)"
    )
    parser.add_argument(
        "--short-edge",
        type=int,
        help="the training resize's short edge to measure at (default: its smallest)",
    )
    parser.add_argument(
        "--flip",
        action="store_true",
        help="measure the images as the training's random flip mirrors them",
    )
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides")
    return parser, parser.parse_args(argv)


def _save(fig, path: str) -> str:
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _save_image(image: np.ndarray, path: str) -> str:
    Image.fromarray(image).save(path)
    return path


def draw_images(inputs: BrowseInputs, count: int, augment: bool, folder: str) -> list:
    """``count`` images spread over the dataset, as stored or after the training mapper."""
    os.makedirs(folder, exist_ok=True)
    dicts = inputs.dataset_dicts
    picked = np.linspace(0, len(dicts) - 1, num=min(count, len(dicts))).round().astype(int)
    mapper = training_mapper(inputs.cfg) if augment else None
    written = []
    for index in dict.fromkeys(picked.tolist()):
        record = dicts[index]
        stem = os.path.splitext(os.path.basename(record["file_name"]))[0]
        if mapper is None:
            image = read_image(record["file_name"], format="RGB")
            drawn = draw_ground_truth(image, record, inputs.metadata)
        else:
            mapped = mapper(copy.deepcopy(record))
            image = convert_image_to_rgb(
                mapped["image"].permute(1, 2, 0).numpy(), inputs.image_format
            )
            instances = mapped["instances"]
            labels = [inputs.class_names[c] for c in instances.gt_classes.tolist()]
            drawn = draw_boxes(image, instances.gt_boxes.tensor.numpy(), labels)
        written.append(_save_image(drawn, os.path.join(folder, f"{stem}.png")))
    return written


def draw_worst(inputs, augmentations, table, result, count: int, folder: str) -> list:
    """The ``count`` worst images: objects and positives, then candidates of objects without."""
    os.makedirs(folder, exist_ok=True)
    mapper = DatasetMapper(
        is_train=True, augmentations=augmentations, image_format=inputs.image_format
    )
    rule = result.rule
    written = []
    for rank, index in enumerate(worst_images(table, result, count)):
        record = inputs.dataset_dicts[index]
        stem = f"{rank + 1}_" + os.path.splitext(os.path.basename(record["file_name"]))[0]
        view = view_assignment(inputs.model, mapper, record, rules=[rule])
        objects = table.image_of == index
        reasons = (
            result.reasons[objects]
            if result.reasons is not None
            else np.full(int(objects.sum()), HAS_POSITIVE)
        )
        drawn = draw_objects_without_positives(view, rule, reasons, inputs.class_names)
        written.append(_save_image(drawn, os.path.join(folder, f"{stem}_objects.png")))
        without = np.flatnonzero(result.num_positives[objects] == 0)
        for j in without[:OBJECTS_PER_WORST_IMAGE].tolist():
            prefix = os.path.join(folder, f"{stem}_object{j}")
            written.append(_save(plot_candidates(view, j, rule), f"{prefix}_candidates.png"))
            written.append(_save(plot_iou_histogram(view, j), f"{prefix}_iou_histogram.png"))
    return written


def _fraction_line(name: str, counts: dict) -> str:
    line = (
        f"{name}: {counts['without_positives']} of {counts['objects']} "
        f"({counts['fraction_without_positives']:.1%})"
    )
    reasons = counts.get("reasons")
    if reasons and counts["without_positives"]:
        line += " -- " + ", ".join(f"{r} {n}" for r, n in reasons.items() if n)
    return line


def summary_lines(report: dict) -> list:
    stats = report["statistics"]
    lines = [
        f"{', '.join(report['datasets'])}: {stats['images']} images, {stats['objects']} objects, "
        f"{len(stats['per_class'])} classes; boxes measured after {report['training_resize']}"
        + (f" (left out: {', '.join(report['left_out'])})" if report["left_out"] else "")
    ]
    assignment = report.get("assignment")
    if assignment:
        lines.append(
            f"Objects without a positive sample ({assignment['rule']}), "
            + _fraction_line("all", assignment["all"])
        )
        for size, counts in assignment["by_size"].items():
            if counts["objects"]:
                lines.append("  " + _fraction_line(size, counts))
        for image in assignment["worst_images"][:5]:
            lines.append(
                f"  worst: {image['file_name']}: {image['without_positives']} of "
                f"{image['objects']} objects"
            )
    else:
        lines.append("The model has no assignment rule (not an ATSS model): no assignment report.")
    for warning in report["warnings"]:
        lines.append("WARNING: " + warning["message"])
    return lines


def main(argv=None) -> dict:
    parser, args = parse_args(argv)
    try:
        if not args.config_file:
            raise ConfigError(
                "No config given: pass --config-file, e.g. "
                "--config-file configs/Shapes/atss_R_18_FPN_shapes.py"
            )
        inputs = load_inputs(args.config_file, args.opts, args.dataset)
    except ConfigError as e:
        sys.exit(f"{parser.prog}: error: {e}")
    # Many small tensors: one thread is faster than several waiting for each other.
    torch.set_num_threads(1)
    os.makedirs(args.output, exist_ok=True)
    model, classes = inputs.model, inputs.class_names

    augmentations, left_out = fixed_resize(
        inputs.train_augmentations, args.short_edge, args.flip
    )
    table = transformed_objects(inputs.dataset_dicts, augmentations, progress="boxes")
    test_scales = resize_scales(inputs.dataset_dicts, fixed_resize(inputs.test_augmentations)[0])
    anchors = anchor_levels(model)
    report = {
        "config_file": args.config_file,
        "overrides": args.opts,
        "datasets": inputs.dataset_names,
        "training_resize": ", ".join(map(str, augmentations)) or "no resize",
        "left_out": left_out,
        "anchors": anchors.as_dict(),
        "statistics": label_statistics(table, classes),
    }
    # ATSS and AutoAssign keep model.inference.max_detections_per_image detections an image.
    inference = getattr(model, "inference", None)
    max_detections = None if inference is None else inference.max_detections_per_image
    figures = {
        "class_counts": plot_class_counts(report["statistics"]),
        "boxes_per_image": plot_boxes_per_image(table, max_detections),
        "box_sizes": plot_box_sizes(table, anchors),
    }
    result = None
    if isinstance(model, ATSS):
        result = measure_assignment(model, table, progress="assignment")
        report["assignment"] = summarize_assignment(table, result, classes)
        figures["without_positives_by_size"] = plot_without_positives_by_size(
            table, result, anchors
        )
        figures["without_positives_by_class"] = plot_without_positives_by_class(
            table, result, classes
        )
    report["warnings"] = config_warnings(
        table, test_scales, max_detections, inputs.num_model_classes, len(classes)
    )
    written = [_save(fig, os.path.join(args.output, f"{n}.png")) for n, fig in figures.items()]
    written += draw_images(
        inputs, args.num_images, args.augment, os.path.join(args.output, "images")
    )
    if result is not None and args.worst > 0:
        written += draw_worst(
            inputs, augmentations, table, result, args.worst, os.path.join(args.output, "worst")
        )
    with open(os.path.join(args.output, "report.json"), "w") as f:
        json.dump(report, f, indent=1)
    for line in summary_lines(report):
        print(line)
    print(f"Wrote {os.path.join(args.output, 'report.json')} and {len(written)} pictures")
    return report


if __name__ == "__main__":
    main()
