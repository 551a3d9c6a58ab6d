#!/usr/bin/env python
"""
Write the pictures of ``notebooks/assignment.ipynb`` for one dataset image: for each object its
ATSS candidates per level and the histogram of their IoUs (mean, standard deviation, threshold),
and the positives of each rule side by side, colour-coded by level.

    python tools/visualize_assignment.py --config-file configs/Shapes/atss_R_18_FPN_shapes.py \\
        --dataset shapes_val --image-id 3 --output output/assignment

Label assignment does not depend on the weights, so no checkpoint is needed. Overrides of the
config follow the options (``key=value`` for LazyConfigs, ``KEY VALUE`` for YAML), e.g.
``model.assignment.topk=15``.
"""

import atss.require_detectron2  # noqa: F401  (without detectron2: exit 2, naming the set-up)
import argparse
import os
from matplotlib import pyplot as plt

from detectron2.data import DatasetCatalog

import atss  # noqa: F401  (registers the model and the datasets)
from atss.visualization import (
    PAPER_RULES,
    annotated_mapper,
    model_and_config,
    plot_candidates,
    plot_iou_histogram,
    plot_positives,
    registered_rules,
    view_assignment,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config-file", required=True, help="LazyConfig .py or YAML config")
    parser.add_argument("--dataset", required=True, help="a registered dataset, e.g. shapes_val")
    parser.add_argument("--image-id", required=True, help="the image_id of the image")
    parser.add_argument("--output", required=True, help="directory for the PNGs")
    parser.add_argument(
        "--rules",
        nargs="+",
        default=list(PAPER_RULES),
        help=f"assignment rules to compare, among {registered_rules()}",
    )
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides")
    return parser.parse_args(argv)


def find_image(dataset: str, image_id: str) -> dict:
    if dataset not in DatasetCatalog.list():
        raise ValueError(f"Dataset {dataset!r} is not registered")
    dicts = DatasetCatalog.get(dataset)
    for d in dicts:
        if str(d["image_id"]) == image_id:
            return d
    ids = [str(d["image_id"]) for d in dicts[:5]]
    raise ValueError(f"Dataset {dataset!r} has no image with image_id {image_id} (ids: {ids}...)")


def main(argv=None) -> None:
    args = parse_args(argv)
    unknown = sorted(set(args.rules) - set(registered_rules()))
    if unknown:
        raise SystemExit(f"Unknown rules {unknown}; registered: {registered_rules()}")
    dataset_dict = find_image(args.dataset, args.image_id)
    model, cfg = model_and_config(args.config_file, overrides=args.opts)
    view = view_assignment(model, annotated_mapper(cfg), dataset_dict, rules=args.rules)
    os.makedirs(args.output, exist_ok=True)
    figures = {"positives": plot_positives(view, args.rules)[0]}
    if len(view.gt_boxes) == 0:
        print(f"Image {args.image_id} of {args.dataset} has no objects: no candidates to show")
    for i in range(len(view.gt_boxes)):
        figures[f"object{i}_candidates"] = plot_candidates(view, i)
        figures[f"object{i}_iou_histogram"] = plot_iou_histogram(view, i)
    for name, fig in figures.items():
        path = os.path.join(args.output, f"{args.dataset}_{args.image_id}_{name}.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        print(path)


if __name__ == "__main__":
    main()
