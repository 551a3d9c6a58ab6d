"""
The model of a config on images as a user has them (BGR arrays of any size), whole or tiled:
:class:`Predictor`, detectron2's ``DefaultPredictor`` for lists of images, used by
``demo/demo.py``.

Images of the same size after the test resizing run as one batch (up to ``batch_size``): the
head's GroupNorm takes its statistics over the padded batch, so batching images of other sizes
would change their detections, while same-size ones (video frames, a camera's photos, tiles)
give exactly what one at a time gives.
"""

import numpy as np
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator, List, Optional
import torch

from detectron2.structures import Boxes, Instances

from ..config.precision import apply_precision, precision_of_config
from ..export import DeployConfig
from .tiling import TileGrid, check_tiling, merge_detections, reported_by_tile, tile_grid

__all__ = ["Predictor", "Tiling"]


@dataclass(frozen=True)
class Tiling:
    """
    Tiled inference: square tiles of ``tile`` pixels overlapping by ``overlap`` (a fraction of
    the tile), each run at the model's test size, plus the whole image at that size; merged by
    ``merge`` (``"soft_vote"``: :func:`atss.box_voting` at ``vote_iou``; ``"nms"``: the model's
    class-wise NMS).
    """

    tile: int
    overlap: float = 0.2
    merge: str = "soft_vote"
    vote_iou: float = 0.66  # official TEST.BBOX_AUG.VOTE_TH
    edge_margin: float = 1.0  # pixels from an inner tile edge within which a box counts as cut


class Predictor:
    """
    A config's model with its weights, in eval mode on ``device``: ``predictor(images)`` takes
    (H, W, 3) uint8 BGR arrays (OpenCV's order) and returns one ``Instances`` per image, on the
    CPU at the image's own size (``pred_boxes``, ``scores``, ``pred_classes``).

    Detections are those of the model's own score threshold (``model.inference.score_thresh``),
    or, given ``score_threshold``, those whose score reaches it.
    """

    def __init__(
        self,
        config: DeployConfig,
        *,
        score_threshold: Optional[float] = None,
        batch_size: int = 1,
        tiling: Optional[Tiling] = None,
        device: Optional[str] = None,
    ):
        if batch_size < 1:
            raise ValueError(f"--batch-size {batch_size} must be at least 1.")
        if tiling is not None:
            # The overlap is refused before the model is built; the tile needs its strides.
            check_tiling(tiling.tile, tiling.overlap, largest_stride=1)
        self.config = config
        self.input_format = config.input_format
        if self.input_format not in ("BGR", "RGB"):
            raise ValueError(f"The predictor reads colour images, not {self.input_format!r} ones")
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        # In the config's precision (bfloat16 where the CPU's units make it faster).
        model = config.build_model().to(device)
        self.model = apply_precision(model, precision_of_config(config.cfg, device))
        if tiling is not None:
            check_tiling(tiling.tile, tiling.overlap, max(self.model.anchor_generator.strides))
        self.batch_size = batch_size
        self.tiling = tiling
        self.score_threshold = score_threshold

    @property
    def threshold_description(self) -> str:
        """Which score threshold the detections pass, for the log."""
        if self.score_threshold is None:
            threshold = self.model.inference.score_thresh
            return f"the model's own model.inference.score_thresh {threshold:g}"
        return f"--confidence-threshold {self.score_threshold:g} (on the detection score)"

    def __call__(self, images: List[np.ndarray]) -> List[Instances]:
        for image in images:
            if image.ndim != 3 or image.shape[2] != 3:
                raise ValueError(f"Expected an (H, W, 3) BGR image, got shape {image.shape}")
        if self.tiling is None:
            results = self._run([self._input(image) for image in images])
        else:
            results = [self._tiled(image) for image in images]
        if self.score_threshold is not None:
            results = [r[r.scores >= self.score_threshold] for r in results]
        return results

    def _input(self, image_bgr: np.ndarray) -> Dict[str, Any]:
        image = image_bgr[:, :, ::-1] if self.input_format == "RGB" else image_bgr
        return self.config.preprocess(np.ascontiguousarray(image))

    def _batches(self, inputs: Iterable[Dict[str, Any]]) -> Iterator[List[Dict[str, Any]]]:
        """Runs of consecutive inputs of one size, at most ``batch_size`` long."""
        batch: List[Dict[str, Any]] = []
        for x in inputs:
            if batch and (
                len(batch) == self.batch_size or x["image"].shape != batch[0]["image"].shape
            ):
                yield batch
                batch = []
            batch.append(x)
        if batch:
            yield batch

    def _run(self, inputs: Iterable[Dict[str, Any]]) -> List[Instances]:
        results: List[Instances] = []
        with torch.no_grad():
            for batch in self._batches(inputs):
                results.extend(o["instances"].to("cpu") for o in self.model(batch))
        return results

    def _tiled(self, image_bgr: np.ndarray) -> Instances:
        """The detections of the tiles (those :func:`reported_by_tile`) and of the whole image,
        merged."""
        tiling = self.tiling
        height, width = image_bgr.shape[:2]
        grid: TileGrid = tile_grid(height, width, tiling.tile, tiling.overlap)
        # Made as they run: the tiles of a large image at once would fill the memory.
        tiles = self._run(
            self._input(image_bgr[y0:y1, x0:x1]) for x0, y0, x1, y1 in grid.windows.tolist()
        )
        (whole,) = self._run([self._input(image_bgr)])
        offsets = grid.windows[:, :2].repeat(1, 2).float()
        tile_index = torch.cat(
            [torch.full((len(t),), i, dtype=torch.long) for i, t in enumerate(tiles)]
        )
        tile_boxes = torch.cat([t.pred_boxes.tensor for t in tiles]) + offsets[tile_index]
        keep = reported_by_tile(tile_boxes, tile_index, grid, tiling.edge_margin)
        boxes, scores, classes = merge_detections(
            torch.cat([tile_boxes[keep], whole.pred_boxes.tensor]),
            torch.cat([torch.cat([t.scores for t in tiles])[keep], whole.scores]),
            torch.cat([torch.cat([t.pred_classes for t in tiles])[keep], whole.pred_classes]),
            method=tiling.merge,
            iou_threshold=(
                tiling.vote_iou if tiling.merge == "soft_vote" else self.model.inference.nms_thresh
            ),
            score_threshold=self.model.inference.score_thresh,
        )
        result = Instances((height, width))
        result.pred_boxes = Boxes(boxes)
        result.scores = scores
        result.pred_classes = classes
        return result
