#!/usr/bin/env python
"""
Export an ATSS model for deployment, with the command line of detectron2's
``tools/deploy/export_model.py``:

    python tools/deploy/export_model.py --config-file configs/Shapes/atss_R_18_FPN_shapes.py \\
        --export-method tracing --format torchscript --output ./output/export \\
        train.init_checkpoint=output/atss_R_18_FPN_shapes/model_final.pth

It writes ``OUTPUT/model.ts`` (with its TorchScript IR) or ``OUTPUT/model.onnx``, then runs the
exported model on the sample image (``--sample-image``, else the first test image) and checks that
its detections are the eager model's (same number and classes, boxes and scores within 1e-4
relative); ``--run-eval`` evaluates it on the config's test set with COCOEvaluator, next to the
eager model. Exports that cannot work (DCN to ONNX, ...) are refused before anything is written.
"""

import atss.require_detectron2  # noqa: F401  (without detectron2: exit 2, naming the set-up)
import argparse
import logging
import os
import sys
import torch

from detectron2.data import detection_utils
from detectron2.evaluation import inference_on_dataset, print_csv_format
from detectron2.utils.logger import setup_logger

from atss.checkpoint.resilient import CheckpointError
from atss.config import ConfigError
from atss.evaluation import resolve_score_threshold, write_deployment_threshold
from atss.export import (
    EXPORT_FORMATS,
    EXPORT_METHODS,
    DeployConfig,
    DetectionMismatch,
    ExportedDetector,
    UnsupportedExportError,
    check_exportable,
    detection_differences,
    export_scripting,
    export_tracing,
)

TOLERANCE = 1e-4


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Export a model for deployment.")
    parser.add_argument("--format", choices=EXPORT_FORMATS, default="torchscript")
    parser.add_argument("--export-method", choices=EXPORT_METHODS, default="tracing")
    parser.add_argument("--config-file", required=True, metavar="FILE", help="path to config file")
    parser.add_argument("--sample-image", default=None, help="sample image for input")
    parser.add_argument("--run-eval", action="store_true")
    parser.add_argument(
        "--score-threshold",
        type=float,
        default=None,
        help="the score above which the deployment keeps detections, saved beside the exported "
        "model as score_threshold.json (default: the one recommended by the model's evaluation, "
        "saved beside its config, else 0.5)",
    )
    parser.add_argument("--output", required=True, help="output directory for the converted model")
    parser.add_argument(
        "--allow-unloaded-weights",
        action="store_true",
        help="use the model even when the config names no weights (random weights)",
    )
    parser.add_argument(
        "opts",
        help="config overrides: key=value for LazyConfigs, KEY VALUE pairs for YAML",
        default=None,
        nargs=argparse.REMAINDER,
    )
    return parser


def sample_input(config: DeployConfig, sample_image):
    if sample_image is None:
        return next(iter(config.build_test_loader()))[0]
    if not os.path.isfile(sample_image):
        raise FileNotFoundError(f"--sample-image {sample_image!r} does not exist")
    image = detection_utils.read_image(sample_image, format=config.input_format)
    return config.preprocess(image)


def evaluate(config: DeployConfig, model, output_dir: str) -> dict:
    evaluator = config.build_evaluator(output_dir)
    metrics = inference_on_dataset(model, config.build_test_loader(), evaluator)
    print_csv_format(metrics)
    return metrics


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    logger = setup_logger(name="atss")
    setup_logger()
    logger.info("Command line arguments: " + str(args))

    try:
        config = DeployConfig(args.config_file, args.opts, args.allow_unloaded_weights)
        model = config.build_model()
        check_exportable(model, args.export_method, args.format)
    except (ConfigError, CheckpointError, UnsupportedExportError) as e:
        print(f"export_model.py: error: {e}", file=sys.stderr)
        return 2
    os.makedirs(args.output, exist_ok=True)

    inputs = sample_input(config, args.sample_image)
    image = inputs["image"]
    if args.export_method == "tracing":
        path = export_tracing(model, image, args.format, args.output)
    else:
        path = export_scripting(model, args.output)
    logger.info(f"Wrote {path}")
    threshold, origin = resolve_score_threshold(args.score_threshold, args.config_file)
    saved = write_deployment_threshold(args.output, threshold, args.config_file)
    logger.info(f"Keep the detections with score >= {threshold:.2f} ({origin}): {saved}")

    # Both at the size of the model input: the exported model leaves the resize to the caller.
    exported = ExportedDetector(path, args.export_method)
    with torch.no_grad():
        eager = model([{"image": image}])[0]["instances"]
    try:
        diff = detection_differences(
            exported.eval_function()([{"image": image}])[0]["instances"], eager
        )
    except DetectionMismatch as e:
        diff = {"error": str(e)}
    if "error" in diff or max(diff.values()) > TOLERANCE:
        os.remove(path)
        print(
            f"export_model.py: error: the exported model's detections differ from the eager "
            f"model's on the sample image ({diff}); removed {path}",
            file=sys.stderr,
        )
        return 1
    logger.info(
        f"{args.export_method} / {args.format}: {len(eager)} detections, same classes as the "
        f"eager model; largest relative difference of boxes {diff['boxes']:.1e}, "
        f"of scores {diff['scores']:.1e} (tolerance {TOLERANCE:.0e})"
    )

    if args.run_eval:
        logger.info("Evaluating the eager and the exported model ... (slow on a CPU)")
        eager_metrics = evaluate(config, model, os.path.join(args.output, "eval_eager"))
        exported_metrics = evaluate(
            config, exported.eval_function(), os.path.join(args.output, "eval_exported")
        )
        logger.info(
            "bbox AP: eager {:.2f}, exported ({} / {}) {:.2f}".format(
                eager_metrics["bbox"]["AP"],
                args.export_method,
                args.format,
                exported_metrics["bbox"]["AP"],
            )
        )
    logging.getLogger("atss").info("Success.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
