"""
detectron2's demo predictor for ATSS configs, LazyConfig or YAML: :class:`Predictor` runs the
model on one BGR image as detectron2's ``DefaultPredictor`` does, and :class:`VisualizationDemo`
draws its detections with the class names of the config's test set.
"""

import numpy as np
from typing import Iterator
import cv2
import torch

from detectron2.utils.video_visualizer import VideoVisualizer
from detectron2.utils.visualizer import ColorMode, VisImage, Visualizer

from atss.engine.precision import apply_precision, precision_of_config
from atss.export import DeployConfig


class Predictor:
    """
    The model of a config with its weights, on one image: (H, W, 3) uint8 in BGR (OpenCV's order)
    in, ``{"instances": Instances}`` at the image's size out. The model runs on the CPU in the
    config's precision (``train.amp``: bfloat16 where the CPU has the units, docs/benchmarks.md).
    """

    def __init__(self, config: DeployConfig):
        self.config = config
        self.model = apply_precision(config.build_model(), precision_of_config(config.cfg, "cpu"))
        self.input_format = config.input_format
        if self.input_format not in ("BGR", "RGB"):
            raise ValueError(f"The demo reads colour images; input format {self.input_format!r}")

    def __call__(self, image_bgr: np.ndarray) -> dict:
        if image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
            raise ValueError(f"Expected an (H, W, 3) BGR image, got shape {image_bgr.shape}")
        image = image_bgr[:, :, ::-1] if self.input_format == "RGB" else image_bgr
        with torch.no_grad():
            return self.model([self.config.preprocess(np.ascontiguousarray(image))])[0]


class VisualizationDemo:
    """detectron2's ``VisualizationDemo``: detections drawn with the dataset's class names."""

    def __init__(
        self,
        config: DeployConfig,
        confidence_threshold: float = 0.5,
        instance_mode: ColorMode = ColorMode.IMAGE,
    ):
        self.metadata = config.metadata
        self.predictor = Predictor(config)
        self.confidence_threshold = confidence_threshold
        self.instance_mode = instance_mode

    def predict(self, image_bgr: np.ndarray) -> dict:
        """The model's detections with a score of at least the confidence threshold."""
        instances = self.predictor(image_bgr)["instances"].to("cpu")
        return {"instances": instances[instances.scores >= self.confidence_threshold]}

    def run_on_image(self, image_bgr: np.ndarray):
        """
        Returns:
            predictions: the detections shown, ``{"instances": Instances}``.
            vis_output (VisImage): the image with the detections drawn.
        """
        predictions = self.predict(image_bgr)
        visualizer = Visualizer(
            image_bgr[:, :, ::-1], self.metadata, instance_mode=self.instance_mode
        )
        vis_output: VisImage = visualizer.draw_instance_predictions(predictions["instances"])
        return predictions, vis_output

    def run_on_video(self, video: cv2.VideoCapture) -> Iterator[np.ndarray]:
        """Yields each frame of ``video`` (a file or a webcam) with its detections, in BGR."""
        visualizer = VideoVisualizer(self.metadata, self.instance_mode)
        while video.isOpened():
            success, frame = video.read()
            if not success:
                break
            instances = self.predict(frame)["instances"]
            vis = visualizer.draw_instance_predictions(frame[:, :, ::-1], instances)
            yield cv2.cvtColor(vis.get_image(), cv2.COLOR_RGB2BGR)
