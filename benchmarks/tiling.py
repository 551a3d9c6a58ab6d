"""
Tiled against whole-image inference on large images with objects of a few pixels: AP (COCOeval,
as COCOEvaluator computes it) and seconds per image, for one model at one test size.

    python benchmarks/tiling.py --weights output/atss_R_18_FPN_shapes/model_final.pth \\
        [--config-file configs/Shapes/atss_R_18_FPN_shapes.py] [--num-images 2] [--side 1024] \\
        [--test-size 256] [--tile 256] [--overlap 0.2] [--merges soft_vote nms] \\
        [--output-dir output/tiling] [--draw docs/images]

The images are generated shapes (``atss.data.generate_shapes``): ``--side`` pixels square, up to
60 objects of 8 to 32 pixels. Every pass runs at ``--test-size`` (the shorter side, as the
config's test resizing does): the whole image downscaled to it, and each tile of ``--tile``
pixels. The table of AP, wall and CPU seconds per image (CPU: all threads of the process, the
fairer figure on a shared machine) is printed and written to ``results.json``; ``--draw``
writes one image's detections, whole and tiled, as ``predict_whole.png`` and
``predict_tiled.png`` (its top-left 384 pixels, at the score of ``--draw-threshold``).
"""

import atss.require_detectron2  # noqa: F401  (without detectron2: exit 2, naming the set-up)
import argparse
import json
import numpy as np
import time
from pathlib import Path
from typing import Dict, List, Optional
import cv2
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

import detectron2.data.transforms as T
from detectron2.config import LazyCall as L
from detectron2.data.detection_utils import read_image
from detectron2.utils.visualizer import Visualizer

from atss.data import ShapesSpec, generate_shapes
from atss.export import DeployConfig
from atss.inference import MERGE_METHODS
from atss.inference.coco_results import category_ids_from_coco, coco_records
from atss.inference.predictor import Predictor, Tiling

COCO_STATS = ["AP", "AP50", "AP75", "APs", "APm", "APl"]
CROP = 384  # side of the drawn part of an image, in pixels


def large_shapes(directory: Path, num_images: int, side: int) -> Path:
    spec = ShapesSpec(
        num_images=num_images,
        seed=7,
        min_image_side=side,
        max_image_side=side,
        max_objects=60,
        empty_fraction=0.0,
        min_object_size=8,
        max_object_fraction=32 / side,
    )
    if not (directory / "manifest.json").is_file():
        generate_shapes(str(directory), spec)
    return directory / "annotations.json"


def evaluate(annotations: Path, records: List[dict]) -> Dict[str, float]:
    gt = COCO(str(annotations))
    evaluation = COCOeval(gt, gt.loadRes(records), "bbox")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    return dict(zip(COCO_STATS, (100 * evaluation.stats[:6]).tolist()))


def run(predictor: Predictor, annotations: Path, images: Dict[int, np.ndarray]) -> dict:
    """The COCO results records of every image, the seconds per image and the detections of
    the first image."""
    category_ids = category_ids_from_coco(str(annotations), None)
    records, wall, cpu, first = [], 0.0, 0.0, None
    for image_id, image in images.items():
        start, start_cpu = time.perf_counter(), time.process_time()
        (instances,) = predictor([image])
        wall += time.perf_counter() - start
        cpu += time.process_time() - start_cpu
        records += coco_records(instances, image_id, category_ids)
        first = instances if first is None else first
    n = len(images)
    return {"records": records, "wall_s": wall / n, "cpu_s": cpu / n, "first": first}


def draw(config: DeployConfig, image: np.ndarray, instances, threshold: float, path: Path):
    """The detections of one image of at least ``threshold``, on its top-left CROP pixels."""
    instances = instances[instances.scores >= threshold]
    drawn = Visualizer(image[:, :, ::-1], config.metadata).draw_instance_predictions(instances)
    crop = drawn.get_image()[:CROP, :CROP]
    cv2.imwrite(str(path), crop[:, :, ::-1])


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config-file", default="configs/Shapes/atss_R_18_FPN_shapes.py")
    parser.add_argument("--weights", required=True)
    parser.add_argument("--num-images", type=int, default=2)
    parser.add_argument("--side", type=int, default=1024)
    parser.add_argument("--test-size", type=int, default=256)
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--overlap", type=float, default=0.2)
    parser.add_argument("--merges", nargs="+", choices=MERGE_METHODS, default=["soft_vote"])
    parser.add_argument("--output-dir", type=Path, default=Path("output/tiling"))
    parser.add_argument("--draw", type=Path, help="folder of the example pictures")
    parser.add_argument("--draw-threshold", type=float, default=0.3)
    args = parser.parse_args(argv)

    annotations = large_shapes(args.output_dir / "data", args.num_images, args.side)
    with open(annotations) as f:
        listed = json.load(f)["images"]
    images = {
        im["id"]: read_image(str(annotations.parent / "images" / im["file_name"]), format="BGR")
        for im in listed
    }
    config = DeployConfig(args.config_file, [f"train.init_checkpoint={args.weights}"])
    config.cfg.dataloader.test.mapper.augmentations = [
        L(T.ResizeShortestEdge)(short_edge_length=args.test_size, max_size=args.test_size)
    ]
    passes = {"whole image": None}
    passes.update({f"tiled, {m}": Tiling(args.tile, args.overlap, m) for m in args.merges})
    results = {}
    for name, tiling in passes.items():
        predictor = Predictor(config, tiling=tiling, batch_size=8, device="cpu")
        outcome = run(predictor, annotations, images)
        ap = evaluate(annotations, outcome["records"])
        results[name] = {"wall_s": outcome["wall_s"], "cpu_s": outcome["cpu_s"], **ap}
        if args.draw and name in ("whole image", f"tiled, {args.merges[0]}"):
            args.draw.mkdir(parents=True, exist_ok=True)
            file_name = "predict_whole.png" if tiling is None else "predict_tiled.png"
            first = images[listed[0]["id"]]
            draw(config, first, outcome["first"], args.draw_threshold, args.draw / file_name)
    print(
        f"{args.num_images} images of {args.side}x{args.side}, test size {args.test_size}, "
        f"tiles of {args.tile} overlapping by {args.overlap}"
    )
    print("| pass | " + " | ".join(COCO_STATS) + " | wall s/image | CPU s/image |")
    print("|---" * (len(COCO_STATS) + 3) + "|")
    for name, r in results.items():
        # COCOeval gives -1 (here -100) where a size has no object.
        ap = " | ".join(f"{r[k]:.1f}" if r[k] >= 0 else "-" for k in COCO_STATS)
        print(f"| {name} | {ap} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} |")
    (args.output_dir / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
