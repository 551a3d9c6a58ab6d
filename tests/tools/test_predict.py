"""
demo/demo.py as a predictor: a published entry on a folder writes a COCO results file that
pycocotools scores as COCOEvaluator does; a video gives a drawn video and its detections; a large
image tiled finds the small objects the whole image loses, each once; bad inputs are reported,
skipped and counted, and bad tilings refused before any image is read.
"""

import json
import numpy as np
import os
import subprocess
import sys
from pathlib import Path
import pytest
import torch

pytestmark = [pytest.mark.detectron2, pytest.mark.slow]  # a few seconds a run of the demo
pytest.importorskip("detectron2", reason="detectron2 not installed")

import cv2  # noqa: E402
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402
from torch import nn  # noqa: E402

import detectron2.data.transforms as T  # noqa: E402
from detectron2.config import LazyCall as L  # noqa: E402
from detectron2.config import LazyConfig  # noqa: E402
from detectron2.data import get_detection_dataset_dicts  # noqa: E402
from detectron2.data import DatasetMapper, build_detection_test_loader  # noqa: E402
from detectron2.evaluation import COCOEvaluator, inference_on_dataset  # noqa: E402
from detectron2.structures import Boxes, Instances  # noqa: E402

from atss.config import load_config  # noqa: E402
from atss.data import ShapesSpec, generate_shapes, register_coco_instances_checked  # noqa: E402
from atss.export import DeployConfig  # noqa: E402
from atss.inference.predictor import Predictor, Tiling  # noqa: E402
from atss.inference.tiling import tile_grid  # noqa: E402
from atss.model_zoo import get_published, publish_run  # noqa: E402
from tiny_run import ROOT  # noqa: E402

SHAPES_CONFIG = "configs/Shapes/atss_R_18_FPN_shapes.py"
ENV = dict(os.environ, CUDA_VISIBLE_DEVICES="")


def demo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "demo/demo.py", *args], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, timeout=600,
    )  # fmt: skip


def detecting_weights(model: nn.Module) -> nn.Module:
    """Random weights whose class probabilities pass the test threshold."""
    torch.manual_seed(0)
    nn.init.normal_(model.head.cls_score.weight, std=0.05)
    nn.init.constant_(model.head.cls_score.bias, -2.0)
    return model


@pytest.fixture(scope="module")
def entry(tmp_path_factory) -> str:
    """A published entry of the shapes config (tools/publish_model.py's layout)."""
    run = tmp_path_factory.mktemp("run")
    # float32 on every CPU: in bfloat16 a batch of images rounds otherwise than one image, and
    # the demo's batches are compared with the evaluator's single images.
    cfg = load_config(SHAPES_CONFIG, ["train.amp.enabled=False"])
    LazyConfig.save(cfg, str(run / "config.yaml"))
    model = DeployConfig(SHAPES_CONFIG, allow_unloaded_weights=True).build_model()
    torch.save({"model": detecting_weights(model).state_dict()}, run / "model_final.pth")
    return publish_run(str(run), "shapes", str(tmp_path_factory.mktemp("zoo"))).directory


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Generated shapes images with their COCO JSON (image ids 1..6 named 000001.png ...)."""
    root = tmp_path_factory.mktemp("folder")
    generate_shapes(
        str(root), ShapesSpec(num_images=6, seed=5, min_image_side=64, max_image_side=80)
    )
    return root


def coco_eval(annotations: Path, results: Path) -> np.ndarray:
    gt = COCO(str(annotations))
    evaluation = COCOeval(gt, gt.loadRes(str(results)), "bbox")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    return evaluation.stats


def evaluator_ap(entry: str, folder: Path, output_dir: Path) -> dict:
    """COCOEvaluator's AP of the entry's model on the folder, through detectron2's test loader."""
    register_coco_instances_checked(
        "predict_folder", {}, str(folder / "annotations.json"), str(folder / "images")
    )
    loader = build_detection_test_loader(
        get_detection_dataset_dicts("predict_folder", filter_empty=False),
        mapper=DatasetMapper(is_train=False, augmentations=[], image_format="BGR"),
    )
    evaluator = COCOEvaluator("predict_folder", output_dir=str(output_dir))
    return inference_on_dataset(get_published(entry, device="cpu").eval(), loader, evaluator)


def test_a_published_entry_on_a_folder_scores_in_pycocotools_as_in_the_evaluator(
    entry, folder, tmp_path
):
    results = tmp_path / "results.json"
    proc = demo(
        "--published", entry, "--input", str(folder / "images"), "--json", str(results),
        "--coco-json", str(folder / "annotations.json"), "--batch-size", "4",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:]
    own = "Results: the detections of the model's own model.inference.score_thresh 0.05"
    assert own in proc.stdout
    stats = coco_eval(folder / "annotations.json", results)
    expected = evaluator_ap(entry, folder, tmp_path / "eval")["bbox"]
    assert expected["AP50"] > 0  # the weights detect something
    got = dict(zip(["AP", "AP50", "AP75", "APs", "APm", "APl"], 100 * stats[:6]))
    for key, value in got.items():
        if not np.isnan(expected[key]):
            assert value == pytest.approx(expected[key], abs=1e-3), key


