#!/usr/bin/env python
"""
The predictor of ATSS models, on detectron2's demo interface: the detections of a model (a config
and its weights, or a published entry) on images, folders, globs, a video or the webcam, written
as a COCO results file (``--json``) and drawn (``--output``); large images optionally tiled
(``--tile``). docs/predict.md shows each use.

    python demo/demo.py --published published/my_model --input my_images/ \\
        --json output/predictions.json --output output/drawn/

Without ``--output`` and ``--json`` each result is shown in a window (Esc quits). The results
file holds the detections of the model's own score threshold (those COCOEvaluator scores); the
drawings those of the threshold recommended by the model's evaluation (``score_threshold.json``
beside the config: a run's or a published entry's, docs/evaluation.md), else of 0.5.
``--confidence-threshold`` sets both. The log says which and where they came from.
"""

import atss.require_detectron2  # noqa: F401  (without detectron2: exit 2, naming the set-up)
import argparse
import glob
import json
import numpy as np
import os
import sys
from typing import Dict, List, Optional, Sequence, Tuple
import cv2
import tqdm

from detectron2.data.detection_utils import read_image
from detectron2.utils.logger import setup_logger

from atss.checkpoint.atomic import write_atomically
from atss.checkpoint.errors import CheckpointError
from atss.config import ConfigError
from atss.evaluation import resolve_score_threshold
from atss.export import DeployConfig
from atss.inference import MERGE_METHODS, check_tiling
from atss.inference.coco_results import (
    category_ids_from_coco,
    category_ids_from_metadata,
    coco_records,
    image_ids_from_coco,
    image_ids_from_names,
)
from atss.inference.predictor import Predictor, Tiling
from atss.model_zoo import published_files

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from predictor import VisualizationDemo  # noqa: E402

WINDOW_NAME = "ATSS detections"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="ATSS predictor (detectron2's demo interface)")
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--config-file", metavar="FILE", help="path to config file")
    model.add_argument(
        "--published",
        metavar="DIR",
        help="a published model-zoo entry (tools/publish_model.py): its config and weights",
    )
    parser.add_argument("--webcam", action="store_true", help="Take inputs from webcam.")
    parser.add_argument("--video-input", help="Path to video file.")
    parser.add_argument(
        "--input",
        nargs="+",
        help="Images, folders of images, or glob patterns such as 'directory/*.jpg'",
    )
    parser.add_argument(
        "--output",
        help="A file or directory to save the drawn detections (a video for --video-input). "
        "Without it and --json, they are shown in an OpenCV window.",
    )
    parser.add_argument(
        "--json",
        metavar="FILE",
        help="write the detections as a COCO results file (pycocotools' loadRes format)",
    )
    parser.add_argument(
        "--coco-json",
        metavar="FILE",
        help="the images' COCO JSON: image ids and category ids come from it (default: image "
        "ids from the file names, category ids from the model's test set)",
    )
    parser.add_argument(
        "--confidence-threshold",
        type=float,
        default=None,
        help="keep the detections of at least this score, in the results file and the drawings "
        "(default: the model's own threshold in the file; the one recommended by its evaluation, "
        "else 0.5, in the drawings)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=1, help="images (or tiles) of one size run together"
    )
    parser.add_argument(
        "--tile",
        type=int,
        metavar="SIZE",
        help="run square tiles of SIZE pixels and the whole image, merged (large images)",
    )
    parser.add_argument(
        "--overlap", type=float, default=0.2, help="overlap of the tiles, a fraction of --tile"
    )
    parser.add_argument(
        "--merge",
        choices=MERGE_METHODS,
        default="soft_vote",
        help="how tiles and the whole image are merged: box voting or class-wise NMS",
    )
    parser.add_argument("--device", help="cuda or cpu (default: cuda when there is one)")
    parser.add_argument(
        "--allow-unloaded-weights",
        action="store_true",
        help="use the model even when the config names no weights (random weights)",
    )
    parser.add_argument(
        "--opts",
        help="Config overrides: key=value for LazyConfigs, KEY VALUE pairs for YAML",
        default=[],
        nargs=argparse.REMAINDER,
    )
    return parser


