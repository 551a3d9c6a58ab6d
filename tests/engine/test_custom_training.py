"""
Training on the user's own data from the command line (configs/Custom, docs/custom_data.md):
train_net.py takes a COCO JSON file or a VOC folder by path, prints the per-class AP table, fine-
tunes from a checkpoint with another number of classes, and the run publishes as a model-zoo
entry that loads back with the same detections. Bad input stops the run before it writes
anything. The trunk starts from torchvision's ImageNet ResNet-18 in torchvision's cache (a random
one stands in for it), and offline without it the run stops with the fix; the other runs train
from scratch (``train.init_checkpoint=``).
"""

import json
import subprocess
import sys
from pathlib import Path
import pytest

pytestmark = [pytest.mark.detectron2, pytest.mark.slow]
pytest.importorskip("detectron2", reason="detectron2 not installed")

import os  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402

from atss.config import build_model, load_config  # noqa: E402
from atss.model_zoo import get_published  # noqa: E402
from atss.model_zoo.publish import publish_run  # noqa: E402
from custom_data import write_custom_data  # noqa: E402
from tiny_run import ROOT, run_train_net  # noqa: E402

CPU_CONFIG = "configs/Custom/atss_R_18_FPN_cpu.py"
# The shapes recipe whose model the Custom CPU config trains.
SHAPES_CONFIG = "configs/Shapes/atss_R_18_FPN_shapes_long.py"
SHRINK = [
    "train.max_iter=20",
    "train.eval_period=10",
    "train.checkpointer.period=20",
    "dataloader.train.total_batch_size=2",
    "dataloader.train.num_workers=0",
    "dataloader.test.num_workers=0",
    "dataloader.train.mapper.augmentations.0.short_edge_length=96",
    "dataloader.test.mapper.augmentations.0.short_edge_length=96",
]
ENV = dict(os.environ, CUDA_VISIBLE_DEVICES="")
WEIGHTS_FILE = Path(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url).name


def offline_env(torch_home: Path) -> dict:
    """An empty torch.hub cache, and downloads sent to a proxy that refuses them: offline."""
    proxy = "http://127.0.0.1:9"
    return dict(ENV, TORCH_HOME=str(torch_home), https_proxy=proxy, http_proxy=proxy, no_proxy="")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_custom_data(tmp_path_factory.mktemp("custom"))


def train(data, output_dir: Path, train_set: str, test_set: str, *extra: str, env=ENV, weights=""):
    """The Custom CPU config, shrunk; from scratch unless ``weights`` (None: the config's own)."""
    return run_train_net(
        env,
        "--config-file",
        CPU_CONFIG,
        f"dataset.train.annotations={data[train_set]}",
        f"dataset.test.annotations={data[test_set]}",
        f"train.output_dir={output_dir}",
        *SHRINK,
        *([] if weights is None else [f"train.init_checkpoint={weights}"]),
        *extra,
    )


def final_metrics(output_dir: Path) -> dict:
    lines = (output_dir / "metrics.json").read_text().splitlines()
    return [json.loads(line) for line in lines if "bbox/AP" in line][-1]


