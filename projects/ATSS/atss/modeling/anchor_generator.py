from typing import List, Sequence

from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling.anchor_generator import ANCHOR_GENERATOR_REGISTRY, DefaultAnchorGenerator

__all__ = ["ATSSAnchorGenerator"]


@ANCHOR_GENERATOR_REGISTRY.register()
class ATSSAnchorGenerator(DefaultAnchorGenerator):
    """
    Anchors of ATSS, parameterised as in the paper rather than by absolute sizes: at every location
    of a level with stride S, ``scales_per_octave`` sizes ``anchor_scale * S * 2**(i / n)`` times
    each aspect ratio. The default is the paper's one square anchor of side 8S per location
    (Section 3.1); RetinaNet's #A=9 (Table 7) is ``anchor_scale=4, scales_per_octave=3,
    aspect_ratios=(0.5, 1.0, 2.0)``. Anchors are laid out as detectron2 lays them out: row-major
    over the feature map, then the cell anchors of a location, centred at
    ``(i + offset) * S + center_shift``.

    ``center_shift=0.5`` reproduces the official ATSS anchors: its ``generate_anchors`` centres the
    cell anchor at index S / 2 of maskrcnn-benchmark's "+1" frame, i.e. at S / 2 + 0.5 in
    detectron2's continuous frame (pixel i covers [i, i + 1]), half a pixel off detectron2's.
    The configs of converted official checkpoints use it, so decoded boxes land where the official
    model puts them.
    """

    @configurable
    def __init__(
        self,
        *,
        strides: List[int],
        anchor_scale: float = 8.0,
        scales_per_octave: int = 1,
        aspect_ratios: Sequence[float] = (1.0,),
        offset: float = 0.5,
        center_shift: float = 0.0,
    ):
        if scales_per_octave < 1:
            raise ValueError(f"scales_per_octave must be >= 1, got {scales_per_octave}")
        sizes = [
            [anchor_scale * stride * 2 ** (i / scales_per_octave) for i in range(scales_per_octave)]
            for stride in strides
        ]
        super().__init__(
            sizes=sizes, aspect_ratios=list(aspect_ratios), strides=strides, offset=offset
        )
        self.anchor_scale = anchor_scale
        self.center_shift = center_shift
        for cell_anchors in self.cell_anchors:
            cell_anchors += center_shift

    @classmethod
    def from_config(cls, cfg, input_shape: List[ShapeSpec]):
        aspect_ratios = cfg.MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS
        if len(aspect_ratios) != 1:
            raise ValueError(
                "ATSSAnchorGenerator uses the same aspect ratios on every level: "
                f"MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS must hold one list, got {aspect_ratios}"
            )
        return {
            "strides": [x.stride for x in input_shape],
            "anchor_scale": cfg.MODEL.ATSS.ANCHOR_SCALE,
            "scales_per_octave": cfg.MODEL.ATSS.SCALES_PER_OCTAVE,
            "aspect_ratios": aspect_ratios[0],
            "offset": cfg.MODEL.ANCHOR_GENERATOR.OFFSET,
            "center_shift": cfg.MODEL.ATSS.ANCHOR_CENTER_SHIFT,
        }