def expand_inputs(inputs: Sequence[str]) -> Tuple[List[str], List[str]]:
    """
    The image files of ``inputs`` (files, folders of images, glob patterns), in order, and
    those named that do not exist. SystemExit when nothing at all is found.
    """
    files, missing = [], []
    for item in inputs:
        item = os.path.expanduser(item)
        if os.path.isdir(item):
            names = sorted(os.listdir(item))
            files += [os.path.join(item, n) for n in names if n.lower().endswith(IMAGE_EXTENSIONS)]
        elif glob.has_magic(item):
            files += sorted(glob.glob(item))
        elif os.path.isfile(item):
            files.append(item)
        else:
            missing.append(item)
    if not files:
        raise SystemExit(f"demo.py: error: no image found in --input {' '.join(inputs)}")
    return files, missing


def output_path(output: str, input_path: str, num_inputs: int) -> str:
    """A directory (existing, ending in a separator, or several inputs) receives one file per
    input, under its name; otherwise ``output`` is the file."""
    if os.path.isdir(output) or output.endswith(os.sep) or num_inputs > 1:
        os.makedirs(output, exist_ok=True)
        return os.path.join(output, os.path.basename(input_path))
    return output


def model_config(args) -> DeployConfig:
    """The config of ``--config-file``, or that of a ``--published`` entry with its weights."""
    if args.config_file:
        return DeployConfig(args.config_file, args.opts, args.allow_unloaded_weights)
    # A published entry's config.yaml is the LazyConfig its run saved.
    config_file, checkpoint = published_files(args.published)
    weights = [f"train.init_checkpoint={checkpoint}"]
    return DeployConfig(config_file, weights + list(args.opts), args.allow_unloaded_weights)


def category_ids(args, config: DeployConfig, num_classes: int, logger) -> List[int]:
    """The dataset id of each class of the model, for the results file."""
    metadata = config.metadata
    classes = metadata.get("thing_classes")
    if args.coco_json:
        return category_ids_from_coco(args.coco_json, classes)
    ids = category_ids_from_metadata(metadata, num_classes)
    if ids is None:
        ids = list(range(1, num_classes + 1))
        logger.warning(
            f"The model's test set {config.test_dataset_name} gives no category ids: the "
            f"results use 1..{num_classes} in the order of its classes; give --coco-json for "
            "those of your dataset."
        )
    return ids


class Results:
    """The COCO results records, and the images that could not be read."""

    def __init__(self, category_ids: List[int]):
        self.category_ids = category_ids
        self.records: List[dict] = []
        self.skipped: List[str] = []

    def add(self, instances, image_id) -> None:
        self.records.extend(coco_records(instances, image_id, self.category_ids))

    def write(self, path: str, logger) -> None:
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        text = json.dumps(self.records).encode()
        write_atomically(path, lambda f: f.write(text))
        logger.info(f"Wrote {len(self.records)} detections to {path}")


def read_images(paths: List[str], results: Results, logger) -> List[Tuple[str, np.ndarray]]:
    """The images of ``paths`` that can be read; the others are reported and counted."""
    images = []
    for path in paths:
        try:
            images.append((path, read_image(path, format="BGR")))
        except (OSError, ValueError, SyntaxError) as e:
            # PIL raises OSError (UnidentifiedImageError, truncated files) or SyntaxError.
            logger.warning(f"Skipped {path}: it cannot be read as an image ({e}).")
            results.skipped.append(path)
    return images


def run_on_images(demo: VisualizationDemo, args, image_ids: Dict[str, object], results, logger):
    paths = list(image_ids)
    batch_size = demo.predictor.batch_size
    show = not args.output and not args.json
    with tqdm.tqdm(total=len(paths), unit="img", disable=show) as progress:
        for start in range(0, len(paths), batch_size):
            images = read_images(paths[start : start + batch_size], results, logger)
            predictions = demo.predictor([image for _, image in images]) if images else []
            for (path, image), instances in zip(images, predictions):
                results.add(instances, image_ids[path])
                shown = demo.shown(instances)
                logger.info(f"{path}: detected {len(shown)} instances")
                if args.output:
                    demo.draw(image, shown).save(output_path(args.output, path, len(paths)))
                elif show:
                    cv2.namedWindow(WINDOW_NAME, cv2.WINDOW_NORMAL)
                    cv2.imshow(WINDOW_NAME, demo.draw(image, shown).get_image()[:, :, ::-1])
                    if cv2.waitKey(0) == 27:
                        return  # esc to quit
            progress.update(min(batch_size, len(paths) - start))


