"""
Deployment: a small ATSS (the shapes config, random weights made to produce detections) exported by
``tools/deploy/export_model.py`` by every supported method and format, reloaded in a subprocess
where neither ``atss`` nor detectron2 can be imported, gives the eager model's detections; exports
that cannot work are refused with their reason; ``demo/demo.py`` draws detections on images.
"""

import importlib.util
import numpy as np
import os
import subprocess
import sys
import textwrap
from pathlib import Path
import pytest
import torch

pytestmark = [pytest.mark.detectron2, pytest.mark.slow]  # subprocesses of a few seconds each
pytest.importorskip("detectron2", reason="detectron2 not installed")

import cv2

from detectron2.structures import Boxes, Instances

from atss.export import (
    DeployConfig,
    DetectionMismatch,
    UnsupportedExportError,
    check_exportable,
    detection_differences,
)

ROOT = Path(__file__).resolve().parents[2]
SHAPES_CONFIG = str(ROOT / "configs" / "Shapes" / "atss_R_18_FPN_shapes.py")
AUTOASSIGN_CONFIG = str(ROOT / "configs" / "Shapes" / "autoassign_R_18_FPN_shapes.py")
TOLERANCE = 1e-4

# Runs an exported file with only torch, torchvision, onnxruntime and numpy importable.
RELOAD_SCRIPT = textwrap.dedent("""
    import importlib.abc, sys

    class Hide(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("atss", "detectron2"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    sys.meta_path.insert(0, Hide())
    for hidden in ("atss", "detectron2"):
        try:
            __import__(hidden)
        except ModuleNotFoundError:
            pass
        else:
            raise SystemExit(hidden + " is importable")

    import numpy as np
    path, method, *image_files = sys.argv[1:]
    if path.endswith(".onnx"):
        import onnxruntime
        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    else:
        import torch
        import torchvision  # registers the nms operator the model calls
        model = torch.jit.load(path)
    for image_file in image_files:
        image = np.load(image_file)
        if path.endswith(".onnx"):
            boxes, classes, scores, _ = session.run(None, {"image": image})
        else:
            with torch.no_grad():
                if method == "scripting":
                    out = model(({"image": torch.from_numpy(image)},))[0]
                    boxes, classes, scores = out["pred_boxes"], out["pred_classes"], out["scores"]
                else:
                    boxes, classes, scores, _ = model(torch.from_numpy(image))
            boxes, classes, scores = boxes.numpy(), classes.numpy(), scores.numpy()
        np.savez(image_file + ".out.npz", boxes=boxes, classes=classes, scores=scores)
    """)


