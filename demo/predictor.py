"""
detectron2's demo drawing for ATSS: :class:`VisualizationDemo` draws the detections of an
:class:`atss.inference.Predictor` with the class names of the config's test set, on images and on
the frames of a video.
"""

import numpy as np
from typing import Iterator, List, Tuple
import cv2

from detectron2.structures import Instances
from detectron2.utils.video_visualizer import VideoVisualizer
from detectron2.utils.visualizer import ColorMode, VisImage, Visualizer

from atss.inference.predictor import Predictor


class VisualizationDemo:
    """detectron2's ``VisualizationDemo``: detections drawn with the dataset's class names."""

    def __init__(
        self,
        predictor: Predictor,
        metadata,
        draw_threshold: float,
        instance_mode: ColorMode = ColorMode.IMAGE,
    ):
        self.predictor = predictor
        self.metadata = metadata
        self.draw_threshold = draw_threshold
        self.instance_mode = instance_mode

    def shown(self, instances: Instances) -> Instances:
        """The detections drawn: those with a score of at least the drawing threshold."""
        return instances[instances.scores >= self.draw_threshold]

    def draw(self, image_bgr: np.ndarray, instances: Instances) -> VisImage:
        visualizer = Visualizer(
            image_bgr[:, :, ::-1], self.metadata, instance_mode=self.instance_mode
        )
        return visualizer.draw_instance_predictions(instances)

    def run_on_video(self, video: cv2.VideoCapture) -> Iterator[Tuple[int, Instances, np.ndarray]]:
        """
        Yields (frame index from 0, detections, the frame in BGR with those :meth:`shown` drawn)
        for each frame of ``video`` (a file or a webcam); ``predictor.batch_size`` frames are run
        together.
        """
        visualizer = VideoVisualizer(self.metadata, self.instance_mode)
        index = 0
        while video.isOpened():
            frames: List[np.ndarray] = []
            while len(frames) < self.predictor.batch_size:
                success, frame = video.read()
                if not success:
                    break
                frames.append(frame)
            if not frames:
                break
            for frame, instances in zip(frames, self.predictor(frames)):
                vis = visualizer.draw_instance_predictions(frame[:, :, ::-1], self.shown(instances))
                yield index, instances, cv2.cvtColor(vis.get_image(), cv2.COLOR_RGB2BGR)
                index += 1