@pytest.fixture(scope="module")
def coco_run(data, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("coco_run")
    env = offline_env(tmp_path_factory.mktemp("torch_home"))
    return train(data, output_dir, "coco_train", "coco_test", env=env), output_dir


def test_the_empty_checkpoint_override_trains_from_scratch_offline(coco_run):
    proc, _ = coco_run
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert "Initializing model from scratch" in proc.stdout
    assert "tensors of the trunk" not in proc.stdout  # the log of torchvision:// weights


def test_with_the_imagenet_weights_in_torchvisions_cache_the_trunk_starts_from_them(data, tmp_path):
    weights = tmp_path / "torch_home" / "hub" / "checkpoints" / WEIGHTS_FILE
    weights.parent.mkdir(parents=True)
    torch.save(torchvision.models.resnet18().state_dict(), weights)
    proc = train(
        data, tmp_path / "out", "coco_train", "coco_test", "train.max_iter=2",
        "train.early_stop.enabled=False", env=offline_env(tmp_path / "torch_home"), weights=None,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert f"from {weights}, 100 tensors of the trunk" in proc.stdout
    assert "matched with submodule backbone.bottom_up" in proc.stdout


def test_offline_without_the_imagenet_weights_the_run_stops_before_training_with_the_fix(
    data, tmp_path
):
    proc = train(
        data, tmp_path / "out", "coco_train", "coco_test",
        env=offline_env(tmp_path / "torch_home"), weights=None,
    )  # fmt: skip
    assert proc.returncode != 0
    assert f"Place {WEIGHTS_FILE}" in proc.stdout, proc.stdout[-3000:]
    assert 'train.init_checkpoint=""' in proc.stdout and "Traceback" not in proc.stdout
    assert not (tmp_path / "out").exists()


def test_trains_on_a_coco_json_file_and_prints_per_class_ap(coco_run):
    proc, output_dir = coco_run
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert "Per-category bbox AP" in proc.stdout and "traffic cone" in proc.stdout
    metrics = final_metrics(output_dir)
    assert {"bbox/AP-box", "bbox/AP-traffic cone", "bbox/AP-ellipse"} <= set(metrics)


def test_the_model_takes_its_classes_from_the_training_set(coco_run):
    _, output_dir = coco_run
    cfg = load_config(str(output_dir / "config.yaml"))
    assert cfg.model.num_classes == 3
    assert list(cfg.dataset.classes) == ["box", "traffic cone", "ellipse"]


def test_trains_on_a_voc_folder_and_prints_per_class_ap(data, tmp_path):
    proc = train(data, tmp_path, "voc_train", "voc_test")
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert "Per-category bbox AP" in proc.stdout
    assert "bbox/AP-traffic cone" in final_metrics(tmp_path)


def test_a_config_that_fixes_another_class_count_stops_with_the_fix(data, tmp_path):
    proc = train(data, tmp_path, "coco_train", "coco_test", "model.num_classes=5")
    assert proc.returncode != 0
    assert "training set has 3 classes" in proc.stdout and "model.num_classes=3" in proc.stdout
    assert not any(tmp_path.iterdir())


def test_without_data_the_custom_config_names_the_keys(tmp_path):
    proc = run_train_net(ENV, "--config-file", CPU_CONFIG, f"train.output_dir={tmp_path}")
    assert proc.returncode != 0 and "dataset.train.annotations=PATH" in proc.stdout
    assert "Traceback" not in proc.stdout


@pytest.mark.parametrize(
    "override, message",
    [
        ("dataset.train.annotations=/nowhere/train.json", "/nowhere/train.json do not exist"),
        ("dataset.train.images=/nowhere", "Image folder /nowhere"),
    ],
)
def test_bad_data_stops_before_anything_is_written(data, tmp_path, override, message):
    proc = train(data, tmp_path / "out", "coco_train", "coco_test", override)
    assert proc.returncode != 0 and message in proc.stdout, proc.stdout[-3000:]
    assert "Traceback" not in proc.stdout
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def shapes_checkpoint(tmp_path_factory) -> Path:
    """A model of the long shapes config: the Custom CPU architecture, five classes."""
    path = tmp_path_factory.mktemp("shapes") / "shapes_model.pth"
    model = build_model(load_config(str(ROOT / SHAPES_CONFIG)), device="cpu")
    torch.save({"model": model.state_dict()}, path)
    return path


def test_fine_tuning_loads_all_but_the_class_predictor_and_names_what_it_skipped(
    data, tmp_path, shapes_checkpoint
):
    proc = train(
        data, tmp_path, "coco_train", "coco_test", f"train.init_checkpoint={shapes_checkpoint}"
    )
    assert proc.returncode == 0, proc.stdout[-5000:]
    skipped = [line for line in proc.stdout.splitlines() if "Fine-tuning: " in line]
    assert len(skipped) == 2 and all("another number of classes" in line for line in skipped)
    assert any("head.cls_score.weight" in line and "(5, 128, 3, 3)" in line for line in skipped)


def test_eval_only_refuses_a_checkpoint_without_the_class_predictor(
    data, tmp_path, shapes_checkpoint
):
    proc = train(
        data, tmp_path, "coco_train", "coco_test", f"train.init_checkpoint={shapes_checkpoint}",
        "--eval-only",
    )  # fmt: skip
    assert proc.returncode != 0 and "class predictor" in proc.stdout, proc.stdout[-3000:]


def test_a_checkpoint_of_another_backbone_stops_before_anything_is_written(
    data, tmp_path, shapes_checkpoint
):
    state = torch.load(shapes_checkpoint)
    state["model"]["backbone.bottom_up.stem.conv1.weight"] = torch.zeros(32, 3, 7, 7)
    other = tmp_path / "other_backbone.pth"
    torch.save(state, other)
    proc = train(
        data, tmp_path / "out", "coco_train", "coco_test", f"train.init_checkpoint={other}"
    )
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert "does not fit the config's model" in proc.stdout and "stem.conv1.weight" in proc.stdout
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def published(coco_run, tmp_path_factory):
    _, output_dir = coco_run
    return publish_run(str(output_dir), "tiny_coco", str(tmp_path_factory.mktemp("zoo")))


def _detections(model, image):
    with torch.no_grad():
        (out,) = model.eval()([{"image": image, "height": 80, "width": 80}])
    return out["instances"]


def test_a_published_model_gives_the_detections_of_the_run(published, coco_run):
    _, output_dir = coco_run
    assert published.source == str(output_dir / "model_best.pth")
    run_model = build_model(load_config(str(output_dir / "config.yaml")), device="cpu")
    run_model.load_state_dict(torch.load(published.source)["model"])
    run_model.head.cls_score.bias.data += 4.0  # enough detections to compare at random weights
    image = torch.randint(0, 255, (3, 80, 80)).float()
    zoo_model = get_published(published.directory, device="cpu")
    zoo_model.head.cls_score.bias.data += 4.0
    expected, got = _detections(run_model, image), _detections(zoo_model, image)
    assert len(expected) > 0
    assert torch.equal(expected.pred_boxes.tensor, got.pred_boxes.tensor)
    assert torch.equal(expected.scores, got.scores)


def test_a_published_file_holds_the_weights_only(published):
    checkpoint = torch.load(published.checkpoint)
    assert list(checkpoint) == ["model"]
    assert Path(published.checkpoint).name == f"model_final_{published.sha256[:8]}.pth"


def test_a_published_model_starts_a_run_of_its_own(published, data, tmp_path):
    proc = train(
        data, tmp_path, "voc_train", "voc_test", f"train.init_checkpoint={published.checkpoint}",
        "train.max_iter=2", "train.early_stop.enabled=False",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "Fine-tuning" not in proc.stdout


def test_a_published_file_altered_by_one_byte_is_refused(published, data, tmp_path):
    altered = tmp_path / Path(published.checkpoint).name
    content = bytearray(Path(published.checkpoint).read_bytes())
    content[len(content) // 2] ^= 1
    altered.write_bytes(bytes(content))
    (tmp_path / "config.yaml").write_bytes((Path(published.directory) / "config.yaml").read_bytes())
    proc = train(
        data, tmp_path / "out", "coco_train", "coco_test", f"train.init_checkpoint={altered}"
    )
    assert proc.returncode != 0 and "was altered or damaged" in proc.stdout
    with pytest.raises(Exception, match="was altered or damaged"):
        get_published(str(altered), device="cpu")


def run_tool(*args: str):
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, timeout=600,
    )  # fmt: skip


def test_the_demo_draws_a_published_model_on_your_own_images(published, data, tmp_path):
    images = sorted(str(p) for p in (data["coco_test"].parent / "images").glob("*.png"))
    proc = run_tool(
        "demo/demo.py", "--config-file", f"{published.directory}/config.yaml", "--input", *images,
        "--output", str(tmp_path), "--opts", f"train.init_checkpoint={published.checkpoint}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert len(list(tmp_path.glob("*.png"))) == len(images)


def test_the_exporter_takes_a_published_model(published, data, tmp_path):
    image = sorted((data["coco_test"].parent / "images").glob("*.png"))[0]
    proc = run_tool(
        "tools/deploy/export_model.py", "--config-file", f"{published.directory}/config.yaml",
        "--export-method", "tracing", "--format", "torchscript", "--output", str(tmp_path),
        "--sample-image", str(image), f"train.init_checkpoint={published.checkpoint}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert (tmp_path / "model.ts").is_file()
