"""
AP-Loss in its official setting (Chen et al., CVPR 2019; official code cccorn/AP-loss): a RetinaNet
R-50 FPN whose focal loss is replaced by AP-Loss, everything else RetinaNet's.

- Anchors: RetinaNet's #A=9 (3 octave scales x 3 aspect ratios of 4S anchors, as
  ``configs/Ablations/retinanet_A9_iou_R_50_FPN_1x.py``). The official code keeps only the first
  two scales (#A=6) because its per-positive loop is costly (authors, cccorn/AP-loss issue #8);
  ``atss.losses.ap_loss`` does not need that.
- Assignment: IoU >= 0.5 positive, < 0.4 negative, in between ignored, plus each ground truth's
  best anchors whatever their IoU (official lib/model/aploss.py; detectron2's low-quality
  matches); no "In GT Box" constraint.
- Classification: AP-Loss over all (anchor, class) items of the images of a worker, delta 1.0.
- Box regression: smooth L1 with beta 1.0 on the (10, 10, 5, 5)-weighted deltas of the positive
  anchors, mean over the 4 coordinates and the positive anchors (official aploss.py applies
  gradient smoothL1' / (4 P)): the project's smooth-L1 box loss is that sum over 4 x positives,
  so its weight is 1.
- Head as RetinaNet's (official: plain ReLU towers): no normalisation, no centerness branch (scores
  are class probabilities), no per-level scalar; inference keeps scores above 0.01 and applies NMS
  at 0.5 (official).
- Optimiser: SGD at the official LR 0.001 (16 images); data and 1x schedule are this project's
  COCO ones (the official trains 100 epochs on 512 x 512 crops with SSD augmentation).
"""
from ..Ablations.retinanet_A9_iou_R_50_FPN_1x import (
    dataloader,
    lr_multiplier,
    model,
    optimizer,
    train,
)

model.assignment.require_center_in_gt = False
model.head.norm = ""
model.loss.cls_loss = "ap"
model.loss.ap_loss_delta = 1.0
model.loss.box_loss = "smooth_l1"
model.loss.smooth_l1_beta = 1.0
model.loss.reg_loss_weight = 1.0
model.use_centerness = False
model.head.use_scale = False
model.inference.score_thresh = 0.01
model.inference.nms_thresh = 0.5
optimizer.lr = 0.001
train.output_dir = "./output/aploss/aploss_retinanet_R_50_FPN_1x"
