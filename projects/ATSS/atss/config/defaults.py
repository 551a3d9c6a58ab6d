"""The ATSS and AutoAssign keys of a YAML config, with their defaults."""

from detectron2.config import CfgNode as CN

from ..assignment import FCOS_SIZE_RANGES

__all__ = ["add_atss_config", "add_autoassign_config"]


def add_atss_config(cfg):
    """
    Add the ATSS keys to a detectron2 YAML config. Defaults are the official ATSS R-50 1x model
    (the authors' ``configs/atss/atss_R_50_FPN_1x.yaml``); the model reads them through
    :meth:`atss.ATSS.from_config`, and :mod:`.yaml_config` the data, test-time augmentation and
    user-data keys.
    """
    cfg.MODEL.ATSS = CN()
    cfg.MODEL.ATSS.NUM_CLASSES = 80
    cfg.MODEL.ATSS.IN_FEATURES = ["p3", "p4", "p5", "p6", "p7"]

    # Head (Section 3.2: GroupNorm towers, centerness on the regression branch, one scalar a level).
    cfg.MODEL.ATSS.HEAD_NAME = "ATSSHead"
    cfg.MODEL.ATSS.NUM_CONVS = 4
    cfg.MODEL.ATSS.NORM = "GN"
    cfg.MODEL.ATSS.PRIOR_PROB = 0.01
    cfg.MODEL.ATSS.USE_DCN_IN_TOWER = False

    # Anchors: one square anchor of side ANCHOR_SCALE * stride per location (Section 3.1).
    # RetinaNet's #A=9 (Table 7): ANCHOR_SCALE 4, SCALES_PER_OCTAVE 3, ASPECT_RATIOS [0.5, 1, 2].
    cfg.MODEL.ATSS.ANCHOR_SCALE = 8.0
    cfg.MODEL.ATSS.SCALES_PER_OCTAVE = 1
    cfg.MODEL.ANCHOR_GENERATOR.NAME = "ATSSAnchorGenerator"
    cfg.MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS = [[1.0]]
    cfg.MODEL.ANCHOR_GENERATOR.OFFSET = 0.5

    # Assignment of positives, the paper's "sample selection" (Section 4.1 and the rules of
    # Tables 2-3): "atss", "max_iou", "fcos", "center_sampling"; "topk" is the official code's
    # extra rule, in no table.
    cfg.MODEL.ATSS.ASSIGNMENT = "atss"
    cfg.register_renamed_key("MODEL.ATSS.ASSIGNER", "MODEL.ATSS.ASSIGNMENT")
    cfg.MODEL.ATSS.TOPK = 9
    cfg.MODEL.ATSS.IOU_THRESHOLDS = [0.4, 0.5]  # background below, foreground at or above
    cfg.MODEL.ATSS.ALLOW_LOW_QUALITY_MATCHES = True
    cfg.MODEL.ATSS.REQUIRE_CENTER_IN_GT = False  # Table 1's "In GT Box" for max_iou
    cfg.MODEL.ATSS.SIZE_RANGES = [list(r) for r in FCOS_SIZE_RANGES]
    cfg.MODEL.ATSS.CENTER_SAMPLING_RADIUS = 1.5
    # The official frame: a positive's centre lies inside its GT by more than this many
    # pixels (0.51 = the official "> 0.01" of the "+1" index frame); anchors are shifted by
    # ANCHOR_CENTER_SHIFT pixels (0.5 = official anchor centres, for converted checkpoints).
    cfg.MODEL.ATSS.CENTER_MARGIN = 0.51
    cfg.MODEL.ATSS.ANCHOR_CENTER_SHIFT = 0.0

    # Regression start (Table 2): "box" (anchor box offsets) or "point" (l, t, r, b / stride).
    cfg.MODEL.ATSS.REGRESSION_TYPE = "box"
    cfg.MODEL.ATSS.BBOX_REG_WEIGHTS = (10.0, 10.0, 5.0, 5.0)

    # Losses.
    cfg.MODEL.ATSS.FOCAL_LOSS_ALPHA = 0.25
    cfg.MODEL.ATSS.FOCAL_LOSS_GAMMA = 2.0
    cfg.MODEL.ATSS.REG_LOSS_WEIGHT = 2.0

    # Classification loss: "focal" (the paper's) or "ap" (AP-Loss, Chen et al., CVPR 2019) with
    # the width of its interpolated step in logits (official 1.0).
    cfg.MODEL.ATSS.CLS_LOSS = "focal"
    cfg.MODEL.ATSS.AP_LOSS_DELTA = 1.0

    # Inference (Section 3.1).
    cfg.MODEL.ATSS.SCORE_THRESH_TEST = 0.05
    cfg.MODEL.ATSS.TOPK_CANDIDATES_TEST = 1000
    cfg.MODEL.ATSS.NMS_THRESH_TEST = 0.6
    cfg.TEST.DETECTIONS_PER_IMAGE = 100

    # Table 1's steps from RetinaNet (#A=1) to the FCOS-like head, each one switch; GroupNorm is
    # NORM ("" for none) and "In GT Box" REQUIRE_CENTER_IN_GT. BOX_LOSS "giou" or "smooth_l1"
    # (RetinaNet's loss on the box-coder deltas, beta SMOOTH_L1_BETA as the official
    # RETINANET.BBOX_REG_BETA); without centerness, scores at inference are class probabilities.
    cfg.MODEL.ATSS.BOX_LOSS = "giou"
    cfg.MODEL.ATSS.SMOOTH_L1_BETA = 0.11
    cfg.MODEL.ATSS.USE_CENTERNESS = True
    cfg.MODEL.ATSS.USE_SCALE = True

    # Data checks (atss.data.coco_json): annotations with unusable boxes (NaN, non-positive size,
    # outside the image, not four numbers) raise a ValueError naming them; True drops them from
    # training and evaluation with one warning line (LazyConfig: train.drop_invalid_annotations).
    cfg.DATASETS.DROP_INVALID_ANNOTATIONS = False
    # The user's own data (atss.data.user_datasets; LazyConfig: dataset.train.annotations, ...):
    # a COCO JSON file or a folder of Pascal-VOC XML files, images by default beside them. When
    # set, they replace DATASETS.TRAIN/TEST, CLASSES is filled from the training set, and the
    # model's NUM_CLASSES follows it where it is 0.
    cfg.DATASETS.TRAIN_ANNOTATIONS = ""
    cfg.DATASETS.TRAIN_IMAGES = ""
    cfg.DATASETS.TEST_ANNOTATIONS = ""
    cfg.DATASETS.TEST_IMAGES = ""
    cfg.DATASETS.CLASSES = []

    # Multi-scale and flip test (atss.modeling.test_time_augmentation; official TEST.BBOX_AUG):
    # detectron2's TEST.AUG.ENABLED, MIN_SIZES, MAX_SIZE and FLIP, plus per scale a longer-side
    # cap and a valid range of sqrt(box area), and the merge of the passes.
    cfg.TEST.AUG.MAX_SIZES = []  # one per scale; empty: TEST.AUG.MAX_SIZE for every scale
    cfg.TEST.AUG.SIZE_RANGES = []  # one (lo, hi) per scale, open interval; empty: keep all
    cfg.TEST.AUG.MERGE = "soft_vote"  # or "nms" (official bbox_aug.py)
    cfg.TEST.AUG.VOTE_IOU = 0.66  # official TEST.BBOX_AUG.VOTE_TH

    add_autoassign_config(cfg)


