"""
Deployment of ATSS: export to TorchScript (tracing or scripting) and ONNX with detectron2's export
machinery, running the exported files, and the config handling shared by
``tools/deploy/export_model.py`` and ``demo/demo.py``. Needs detectron2; ONNX needs the
``[export]`` extra (``onnx``, ``onnxruntime``).
"""

from .deploy_config import DeployConfig, plain_module_attributes
from .exporter import (
    EXPORT_FORMATS,
    EXPORT_METHODS,
    OUTPUT_NAMES,
    ScriptableDetector,
    UnsupportedExportError,
    check_exportable,
    export_scripting,
    export_tracing,
    unsupported_reason,
)
from .runtime import DetectionMismatch, ExportedDetector, detection_differences
