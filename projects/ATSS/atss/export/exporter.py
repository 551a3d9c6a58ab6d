"""
Export of ATSS (or any detectron2 ``DenseDetector``, e.g. RetinaNet) to TorchScript or ONNX with
detectron2's machinery (``TracingAdapter``, ``scripting_with_instances``, ``dump_torchscript_IR``),
the way detectron2's ``tools/deploy/export_model.py`` exports its models.
"""

import os
import warnings
from typing import Dict, List, Optional, Tuple
import torch
from torch import Tensor, nn

from detectron2.export import (
    STABLE_ONNX_OPSET_VERSION,
    TracingAdapter,
    dump_torchscript_IR,
    scripting_with_instances,
)
from detectron2.modeling.box_regression import Box2BoxTransformLinear
from detectron2.modeling.meta_arch.dense_detector import DenseDetector
from detectron2.structures import Boxes

from ..layers.deform_conv import ModulatedDeformConv2d

__all__ = [
    "EXPORT_METHODS",
    "EXPORT_FORMATS",
    "OUTPUT_NAMES",
    "UnsupportedExportError",
    "unsupported_reason",
    "check_exportable",
    "ScriptableDetector",
    "export_tracing",
    "export_scripting",
]

EXPORT_METHODS = ("tracing", "scripting")
EXPORT_FORMATS = ("torchscript", "onnx")
# The traced model's outputs, in the order TracingAdapter flattens one image's Instances:
# its fields by name, then the image size.
OUTPUT_NAMES = ("boxes", "classes", "scores", "image_size")
_TRACED_FIELDS = ["pred_boxes", "pred_classes", "scores"]
# The fields of the Instances a scripted model creates (detectron2's scripting needs them typed).
SCRIPTED_FIELDS = {"pred_boxes": Boxes, "scores": Tensor, "pred_classes": Tensor}


class UnsupportedExportError(ValueError):
    """The model cannot be exported by this method to this format; the message says why."""


def unsupported_reason(model: nn.Module, method: str, fmt: str) -> Optional[str]:
    """Why ``model`` cannot be exported by ``method`` to ``fmt``, or None when it can."""
    if method not in EXPORT_METHODS:
        return f"unknown export method {method!r}; choose one of {EXPORT_METHODS}"
    if fmt not in EXPORT_FORMATS:
        return f"unknown format {fmt!r}; choose one of {EXPORT_FORMATS}"
    if not isinstance(model, DenseDetector):
        return f"only dense detectors (ATSS, RetinaNet, ...) are supported, got {type(model)}"
    if method == "scripting" and fmt == "onnx":
        return (
            "scripting exports TorchScript only (as detectron2's export_model.py); "
            "export to ONNX with --export-method tracing"
        )
    if fmt == "onnx" and any(isinstance(m, ModulatedDeformConv2d) for m in model.modules()):
        return (
            "the model has deformable convolutions (DCN configs), and torchvision registers no "
            "ONNX export for its deform_conv2d operator; export DCN models to TorchScript "
            "(--format torchscript), which runs them with torchvision's operator"
        )
    if method == "scripting" and isinstance(
        getattr(model, "box2box_transform", None), Box2BoxTransformLinear
    ):
        return (
            f"{type(model).__name__} decodes boxes with detectron2's Box2BoxTransformLinear (point "
            "regression, AutoAssign), which TorchScript cannot compile; export it with "
            "--export-method tracing"
        )
    return None


def check_exportable(model: nn.Module, method: str, fmt: str) -> None:
    """Raise :class:`UnsupportedExportError` before any work when the export cannot succeed."""
    reason = unsupported_reason(model, method, fmt)
    if reason is not None:
        raise UnsupportedExportError(f"Cannot export by {method} to {fmt}: {reason}.")


class ScriptableDetector(nn.Module):
    """
    The inference steps of a dense detector, for scripting: images as a tuple of
    ``{"image": (3, H, W) tensor}``, one dict of detections (``pred_boxes`` (N, 4),
    ``scores`` (N,), ``pred_classes`` (N,)) per image, in the coordinates of the input image.
    It returns dicts rather than Instances, as detectron2's scripting adapter (pytorch#46944).
    """

    def __init__(self, model: DenseDetector):
        super().__init__()
        self.model = model
        self.eval()

    def forward(self, inputs: Tuple[Dict[str, Tensor]]) -> List[Dict[str, Tensor]]:
        model = self.model
        images = model.preprocess_image(inputs)
        features = model.backbone(images.tensor)
        features = [features[f] for f in model.head_in_features]
        instances = model.forward_inference(images, features, model.head(features))
        return [x.get_fields() for x in instances]


def export_tracing(model: nn.Module, image: Tensor, fmt: str, output_dir: str) -> str:
    """
    Trace ``model`` on ``image`` ((3, H, W), the preprocessed input) and write
    ``output_dir/model.ts`` or ``output_dir/model.onnx``. The exported model takes one (3, H, W)
    float image of any size and returns ``OUTPUT_NAMES``. Returns the written path.
    """
    check_exportable(model, "tracing", fmt)
    # eval(): the ONNX exporter restores the wrapper's training flag on every submodule.
    adapter = TracingAdapter(model, [{"image": image}]).eval()
    with warnings.catch_warnings():
        # Python values fixed at trace time (shape asserts, the per-level loop) are expected.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        if fmt == "torchscript":
            traced = torch.jit.trace(adapter, (image,))
            _check_traced_schema(adapter)
            path = os.path.join(output_dir, "model.ts")
            torch.jit.save(traced, path)
            dump_torchscript_IR(traced, output_dir)
        else:
            adapter(image)  # builds the outputs schema
            _check_traced_schema(adapter)
            path = os.path.join(output_dir, "model.onnx")
            torch.onnx.export(
                adapter,
                (image,),
                path,
                # The TorchScript-based exporter, which TracingAdapter is written for.
                dynamo=False,
                opset_version=STABLE_ONNX_OPSET_VERSION,
                input_names=["image"],
                output_names=list(OUTPUT_NAMES),
                dynamic_axes={
                    "image": {1: "height", 2: "width"},
                    "boxes": {0: "detections"},
                    "classes": {0: "detections"},
                    "scores": {0: "detections"},
                },
            )
    return path


def _check_traced_schema(adapter: TracingAdapter) -> None:
    keys = adapter.outputs_schema.schemas[0].schemas[0].keys
    if list(keys) != _TRACED_FIELDS:
        raise UnsupportedExportError(
            f"The model's detections have fields {keys}; the export expects {_TRACED_FIELDS}"
        )


def export_scripting(model: nn.Module, output_dir: str) -> str:
    """Script ``model`` as :class:`ScriptableDetector` into ``output_dir/model.ts``."""
    check_exportable(model, "scripting", "torchscript")
    scripted = scripting_with_instances(ScriptableDetector(model), SCRIPTED_FIELDS)
    path = os.path.join(output_dir, "model.ts")
    torch.jit.save(scripted, path)
    dump_torchscript_IR(scripted, output_dir)
    return path