def run_on_video(demo: VisualizationDemo, video: cv2.VideoCapture, args, name: str, results):
    writer = None
    if args.output:
        out = output_path(args.output, os.path.splitext(name)[0] + ".mp4", 1)
        writer = cv2.VideoWriter(
            out,
            cv2.VideoWriter_fourcc(*"mp4v"),
            video.get(cv2.CAP_PROP_FPS) or 30.0,
            (
                int(video.get(cv2.CAP_PROP_FRAME_WIDTH)),
                int(video.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            ),
        )
        if not writer.isOpened():
            raise SystemExit(f"demo.py: error: cannot write the video {out} (give a .mp4 file)")
    show = writer is None and not args.json
    total = int(video.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    frames = demo.run_on_video(video)
    for index, instances, vis_frame in tqdm.tqdm(frames, total=total, unit="frame"):
        results.add(instances, index)  # a frame's image id is its index, from 0
        if writer is not None:
            writer.write(vis_frame)
        elif show:
            cv2.namedWindow(name, cv2.WINDOW_NORMAL)
            cv2.imshow(name, vis_frame)
            if cv2.waitKey(1) == 27:
                break  # esc to quit
    video.release()
    if writer is not None:
        writer.release()
    elif show:
        cv2.destroyAllWindows()


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = get_parser().parse_args(argv)
    setup_logger(name="fvcore")
    logger = setup_logger(name="atss")
    logger.info("Arguments: " + str(args))
    sources = [bool(args.input), bool(args.video_input), args.webcam]
    if sum(sources) != 1:
        raise SystemExit("demo.py: error: give exactly one of --input, --video-input, --webcam")
    if args.coco_json and not args.input:
        raise SystemExit("demo.py: error: --coco-json names the images of --input")
    tiling = None
    try:
        if args.tile is not None:
            # The overlap and a tile below one pixel are refused before anything is loaded.
            check_tiling(args.tile, args.overlap, largest_stride=1)
            tiling = Tiling(args.tile, args.overlap, args.merge)
        config = model_config(args)
        predictor = Predictor(
            config,
            score_threshold=args.confidence_threshold,
            batch_size=args.batch_size,
            tiling=tiling,
            device=args.device,
        )
        results = Results(category_ids(args, config, predictor.model.num_classes, logger))
        if args.input:
            files, missing = expand_inputs(args.input)
            if args.coco_json:
                image_ids = image_ids_from_coco(args.coco_json, files)
            else:
                image_ids = image_ids_from_names(files)
        draw_threshold, origin = resolve_score_threshold(
            args.confidence_threshold, config.config_file
        )
    except (ConfigError, CheckpointError, ValueError) as e:
        raise SystemExit(f"demo.py: error: {e}")
    logger.info(f"Results: the detections of {predictor.threshold_description}")
    logger.info(f"Drawing the detections with score >= {draw_threshold:.2f}: {origin}.")
    if tiling is not None:
        logger.info(
            f"Tiles of {tiling.tile} px overlapping by {tiling.overlap:g}, and the whole image, "
            f"merged by {tiling.merge}"
        )
    demo = VisualizationDemo(predictor, config.metadata, draw_threshold)
    if args.input:
        for path in missing:
            logger.warning(f"Skipped {path}: it does not exist.")
        results.skipped += missing
        run_on_images(demo, args, image_ids, results, logger)
    elif args.video_input:
        if not os.path.isfile(args.video_input):
            raise SystemExit(f"demo.py: error: --video-input {args.video_input} does not exist")
        video = cv2.VideoCapture(args.video_input)
        run_on_video(demo, video, args, os.path.basename(args.video_input), results)
    else:
        run_on_video(demo, cv2.VideoCapture(0), args, "webcam", results)
    if args.json:
        results.write(args.json, logger)
    if results.skipped:
        logger.warning(
            f"{len(results.skipped)} image(s) skipped, missing or unreadable: "
            + ", ".join(results.skipped)
        )


if __name__ == "__main__":
    main()