def load_tool(relative_path: str):
    spec = importlib.util.spec_from_file_location(Path(relative_path).stem, ROOT / relative_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sample_image(height: int = 128, width: int = 160) -> np.ndarray:
    """Two coloured rectangles on a dark background, BGR."""
    image = np.full((height, width, 3), 40, np.uint8)
    image[20:70, 30:90] = (200, 60, 60)
    image[60 : height - 8, 90 : width - 10] = (60, 200, 60)
    return image


@pytest.fixture(scope="module")
def detecting_checkpoints(tmp_path_factory):
    """
    ``checkpoint(*opts, config=SHAPES_CONFIG)``: random weights of a shapes model with the config
    options ``opts``, whose class probabilities pass the test threshold (one file per config and
    set of options).
    """
    paths = {}

    def checkpoint(*opts: str, config: str = SHAPES_CONFIG) -> str:
        key = (config, opts)
        if key not in paths:
            torch.manual_seed(0)
            model = DeployConfig(config, opts, allow_unloaded_weights=True).build_model()
            torch.nn.init.normal_(model.head.cls_score.weight, std=0.05)
            torch.nn.init.constant_(model.head.cls_score.bias, -2.0)
            paths[key] = str(tmp_path_factory.mktemp("weights") / "detecting.pth")
            torch.save({"model": model.state_dict()}, paths[key])
        return paths[key]

    return checkpoint


@pytest.fixture(scope="module")
def detecting_checkpoint(detecting_checkpoints) -> str:
    return detecting_checkpoints()


def eager_detections(model, image_bgr: np.ndarray) -> Instances:
    with torch.no_grad():
        return model([{"image": to_input(image_bgr)}])[0]["instances"]


def to_input(image_bgr: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(image_bgr.transpose(2, 0, 1).astype("float32"))


def export(tmp_path, checkpoint, method, fmt, *opts, config: str = SHAPES_CONFIG) -> int:
    image_file = tmp_path / "sample.png"
    cv2.imwrite(str(image_file), sample_image())
    argv = [
        "--config-file",
        config,
        "--export-method",
        method,
        "--format",
        fmt,
        "--output",
        str(tmp_path / "out"),
        "--sample-image",
        str(image_file),
        # Without a checkpoint, the refusals under test come before any weights matter.
        *([] if checkpoint else ["--allow-unloaded-weights"]),
        f"train.init_checkpoint={checkpoint}",
        *opts,
    ]
    return load_tool("tools/deploy/export_model.py").main(argv)


def reload_without_atss(tmp_path, path: Path, method: str, images) -> list:
    """The exported file's detections on each BGR image, run in a fresh interpreter."""
    image_files = []
    for i, image in enumerate(images):
        image_files.append(str(tmp_path / f"image{i}.npy"))
        np.save(image_files[-1], to_input(image).numpy())
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run(
        [sys.executable, "-c", RELOAD_SCRIPT, str(path), method, *image_files],
        check=True,
        env=env,
        cwd=tmp_path,
    )
    detections = []
    for image, image_file in zip(images, image_files):
        out = np.load(image_file + ".out.npz")
        instances = Instances(image.shape[:2])
        instances.pred_boxes = Boxes(torch.from_numpy(out["boxes"]))
        instances.pred_classes = torch.from_numpy(out["classes"])
        instances.scores = torch.from_numpy(out["scores"])
        detections.append(instances)
    return detections


DCN = "model.head.use_dcn_in_tower=True"
POINT = "model.regression_type=point"


@pytest.mark.parametrize(
    "method, fmt, opts, config",
    [
        pytest.param("tracing", "torchscript", [], SHAPES_CONFIG, id="tracing-torchscript"),
        pytest.param("scripting", "torchscript", [], SHAPES_CONFIG, id="scripting-torchscript"),
        pytest.param("tracing", "onnx", [], SHAPES_CONFIG, id="tracing-onnx"),
        pytest.param("tracing", "torchscript", [DCN], SHAPES_CONFIG, id="tracing-torchscript-dcn"),
        pytest.param(
            "scripting", "torchscript", [DCN], SHAPES_CONFIG, id="scripting-torchscript-dcn"
        ),
        pytest.param(
            "tracing", "torchscript", [POINT], SHAPES_CONFIG, id="tracing-torchscript-point"
        ),
        pytest.param("tracing", "onnx", [POINT], SHAPES_CONFIG, id="tracing-onnx-point"),
        pytest.param(
            "tracing", "torchscript", [], AUTOASSIGN_CONFIG, id="tracing-torchscript-autoassign"
        ),
        pytest.param("tracing", "onnx", [], AUTOASSIGN_CONFIG, id="tracing-onnx-autoassign"),
    ],
)
def test_export_reloaded_without_atss_or_detectron2_gives_the_eager_detections(
    tmp_path, detecting_checkpoints, method, fmt, opts, config
):
    if fmt == "onnx":
        for module in ("onnx", "onnxruntime"):
            pytest.importorskip(module, reason=f"{module} not installed (the [export] extra)")
    detecting_checkpoint = detecting_checkpoints(*opts, config=config)
    assert export(tmp_path, detecting_checkpoint, method, fmt, *opts, config=config) == 0
    eager_model = DeployConfig(
        config, [f"train.init_checkpoint={detecting_checkpoint}", *opts]
    ).build_model()
    exported_file = tmp_path / "out" / ("model.onnx" if fmt == "onnx" else "model.ts")
    # A second size: the exported model is not tied to the sample image's.
    images = [sample_image(), sample_image(96, 192)]
    for image, exported in zip(
        images, reload_without_atss(tmp_path, exported_file, method, images)
    ):
        eager = eager_detections(eager_model, image)
        assert len(eager) > 10
        differences = detection_differences(exported, eager)
        assert max(differences.values()) <= TOLERANCE, differences


def test_dcn_model_is_refused_for_onnx_with_the_reason_and_nothing_is_written(tmp_path, capsys):
    status = export(tmp_path, "", "tracing", "onnx", DCN)
    assert status == 2
    assert "deformable convolutions" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_weights_that_leave_part_of_the_model_random_are_refused_naming_the_keys(
    detecting_checkpoint,
):
    # The plain model's weights lack the offsets of the deformable tower: an exported model must
    # not silently keep random ones.
    config = DeployConfig(SHAPES_CONFIG, [f"train.init_checkpoint={detecting_checkpoint}", DCN])
    with pytest.raises(RuntimeError, match="does not match the model.*missing.*offset"):
        config.build_model()


def test_scripting_to_onnx_is_refused():
    model = DeployConfig(SHAPES_CONFIG, allow_unloaded_weights=True).build_model()
    with pytest.raises(UnsupportedExportError, match="scripting exports TorchScript only"):
        check_exportable(model, "scripting", "onnx")


def test_scripting_point_regression_is_refused_with_the_reason():
    config = DeployConfig(SHAPES_CONFIG, [POINT], True)
    model = config.build_model()
    with pytest.raises(UnsupportedExportError, match="Box2BoxTransformLinear"):
        check_exportable(model, "scripting", "torchscript")
    check_exportable(model, "tracing", "onnx")


def test_scripting_autoassign_is_refused_with_the_reason_before_anything_is_written(
    tmp_path, capsys
):
    argv = [
        "--config-file",
        AUTOASSIGN_CONFIG,
        "--export-method",
        "scripting",
        "--output",
        str(tmp_path / "out"),
        "--allow-unloaded-weights",
    ]
    assert load_tool("tools/deploy/export_model.py").main(argv) == 2
    assert "AutoAssign decodes boxes with detectron2's Box2BoxTransformLinear" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "out").exists()


def test_detection_differences_reject_another_number_or_order_of_classes():
    def detections(classes):
        instances = Instances((10, 10))
        instances.pred_boxes = Boxes(torch.tensor([[1.0, 1.0, 5.0, 5.0]] * len(classes)))
        instances.pred_classes = torch.tensor(classes)
        instances.scores = torch.full((len(classes),), 0.5)
        return instances

    with pytest.raises(DetectionMismatch, match="2 detections exported vs 1 eager"):
        detection_differences(detections([0, 1]), detections([0]))
    with pytest.raises(DetectionMismatch, match="classes differ"):
        detection_differences(detections([1, 0]), detections([0, 1]))


def test_demo_on_two_images_writes_two_annotated_files(tmp_path, detecting_checkpoint):
    inputs = []
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(tmp_path / name), sample_image())
        inputs.append(str(tmp_path / name))
    out = tmp_path / "drawn"
    load_tool("demo/demo.py").main(
        [
            "--config-file",
            SHAPES_CONFIG,
            "--input",
            *inputs,
            "--output",
            str(out),
            "--confidence-threshold",
            "0.3",
            "--opts",
            f"train.init_checkpoint={detecting_checkpoint}",
        ]
    )
    assert sorted(os.listdir(out)) == ["a.png", "b.png"]
    for name in ("a.png", "b.png"):
        drawn = cv2.imread(str(out / name))
        assert drawn.shape == sample_image().shape
        assert not np.array_equal(drawn, sample_image())  # detections were drawn


@pytest.mark.parametrize("method, fmt", [("tracing", "onnx"), ("tracing", "torchscript")])
def test_evaluation_of_an_exported_model_takes_the_uint8_images_of_dataset_mappers(
    tmp_path, detecting_checkpoint, method, fmt
):
    # --run-eval feeds the exported model what detectron2's test loader makes: uint8 images.
    if fmt == "onnx":
        pytest.importorskip("onnxruntime", reason="onnxruntime not installed (the [export] extra)")
    from atss.export import ExportedDetector

    assert export(tmp_path, detecting_checkpoint, method, fmt) == 0
    exported = ExportedDetector(
        str(tmp_path / "out" / ("model.onnx" if fmt == "onnx" else "model.ts")), method
    )
    image = torch.as_tensor(sample_image().transpose(2, 0, 1))
    assert image.dtype == torch.uint8
    outputs = exported.eval_function()([{"image": image, "height": 256, "width": 320}])
    instances = outputs[0]["instances"]
    assert len(instances) > 10 and instances.image_size == (256, 320)
