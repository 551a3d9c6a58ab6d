"""Running exported models from Python, and comparing their detections with the eager model's."""

import numpy as np
from typing import Dict, List, Optional
import torch
from torch import Tensor

from detectron2.modeling.postprocessing import detector_postprocess
from detectron2.structures import Boxes, Instances

from .exporter import OUTPUT_NAMES

__all__ = ["ExportedDetector", "DetectionMismatch", "detection_differences"]


class ExportedDetector:
    """
    Runs a file written by :mod:`atss.export.exporter` on one preprocessed image and returns its
    detections as Instances: ``model.onnx`` in ONNX Runtime on the CPU, ``model.ts`` in
    TorchScript (traced or scripted, as ``method`` says).
    """

    def __init__(self, path: str, method: str = "tracing", num_threads: Optional[int] = None):
        self.path = path
        self.method = method
        if path.endswith(".onnx"):
            import onnxruntime

            options = onnxruntime.SessionOptions()
            if num_threads:
                options.intra_op_num_threads = num_threads
                options.inter_op_num_threads = 1
            self.session = onnxruntime.InferenceSession(
                path, options, providers=["CPUExecutionProvider"]
            )
            self.model = None
        else:
            self.session = None
            self.model = torch.jit.load(path, map_location="cpu")

    def raw(self, image: Tensor) -> Dict[str, Tensor]:
        """Outputs for a (3, H, W) float image: ``boxes``, ``classes``, ``scores`` (N rows)."""
        if self.session is not None:
            outputs = self.session.run(None, {"image": image.numpy()})
            return {n: torch.from_numpy(np.asarray(o)) for n, o in zip(OUTPUT_NAMES, outputs)}
        with torch.no_grad():
            if self.method == "scripting":
                fields = self.model(({"image": image},))[0]
                return {
                    "boxes": fields["pred_boxes"],
                    "classes": fields["pred_classes"],
                    "scores": fields["scores"],
                }
            return dict(zip(OUTPUT_NAMES, self.model(image)))

    def __call__(self, image: Tensor) -> Instances:
        out = self.raw(image)
        instances = Instances(tuple(image.shape[-2:]))
        instances.pred_boxes = Boxes(out["boxes"])
        instances.scores = out["scores"]
        instances.pred_classes = out["classes"].long()
        return instances

    def eval_function(self):
        """A model for ``inference_on_dataset``: resizes the detections to each input's original
        size, which the exported model leaves to its caller (as detectron2's eval wrapper)."""

        def run(inputs: List[dict]) -> List[dict]:
            results = []
            for x in inputs:
                # Dataset mappers give uint8 images; the exported models take float ones.
                instances = self(x["image"].float())
                height = x.get("height", x["image"].shape[1])
                width = x.get("width", x["image"].shape[2])
                results.append({"instances": detector_postprocess(instances, height, width)})
            return results

        return run


class DetectionMismatch(AssertionError):
    """The exported model's detections differ from the eager model's."""


def detection_differences(exported: Instances, eager: Instances) -> Dict[str, float]:
    """
    Compare two detection sets that must be the same: same number, same classes in the same
    order (both are sorted by score), boxes and scores close. Returns the largest relative
    differences, ``|a - b| / max(|b|, 1)`` for box coordinates in pixels (a coordinate under one
    pixel is compared absolutely) and ``|a - b| / |b|`` for scores.

    Raises:
        DetectionMismatch: when the number or the classes differ.
    """
    if len(exported) != len(eager):
        raise DetectionMismatch(f"{len(exported)} detections exported vs {len(eager)} eager")
    if not torch.equal(exported.pred_classes.long(), eager.pred_classes.long()):
        raise DetectionMismatch(
            f"classes differ: exported {exported.pred_classes.tolist()} vs eager "
            f"{eager.pred_classes.tolist()}"
        )
    if len(eager) == 0:
        return {"boxes": 0.0, "scores": 0.0}
    a_boxes, b_boxes = exported.pred_boxes.tensor.double(), eager.pred_boxes.tensor.double()
    a_scores, b_scores = exported.scores.double(), eager.scores.double()
    return {
        "boxes": ((a_boxes - b_boxes).abs() / b_boxes.abs().clamp(min=1.0)).max().item(),
        "scores": ((a_scores - b_scores).abs() / b_scores.abs().clamp(min=1e-12)).max().item(),
    }
