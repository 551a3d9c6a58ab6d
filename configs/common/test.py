"""
Test-time augmentation of ATSS (``atss.ATSSWithTTA``), off unless a config or the command line
sets ``test.aug.enabled=True``. The defaults are the official multi-scale test with soft box
voting (official ``configs/atss/atss_dcnv2_X_101_*_FPN_2x.yaml``, ``TEST.BBOX_AUG``; 50.7 AP on
COCO test-dev with ATSS dcnv2 X-101-64x4d): the normal test size (800, longer side at most 1333)
and twelve more scales, each also flipped; below 800 the longer side is capped at 1333
(official ``INPUT.MAX_SIZE_TEST``), else at 3000 (``TEST.BBOX_AUG.MAX_SIZE``).
"""
from omegaconf import OmegaConf

SCALES = [400, 500, 600, 640, 700, 900, 1000, 1100, 1200, 1300, 1400, 1800]
# Open intervals of sqrt(area) of the detections each scale keeps, in its resized image
# (official SCALE_RANGES): small scales keep large objects, large scales small ones.
SCALE_RANGES = [
    [96, 10000], [96, 10000], [64, 10000], [64, 10000], [64, 10000], [0, 10000],
    [0, 10000], [0, 256], [0, 256], [0, 192], [0, 192], [0, 96],
]

test = OmegaConf.create()
test.aug = dict(
    enabled=False,
    min_sizes=[800] + SCALES,
    max_sizes=[1333] + [1333 if s < 800 else 3000 for s in SCALES],
    flip=True,
    # The normal test size keeps every detection.
    size_ranges=[[0, float("inf")]] + SCALE_RANGES,
    merge="soft_vote",  # or "nms": the official non-voting merge (bbox_aug.py)
    vote_iou=0.66,
)