def test_without_a_coco_json_the_ids_come_from_the_file_names_and_the_test_set(
    entry, folder, tmp_path
):
    with_json, without = tmp_path / "with.json", tmp_path / "without.json"
    images = str(folder / "images")
    args = ("--published", entry, "--input", images)
    assert demo(*args, "--json", str(without)).returncode == 0
    coco = str(folder / "annotations.json")
    assert demo(*args, "--json", str(with_json), "--coco-json", coco).returncode == 0
    records = json.loads(without.read_text())
    assert {r["image_id"] for r in records} <= set(range(1, 7))
    assert records == json.loads(with_json.read_text())


def write_video(path: Path, frames) -> None:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 5.0, (width, height))
    for frame in frames:
        writer.write(frame)
    writer.release()


def read_video(path: Path) -> list:
    video, frames = cv2.VideoCapture(str(path)), []
    while True:
        ok, frame = video.read()
        if not ok:
            return frames
        frames.append(frame)


def test_a_video_gives_a_drawn_video_and_one_record_per_detection(entry, folder, tmp_path):
    image = cv2.resize(cv2.imread(str(folder / "images" / "000001.png")), (96, 80))
    clip = tmp_path / "clip.mp4"
    write_video(clip, [image, image[:, ::-1].copy(), 255 - image])
    proc = demo(
        "--published", entry, "--video-input", str(clip), "--output", f"{tmp_path / 'drawn'}/",
        "--json", str(tmp_path / "clip.json"), "--batch-size", "2",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:]
    frames = read_video(clip)
    drawn = read_video(tmp_path / "drawn" / "clip.mp4")
    assert len(drawn) == len(frames) == 3
    assert drawn[0].shape == frames[0].shape
    predictor = Predictor(
        DeployConfig(
            str(Path(entry) / "config.yaml"),
            [f"train.init_checkpoint={next(Path(entry).glob('model_final_*.pth'))}"],
        ),
        device="cpu",
    )
    expected = [len(instances) for instances in predictor(frames)]
    records = json.loads((tmp_path / "clip.json").read_text())
    assert sum(expected) > 0
    assert [sum(r["image_id"] == i for r in records) for i in range(3)] == expected