def add_autoassign_config(cfg):
    """
    The keys of the ``AutoAssign`` meta-architecture (``MODEL.AUTOASSIGN``). Defaults are the
    authors' R-50 1x model (cvpods ``auto_assign.res50.fpn.coco.800size.1x/config.py``); the
    backbone is detectron2's ``build_retinanet_resnet_fpn_backbone`` (P6 and P7 from C5, as there).
    """
    cfg.MODEL.AUTOASSIGN = CN()
    cfg.MODEL.AUTOASSIGN.NUM_CLASSES = 80
    cfg.MODEL.AUTOASSIGN.IN_FEATURES = ["p3", "p4", "p5", "p6", "p7"]
    cfg.MODEL.AUTOASSIGN.NUM_CONVS = 4
    cfg.MODEL.AUTOASSIGN.NORM = "GN"
    cfg.MODEL.AUTOASSIGN.PRIOR_PROB = 0.02
    # Losses: confidence-weighting temperature tau, localisation lambda (paper Section 4.1),
    # focal gamma of the negatives, and the weights alpha, 1 - alpha, 1 - alpha (alpha 0.25).
    cfg.MODEL.AUTOASSIGN.TEMPERATURE = 1.0 / 3
    cfg.MODEL.AUTOASSIGN.REG_WEIGHT = 5.0
    cfg.MODEL.AUTOASSIGN.FOCAL_LOSS_GAMMA = 2.0
    cfg.MODEL.AUTOASSIGN.POS_LOSS_WEIGHT = 0.25
    cfg.MODEL.AUTOASSIGN.NEG_LOSS_WEIGHT = 0.75
    cfg.MODEL.AUTOASSIGN.CENTER_LOSS_WEIGHT = 0.75
    # Inference: p_cls * p_obj above 0.05, top 1000 a level, class-wise NMS at 0.6.
    cfg.MODEL.AUTOASSIGN.SCORE_THRESH_TEST = 0.05
    cfg.MODEL.AUTOASSIGN.TOPK_CANDIDATES_TEST = 1000
    cfg.MODEL.AUTOASSIGN.NMS_THRESH_TEST = 0.6
