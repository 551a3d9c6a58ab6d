#!/usr/bin/env python
"""
detectron2's demo for ATSS: draws the detections of a config's model (LazyConfig or YAML, weights
from ``train.init_checkpoint`` / ``MODEL.WEIGHTS``) on images, a video or the webcam.

    python demo/demo.py --config-file configs/Shapes/atss_R_18_FPN_shapes.py \\
        --input ~/.cache/atss/shapes/shapes_val/images/00000[1-4].png --output demo_out/ \\
        --opts train.init_checkpoint=output/atss_R_18_FPN_shapes/model_final.pth

Without ``--output`` each result is shown in a window (Esc quits). Without
``--confidence-threshold`` the detections are drawn at the score threshold recommended by the
model's evaluation (``score_threshold.json`` beside the config: a run's or a published entry's,
docs/evaluation.md), else at 0.5; the log says which and where it came from.
"""

import atss.require_detectron2  # noqa: F401  (without detectron2: exit 2, naming the set-up)
import argparse
import glob
import os
import sys
import time
import cv2
import tqdm

from detectron2.data.detection_utils import read_image
from detectron2.utils.logger import setup_logger

from atss.checkpoint.resilient import CheckpointError
from atss.config import ConfigError
from atss.evaluation import resolve_score_threshold
from atss.export import DeployConfig

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from predictor import VisualizationDemo  # noqa: E402

WINDOW_NAME = "ATSS detections"


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="ATSS demo (detectron2's demo interface)")
    parser.add_argument("--config-file", required=True, metavar="FILE", help="path to config file")
    parser.add_argument("--webcam", action="store_true", help="Take inputs from webcam.")
    parser.add_argument("--video-input", help="Path to video file.")
    parser.add_argument(
        "--input",
        nargs="+",
        help="A list of space separated input images; or a single glob pattern such as "
        "'directory/*.jpg'",
    )
    parser.add_argument(
        "--output",
        help="A file or directory to save output visualizations. "
        "If not given, will show output in an OpenCV window.",
    )
    parser.add_argument(
        "--confidence-threshold",
        type=float,
        default=None,
        help="Minimum score for instance predictions to be shown (default: the threshold "
        "recommended by the model's evaluation, saved beside its config, else 0.5)",
    )
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


def expand_inputs(inputs):
    if len(inputs) == 1:
        inputs = sorted(glob.glob(os.path.expanduser(inputs[0])))
    missing = [p for p in inputs if not os.path.isfile(p)]
    if not inputs or missing:
        raise FileNotFoundError(f"Input image(s) not found: {missing or 'no match'}")
    return inputs


def output_path(output: str, input_path: str, num_inputs: int) -> str:
    """A directory (existing, ending in a separator, or several inputs) receives one file per
    input, under its name; otherwise ``output`` is the file."""
    if os.path.isdir(output) or output.endswith(os.sep) or num_inputs > 1:
        os.makedirs(output, exist_ok=True)
        return os.path.join(output, os.path.basename(input_path))
    return output


def run_on_images(demo: VisualizationDemo, args, logger) -> None:
    inputs = expand_inputs(args.input)
    for path in tqdm.tqdm(inputs, disable=not args.output):
        img = read_image(path, format="BGR")
        start_time = time.time()
        predictions, visualized_output = demo.run_on_image(img)
        logger.info(
            f"{path}: detected {len(predictions['instances'])} instances "
            f"in {time.time() - start_time:.2f}s"
        )
        if args.output:
            visualized_output.save(output_path(args.output, path, len(inputs)))
        else:
            cv2.namedWindow(WINDOW_NAME, cv2.WINDOW_NORMAL)
            cv2.imshow(WINDOW_NAME, visualized_output.get_image()[:, :, ::-1])
            if cv2.waitKey(0) == 27:
                break  # esc to quit


def run_on_video(demo: VisualizationDemo, video: cv2.VideoCapture, args, name: str) -> None:
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
    total = int(video.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    for vis_frame in tqdm.tqdm(demo.run_on_video(video), total=total):
        if writer is not None:
            writer.write(vis_frame)
        else:
            cv2.namedWindow(name, cv2.WINDOW_NORMAL)
            cv2.imshow(name, vis_frame)
            if cv2.waitKey(1) == 27:
                break  # esc to quit
    video.release()
    if writer is not None:
        writer.release()
    else:
        cv2.destroyAllWindows()


def main(argv=None) -> None:
    args = get_parser().parse_args(argv)
    setup_logger(name="fvcore")
    logger = setup_logger(name="atss")
    logger.info("Arguments: " + str(args))
    sources = [bool(args.input), bool(args.video_input), args.webcam]
    if sum(sources) != 1:
        raise SystemExit("demo.py: error: give exactly one of --input, --video-input, --webcam")

    try:
        config = DeployConfig(args.config_file, args.opts, args.allow_unloaded_weights)
        threshold, origin = resolve_score_threshold(args.confidence_threshold, args.config_file)
        logger.info(f"Drawing the detections with score >= {threshold:.2f}: {origin}.")
        demo = VisualizationDemo(config, threshold)
    except (ConfigError, CheckpointError, ValueError) as e:
        raise SystemExit(f"demo.py: error: {e}")
    if args.input:
        run_on_images(demo, args, logger)
    elif args.video_input:
        if not os.path.isfile(args.video_input):
            raise FileNotFoundError(f"--video-input {args.video_input!r} does not exist")
        video = cv2.VideoCapture(args.video_input)
        run_on_video(demo, video, args, os.path.basename(args.video_input))
    else:
        run_on_video(demo, cv2.VideoCapture(0), args, "webcam")


if __name__ == "__main__":
    main()