def test_a_missing_and_an_unreadable_image_are_reported_skipped_and_counted(
    entry, folder, tmp_path
):
    images = tmp_path / "images"
    images.mkdir()
    for name in ("000001.png", "000002.png"):
        (images / name).write_bytes((folder / "images" / name).read_bytes())
    (images / "000003.png").write_bytes(b"not a png")
    (images / "000004.png").symlink_to(tmp_path / "gone.png")  # listed, missing
    results = tmp_path / "results.json"
    proc = demo(
        "--published", entry, "--input", str(images), str(tmp_path / "000009.png"),
        "--json", str(results),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "Traceback" not in proc.stdout
    for path in (images / "000003.png", images / "000004.png", tmp_path / "000009.png"):
        assert f"Skipped {path}" in proc.stdout
    assert "3 image(s) skipped, missing or unreadable" in proc.stdout
    assert {r["image_id"] for r in json.loads(results.read_text())} == {1, 2}


@pytest.mark.parametrize(
    "tile, overlap, message",
    [
        ("8", "0.2", "--tile 8 is smaller than the model's largest stride 16"),
        ("512", "1", "--overlap 1.0 must lie in [0, 1)"),
        ("512", "-0.5", "--overlap -0.5 must lie in [0, 1)"),
    ],
)
def test_a_bad_tiling_is_refused_before_any_image_is_read(
    entry, folder, tmp_path, tile, overlap, message
):
    results = tmp_path / "results.json"
    proc = demo(
        "--published", entry, "--input", str(folder / "images"), "--json", str(results),
        "--tile", tile, "--overlap", overlap,
    )  # fmt: skip
    assert proc.returncode != 0 and "Traceback" not in proc.stdout
    assert f"demo.py: error: {message}" in proc.stdout
    assert not results.exists()


def test_a_tiled_run_writes_its_results(entry, folder, tmp_path):
    results = tmp_path / "results.json"
    proc = demo(
        "--published", entry, "--input", str(folder / "images"), "--json", str(results),
        "--tile", "48", "--overlap", "0.25", "--merge", "nms",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "Tiles of 48 px overlapping by 0.25, and the whole image, merged by nms" in proc.stdout
    assert json.loads(results.read_text())


# ------------------------------------------------------------------------------------------------
# A 2000x2000 image, tiled and whole
# ------------------------------------------------------------------------------------------------
class BrightBlobDetector(nn.Module):
    """
    A detector whose misses are known by construction: it reports every bright blob of its input
    (after the test resizing) whose sides are at least ``min_side`` pixels, with its exact box.
    """

    def __init__(self, model: nn.Module, min_side: int = 6):
        super().__init__()
        self.anchor_generator = model.anchor_generator
        self.inference = model.inference
        self.min_side = min_side

    def forward(self, batched_inputs):
        outputs = []
        for x in batched_inputs:
            image = x["image"].max(dim=0).values.numpy()
            _, _, stats, _ = cv2.connectedComponentsWithStats((image > 128).astype(np.uint8))
            stats = torch.as_tensor(stats[1:], dtype=torch.float32).reshape(-1, 5)
            stats = stats[(stats[:, 2] >= self.min_side) & (stats[:, 3] >= self.min_side)]
            boxes = torch.cat([stats[:, :2], stats[:, :2] + stats[:, 2:4]], dim=1)
            height, width = x["height"], x["width"]
            scale = torch.tensor([width, height, width, height]) / torch.tensor(
                [image.shape[1], image.shape[0]] * 2
            )
            instances = Instances((height, width))
            instances.pred_boxes = Boxes(boxes * scale)
            instances.scores = torch.full((len(boxes),), 0.9)
            instances.pred_classes = torch.zeros(len(boxes), dtype=torch.long)
            outputs.append({"instances": instances})
        return outputs


SIDE, TILE, OVERLAP, TEST_SIZE = 2000, 512, 0.25, 512


def large_image():
    """
    A dark 2000x2000 image with 12-pixel squares, 3 pixels at the test size and so too small to
    see whole, at every tile seam and between; and two squares larger than the overlaps, one
    across a seam (aligned with the test size's pixels, so the whole image finds them exactly).
    """
    big = [[500, 125, 750, 375], [1250, 1125, 1500, 1375]]
    grid = tile_grid(SIDE, SIDE, TILE, OVERLAP)
    edges = set(grid.windows[:, 0].tolist()) | set(grid.windows[:, 2].tolist())
    # Squares cut by a seam (centre on it) or just inside a tile (4 px from it), and between.
    xs = sorted({e + d for e in edges if 0 < e < SIDE for d in (-8, 0)} | set(range(60, SIDE, 210)))
    boxes = []
    for i, cx in enumerate(xs):
        for cy in xs[i % 3 :: 3]:
            box = [cx - 6, cy - 6, cx + 6, cy + 6]
            clear = all(
                box[0] > b[2] + 10 or box[2] < b[0] - 10 or box[1] > b[3] + 10 or box[3] < b[1] - 10
                for b in boxes + big
            )
            if clear:
                boxes.append(box)
    image = np.full((SIDE, SIDE, 3), 30, np.uint8)
    for x0, y0, x1, y1 in boxes + big:
        image[y0:y1, x0:x1] = 220
    return image, torch.tensor(boxes + big, dtype=torch.float32)


@pytest.fixture(scope="module")
def blob_config(tmp_path_factory):
    config = DeployConfig(SHAPES_CONFIG, allow_unloaded_weights=True)
    config.cfg.dataloader.test.mapper.augmentations = [
        L(T.ResizeShortestEdge)(short_edge_length=TEST_SIZE, max_size=TEST_SIZE)
    ]
    return config


def blob_predictor(config, tiling=None) -> Predictor:
    predictor = Predictor(config, tiling=tiling, batch_size=8, device="cpu")
    predictor.model = BrightBlobDetector(predictor.model)
    return predictor


def matches(detections: Instances, boxes: torch.Tensor) -> torch.Tensor:
    """How many detections find each object (IoU at least 0.8)."""
    from torchvision.ops import box_iou

    return (box_iou(boxes, detections.pred_boxes.tensor) >= 0.8).sum(dim=1)


def test_tiling_a_2000_pixel_image_finds_each_small_object_the_whole_image_misses_once(blob_config):
    image, boxes = large_image()
    small = (boxes[:, 2] - boxes[:, 0]) < 100
    (whole,) = blob_predictor(blob_config)([image])
    assert (matches(whole, boxes[small]) == 0).all()
    assert (matches(whole, boxes[~small]) == 1).all()
    for merge in ("soft_vote", "nms"):
        (tiled,) = blob_predictor(blob_config, Tiling(TILE, OVERLAP, merge))([image])
        assert matches(tiled, boxes).tolist() == [1] * len(boxes), merge
        assert len(tiled) == len(boxes), merge  # nor any piece of an object cut by a seam
