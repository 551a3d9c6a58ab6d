from typing import Dict, List, Optional, Sequence, Tuple
import torch
from torch import Tensor, nn

from detectron2.config import configurable
from detectron2.layers import batched_nms, cat
from detectron2.modeling import META_ARCH_REGISTRY, build_backbone
from detectron2.modeling.anchor_generator import DefaultAnchorGenerator
from detectron2.modeling.backbone import Backbone
from detectron2.modeling.box_regression import Box2BoxTransformLinear
from detectron2.modeling.meta_arch.dense_detector import DenseDetector
from detectron2.structures import Boxes, ImageList, Instances
from detectron2.utils.events import get_event_storage

from ...losses import autoassign_losses
from ...losses.precision import at_least_float32
from ..autoassign_head import AutoAssignHead
from ..inference_params import InferenceParams
from .atss import check_gt_classes, decode_boxes

__all__ = ["AutoAssign"]


@META_ARCH_REGISTRY.register()
class AutoAssign(DenseDetector):
    """
    AutoAssign ("Differentiable Label Assignment for Dense Object Detection", Zhu et al. 2020):
    an anchor-free detector with one point per location whose every location inside a box, on
    every level, is both a positive and a negative sample, weighted by a learnable per-class
    Gaussian center prior and by its own confidence (see :mod:`atss.losses.autoassign_loss`).
    Follows the authors' code (cvpods ``AutoAssign``); points are at multiples of the stride
    (offset 0) and boxes are regressed as (l, t, r, b) distances in strides.
    """

    @configurable
    def __init__(
        self,
        *,
        backbone: Backbone,
        head: nn.Module,
        num_classes: int,
        head_in_features: Optional[List[str]] = None,
        temperature: float = 1.0 / 3,
        reg_weight: float = 5.0,
        focal_loss_gamma: float = 2.0,
        pos_loss_weight: float = 0.25,
        neg_loss_weight: float = 0.75,
        center_loss_weight: float = 0.75,
        inference: InferenceParams = InferenceParams(),
        pixel_mean: Sequence[float],
        pixel_std: Sequence[float],
        input_format: str = "BGR",
    ):
        """
        Args:
            backbone, head: the modules; the head predicts class logits, (l, t, r, b) in strides
                and objectness logits for each level of ``head_in_features``.
            num_classes: number of foreground classes.
            head_in_features: backbone features fed to the head, by increasing stride.
            temperature: tau of the confidence weighting (paper Eq. 9).
            reg_weight: lambda of the localisation likelihood exp(-lambda * GIoU loss) (Eq. 5).
            focal_loss_gamma: exponent of the negative term.
            pos_loss_weight, neg_loss_weight, center_loss_weight: weights of loss_pos, loss_neg
                and loss_norm (the authors' alpha, 1 - alpha, 1 - alpha with alpha 0.25).
            inference: the post-processing settings; the score is p_cls * p_obj.
            pixel_mean, pixel_std, input_format: input normalisation, as in detectron2.
        """
        super().__init__(
            backbone, head, head_in_features, pixel_mean=pixel_mean, pixel_std=pixel_std
        )
        shapes = backbone.output_shape()
        self.strides = [shapes[f].stride for f in self.head_in_features]
        # One point per location at (j * stride, i * stride) (the authors' offset 0), as a
        # stride-sized box so that Box2BoxTransformLinear reads the distances in strides.
        self.anchor_generator = DefaultAnchorGenerator(
            sizes=[[s] for s in self.strides], aspect_ratios=[1.0], strides=self.strides, offset=0.0
        )
        self.box2box_transform = Box2BoxTransformLinear(normalize_by_size=True)
        self.num_classes = num_classes
        self.input_format = input_format
        # Center prior (paper Eq. 2): per-class mean and std of the offset from the box centre,
        # in strides, for x and y; learned (and weight-decayed) like any other parameter.
        self.prior_mean = nn.Parameter(torch.zeros(num_classes, 2))
        self.prior_std = nn.Parameter(torch.ones(num_classes, 2))

        self.loss_params = {
            "temperature": temperature,
            "reg_weight": reg_weight,
            "focal_loss_gamma": focal_loss_gamma,
            "pos_loss_weight": pos_loss_weight,
            "neg_loss_weight": neg_loss_weight,
            "center_loss_weight": center_loss_weight,
        }
        self.inference = inference

    @classmethod
    def from_config(cls, cfg):
        backbone = build_backbone(cfg)
        c = cfg.MODEL.AUTOASSIGN
        backbone_shape = backbone.output_shape()
        return {
            "backbone": backbone,
            "head": AutoAssignHead(cfg, [backbone_shape[f] for f in c.IN_FEATURES]),
            "num_classes": c.NUM_CLASSES,
            "head_in_features": c.IN_FEATURES,
            "temperature": c.TEMPERATURE,
            "reg_weight": c.REG_WEIGHT,
            "focal_loss_gamma": c.FOCAL_LOSS_GAMMA,
            "pos_loss_weight": c.POS_LOSS_WEIGHT,
            "neg_loss_weight": c.NEG_LOSS_WEIGHT,
            "center_loss_weight": c.CENTER_LOSS_WEIGHT,
            "inference": InferenceParams(
                score_thresh=c.SCORE_THRESH_TEST,
                topk_candidates=c.TOPK_CANDIDATES_TEST,
                nms_thresh=c.NMS_THRESH_TEST,
                max_detections_per_image=cfg.TEST.DETECTIONS_PER_IMAGE,
            ),
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
            "input_format": cfg.INPUT.FORMAT,
        }

    def forward(self, batched_inputs: List[Dict[str, Tensor]]):
        if self.training:
            check_gt_classes(batched_inputs, self.num_classes)
        return super().forward(batched_inputs)

    def forward_training(self, images, features, predictions, gt_instances):
        pred_logits, pred_deltas, pred_obj = self._transpose_dense_predictions(
            predictions, [self.num_classes, 4, 1]
        )
        anchors = self.anchor_generator(features)
        points = Boxes.cat(anchors)
        strides = cat(
            [torch.full((len(a),), s, device=self.device) for a, s in zip(anchors, self.strides)]
        ).to(points.tensor.dtype)
        deltas = cat(pred_deltas, dim=1)  # (N, R, 4)
        pred_boxes = decode_boxes(
            self.box2box_transform, deltas.reshape(-1, 4), points.tensor.repeat(len(deltas), 1)
        ).view_as(deltas)
        gt_boxes, gt_classes = self._pad_gt(gt_instances)
        losses, num_empty_bags = autoassign_losses(
            points.get_centers(),
            strides,
            cat(pred_logits, dim=1),
            cat(pred_obj, dim=1).squeeze(dim=2),
            pred_boxes,
            gt_boxes,
            gt_classes,
            self.prior_mean,
            self.prior_std,
            **self.loss_params,
        )
        storage = get_event_storage()
        # Objects with no location inside their box (smaller than a P3 stride) get no positive
        # loss: count them rather than let them pass silently.
        storage.put_scalar("autoassign/num_gt_without_location", num_empty_bags.item())
        storage.put_scalar("autoassign/prior_std_mean", self.prior_std.detach().abs().mean().item())
        return losses

    def _pad_gt(self, gt_instances: List[Instances]) -> Tuple[Tensor, Tensor]:
        """(N, G, 4) boxes and (N, G) classes of the batch, padded with class -1."""
        num_objects = max([len(x) for x in gt_instances] + [0])
        boxes = torch.zeros(len(gt_instances), num_objects, 4, device=self.device)
        classes = torch.full((len(gt_instances), num_objects), -1, device=self.device)
        for i, instances in enumerate(gt_instances):
            boxes[i, : len(instances)] = instances.gt_boxes.tensor
            classes[i, : len(instances)] = instances.gt_classes
        return boxes, classes

    def forward_inference(
        self, images: ImageList, features: List[Tensor], predictions: List[List[Tensor]]
    ) -> List[Instances]:
        pred_logits, pred_deltas, pred_obj = self._transpose_dense_predictions(
            predictions, [self.num_classes, 4, 1]
        )
        anchors = self.anchor_generator(features)
        settings = self.inference
        results = []
        for img_idx, image_size in enumerate(images.image_sizes):
            # The authors' score: p_cls * p_obj, no square root; per level the top candidates
            # above the threshold (the authors sort first, which keeps the same set). In float32
            # under autocast too, so that ties do not decide the ranking.
            scores = [
                at_least_float32(logits[img_idx]).sigmoid()
                * at_least_float32(obj[img_idx]).sigmoid()
                for logits, obj in zip(pred_logits, pred_obj)
            ]
            deltas = [at_least_float32(x[img_idx]) for x in pred_deltas]
            pred = self._decode_multi_level_predictions(
                anchors,
                scores,
                deltas,
                settings.score_thresh,
                settings.topk_candidates,
                image_size,
            )
            keep = batched_nms(
                pred.pred_boxes.tensor, pred.scores, pred.pred_classes, settings.nms_thresh
            )
            results.append(pred[keep[: settings.max_detections_per_image]])
        return results
