import math
from dataclasses import replace
from typing import Dict, List, Optional, Sequence, Tuple
import torch
from torch import Tensor, nn

from detectron2.config import configurable
from detectron2.layers import batched_nms, cat
from detectron2.modeling import META_ARCH_REGISTRY, build_anchor_generator, build_backbone
from detectron2.modeling.backbone import Backbone
from detectron2.modeling.box_regression import Box2BoxTransform, Box2BoxTransformLinear
from detectron2.modeling.meta_arch.dense_detector import DenseDetector
from detectron2.structures import Boxes, ImageList, Instances
from detectron2.utils.events import get_event_storage

from ...assignment import IGNORED, assignment_stats
from ...losses import ATSSLossParams, atss_losses
from ...losses.precision import at_least_float32
from ..assignment_registry import AssignmentParams, BatchRule, build_assignment
from ..atss_head import REGRESSION_TYPES, ATSSHead, build_atss_head
from ..inference_params import InferenceParams
from ..positives_metrics import log_objects_without_positives

__all__ = ["ATSS", "check_gt_classes", "decode_boxes"]


def decode_boxes(box2box_transform, deltas: Tensor, boxes: Tensor) -> Tensor:
    """
    ``box2box_transform.apply_deltas`` in float32 whatever the type of the deltas. Under autocast
    the head's deltas are float16 or bfloat16: detectron2's ``Box2BoxTransform`` upcasts them
    itself (and clamps dw, dh at its ``scale_clamp`` before exp()), but
    ``Box2BoxTransformLinear`` casts the boxes to the deltas' type, which would round coordinates
    near 1000 px to 4 px (bfloat16), so the deltas are upcast here.

    Args:
        deltas: (R, 4) or (R, k * 4) regression outputs.
        boxes: (R, 4) xyxy boxes (anchors) to decode from.

    Returns:
        The decoded xyxy boxes, shaped as ``deltas``, at least float32.
    """
    return box2box_transform.apply_deltas(at_least_float32(deltas), boxes)


def check_gt_classes(batched_inputs: List[Dict[str, Tensor]], num_classes: int) -> None:
    """Raise, naming the image, if a training annotation's class is outside [0, num_classes)."""
    for i, inputs in enumerate(batched_inputs):
        if "instances" not in inputs:
            continue
        classes = inputs["instances"].gt_classes
        bad = (classes < 0) | (classes >= num_classes)
        if bad.any():
            image = inputs.get("file_name", inputs.get("image_id", f"#{i} of the batch"))
            raise ValueError(
                f"Image {image} has class {int(classes[bad][0])} outside [0, {num_classes})"
            )


@META_ARCH_REGISTRY.register()
class ATSS(DenseDetector):
    """
    ATSS (:paper:`atss`, "Bridging the Gap Between Anchor-based and Anchor-free Detection via
    Adaptive Training Sample Selection"): a RetinaNet/FCOS-style dense detector whose positives
    are chosen by Algorithm 1. The assignment rule and the regression start (box or point)
    are configurable, so every row of Tables 1-3 of the paper is one config.
    """

    # Typed for TorchScript, which reads it in the scripted exports' inference.
    inference: InferenceParams

    @configurable
    def __init__(
        self,
        *,
        backbone: Backbone,
        head: nn.Module,
        anchor_generator: nn.Module,
        num_classes: int,
        head_in_features: Optional[List[str]] = None,
        assignment: AssignmentParams = AssignmentParams(),
        regression_type: str = "box",
        bbox_reg_weights: Tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0),
        use_centerness: bool = True,
        loss: ATSSLossParams = ATSSLossParams(),
        inference: InferenceParams = InferenceParams(),
        pixel_mean: Sequence[float],
        pixel_std: Sequence[float],
        input_format: str = "BGR",
    ):
        """
        Args:
            backbone, head, anchor_generator: the modules; the head must predict as many levels
                and anchors per location as the anchor generator makes.
            num_classes: number of foreground classes.
            head_in_features: backbone features fed to the head, by increasing stride.
            assignment: the assignment rule (which anchors are positives) and its options.
            regression_type: "box" (offsets from the anchor box) or "point" (distances from the
                anchor centre normalised by the stride), Table 2.
            bbox_reg_weights: weights of the box coder of "box" regression.
            use_centerness: train and score with the head's centerness (Table 1); must match the
                head. Without it, scores at inference are the class probabilities.
            loss: the losses' kinds and weights.
            inference: the post-processing settings.
            pixel_mean, pixel_std, input_format: input normalisation, as in detectron2.
        """
        super().__init__(
            backbone, head, head_in_features, pixel_mean=pixel_mean, pixel_std=pixel_std
        )
        num_levels = {
            "head_in_features": len(self.head_in_features),
            "anchor generator": len(anchor_generator.strides),
        }
        if isinstance(head, ATSSHead):
            num_levels["head"] = head.num_levels
            if head.num_anchors != anchor_generator.num_cell_anchors[0]:
                raise ValueError(
                    f"The head predicts {head.num_anchors} anchors per location but the anchor "
                    f"generator makes {anchor_generator.num_cell_anchors[0]}"
                )
            if head.use_centerness != use_centerness:
                raise ValueError(
                    f"use_centerness is {use_centerness} but the head's is {head.use_centerness}"
                )
        if len(set(num_levels.values())) != 1:
            raise ValueError(f"Inconsistent number of feature levels: {num_levels}")
        if regression_type not in REGRESSION_TYPES:
            raise ValueError(
                f"regression_type must be one of {REGRESSION_TYPES}, got {regression_type!r}"
            )
        if regression_type == "point" and any(n != 1 for n in anchor_generator.num_cell_anchors):
            raise ValueError("regression_type 'point' needs one anchor per location")

        self.anchor_generator = anchor_generator
        self.num_classes = num_classes
        self.input_format = input_format
        self.assignment = assignment
        self.assign = self.assignment_rule()
        self.regression_type = regression_type
        if regression_type == "box":
            # Official box coder: weights (10, 10, 5, 5), dw and dh clamped at log(1000 / 16).
            self.box2box_transform = Box2BoxTransform(
                weights=tuple(bbox_reg_weights), scale_clamp=math.log(1000.0 / 16)
            )
        else:
            # (l, t, r, b) normalised by the size of the "anchor" it decodes from; point anchors
            # are made stride-sized boxes, so the distances are in strides (official).
            self.box2box_transform = Box2BoxTransformLinear(normalize_by_size=True)
        self.use_centerness = use_centerness
        self.loss = loss
        self.inference = inference

    @classmethod
    def from_config(cls, cfg):
        backbone = build_backbone(cfg)
        backbone_shape = backbone.output_shape()
        feature_shapes = [backbone_shape[f] for f in cfg.MODEL.ATSS.IN_FEATURES]
        c = cfg.MODEL.ATSS
        return {
            "backbone": backbone,
            "head": build_atss_head(cfg, feature_shapes),
            "anchor_generator": build_anchor_generator(cfg, feature_shapes),
            "num_classes": c.NUM_CLASSES,
            "head_in_features": c.IN_FEATURES,
            "assignment": AssignmentParams(
                rule=c.ASSIGNMENT,
                topk=c.TOPK,
                iou_thresholds=c.IOU_THRESHOLDS,
                allow_low_quality_matches=c.ALLOW_LOW_QUALITY_MATCHES,
                require_center_in_gt=c.REQUIRE_CENTER_IN_GT,
                size_ranges=c.SIZE_RANGES,
                center_sampling_radius=c.CENTER_SAMPLING_RADIUS,
                center_margin=c.CENTER_MARGIN,
            ),
            "regression_type": c.REGRESSION_TYPE,
            "bbox_reg_weights": c.BBOX_REG_WEIGHTS,
            "use_centerness": c.USE_CENTERNESS,
            "loss": ATSSLossParams(
                cls_loss=c.CLS_LOSS,
                focal_loss_alpha=c.FOCAL_LOSS_ALPHA,
                focal_loss_gamma=c.FOCAL_LOSS_GAMMA,
                ap_loss_delta=c.AP_LOSS_DELTA,
                box_loss=c.BOX_LOSS,
                smooth_l1_beta=c.SMOOTH_L1_BETA,
                reg_loss_weight=c.REG_LOSS_WEIGHT,
            ),
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

    def assignment_rule(self, rule: Optional[str] = None) -> BatchRule:
        """
        The model's assignment rule, or the registered rule ``rule`` with the model's options,
        for the model's anchors (the visualizations compare rules this way).
        """
        params = self.assignment if rule is None else replace(self.assignment, rule=rule)
        return build_assignment(
            params, self.anchor_generator.strides, self.anchor_generator.num_cell_anchors[0]
        )

    # TorchScript compiles neither super() nor the training path: scripted exports
    # (atss.export) call the inference steps directly.
    @torch.jit.unused
    def forward(self, batched_inputs: List[Dict[str, Tensor]]):
        if self.training:
            check_gt_classes(batched_inputs, self.num_classes)
        return super().forward(batched_inputs)

    def _regression_anchors(self, anchors: List[Boxes]) -> List[Boxes]:
        """The boxes the regression starts from: the anchors, or stride-sized boxes at their
        centres for point regression."""
        if self.regression_type == "box":
            return anchors
        out: List[Boxes] = []
        for boxes, stride in zip(anchors, self.anchor_generator.strides):
            centers = boxes.get_centers()
            half = stride / 2.0
            out.append(Boxes(torch.cat([centers - half, centers + half], dim=1)))
        return out

    def _transpose_predictions(self, predictions: List[List[Tensor]]) -> List[List[Tensor]]:
        """Per level (N, HWA, C) class logits, deltas and centerness (an empty list without
        centerness)."""
        return self._transpose_dense_predictions(predictions, [self.num_classes, 4, 1])

    def forward_training(self, images, features, predictions, gt_instances):
        pred_logits, pred_deltas, pred_centerness = self._transpose_predictions(predictions)
        anchors = self.anchor_generator(features)
        gt_labels, gt_boxes = self.label_anchors(anchors, gt_instances)
        return self.losses(
            anchors, pred_logits, gt_labels, pred_deltas, gt_boxes, pred_centerness
        )

    @torch.no_grad()
    def label_anchors(
        self, anchors: List[Boxes], gt_instances: List[Instances]
    ) -> Tuple[Tensor, Tensor]:
        """
        Returns:
            gt_labels: (N, R) class of the matched box, ``num_classes`` for negatives and -1 for
                ignored anchors.
            gt_boxes: (N, R, 4) matched box (meaningful for positives only).
        """
        anchors_per_level = [a.tensor for a in anchors]
        gt_boxes_per_image = [x.gt_boxes.tensor for x in gt_instances]
        matched = self.assign(anchors_per_level, gt_boxes_per_image)  # (N, R)
        self._log_assignment(matched, gt_boxes_per_image, [len(a) for a in anchors])

        # Gather from the GTs of the whole batch at once: image n's indices start at offsets[n].
        counts = torch.tensor([len(b) for b in gt_boxes_per_image], device=matched.device)
        offsets = torch.cumsum(counts, 0) - counts
        all_boxes = cat(gt_boxes_per_image, dim=0)
        all_classes = cat([x.gt_classes for x in gt_instances], dim=0)
        positive = matched >= 0
        if len(all_boxes) == 0:
            gt_boxes = all_boxes.new_zeros(*matched.shape, 4)
            gt_labels = torch.full_like(matched, self.num_classes)
        else:
            flat = (matched + offsets[:, None]).clamp(min=0)
            gt_boxes = all_boxes[flat]
            gt_labels = torch.where(positive, all_classes[flat], self.num_classes)
        gt_labels[matched == IGNORED] = -1
        return gt_labels, gt_boxes

    def _log_assignment(
        self, matched: Tensor, gt_boxes_per_image: List[Tensor], num_anchors_per_level: List[int]
    ) -> None:
        """
        Positives per image and level, and per GT (Section 4.1: about 0.2 * k * L), and the
        objects that got none (:func:`log_objects_without_positives`).
        """
        per_level, per_gt = [], []
        for assigned, gt_boxes in zip(matched, gt_boxes_per_image):
            stats = assignment_stats(assigned, gt_boxes, num_anchors_per_level)
            per_level.append(stats["num_pos_per_level"])
            per_gt.append(stats["num_pos_per_gt"])
        per_level = torch.stack(per_level).float().mean(dim=0)
        per_gt = torch.cat(per_gt).float()
        storage = get_event_storage()
        storage.put_scalar("num_pos_anchors", per_level.sum().item())
        for name, value in zip(self.head_in_features, per_level.tolist()):
            storage.put_scalar(f"num_pos_anchors/{name}", value)
        if len(per_gt):
            storage.put_scalar("num_pos_per_gt", per_gt.mean().item())
        log_objects_without_positives(per_gt, cat(gt_boxes_per_image, dim=0), storage)

    def losses(self, anchors, pred_logits, gt_labels, pred_deltas, gt_boxes, pred_centerness):
        positives = (gt_labels >= 0) & (gt_labels < self.num_classes)  # (N, R)
        num_images = len(gt_labels)
        reg_anchors = Boxes.cat(self._regression_anchors(anchors)).tensor
        pos_reg_anchors = reg_anchors.expand(num_images, -1, -1)[positives]
        pos_deltas = cat(pred_deltas, dim=1)[positives]
        pos_gt_boxes = gt_boxes[positives]
        pred_boxes = decode_boxes(self.box2box_transform, pos_deltas, pos_reg_anchors)
        if self.loss.box_loss == "smooth_l1":
            box_loss_inputs = {
                "pred_deltas": pos_deltas,
                "gt_deltas": self.box2box_transform.get_deltas(pos_reg_anchors, pos_gt_boxes),
            }
        else:
            box_loss_inputs = {}
        return atss_losses(
            cat(pred_logits, dim=1),
            cat(pred_centerness, dim=1).squeeze(dim=2) if self.use_centerness else None,
            pred_boxes,
            gt_labels,
            pos_gt_boxes,
            Boxes(pos_reg_anchors).get_centers(),
            params=self.loss,
            **box_loss_inputs,
        )

    def forward_inference(
        self, images: ImageList, features: List[Tensor], predictions: List[List[Tensor]]
    ) -> List[Instances]:
        pred_logits, pred_deltas, pred_centerness = self._transpose_predictions(predictions)
        anchors = self._regression_anchors(self.anchor_generator(features))
        results: List[Instances] = []
        for img_idx, image_size in enumerate(images.image_sizes):
            scores = [
                self._candidate_scores(
                    logits[img_idx], pred_centerness[i][img_idx] if self.use_centerness else None
                )
                for i, logits in enumerate(pred_logits)
            ]
            deltas = [at_least_float32(x[img_idx]) for x in pred_deltas]
            results.append(self.inference_single_image(anchors, scores, deltas, image_size))
        return results

    def _candidate_scores(self, logits: Tensor, centerness: Optional[Tensor]) -> Tensor:
        """
        Official post-processing (Section 3.1): candidates are the (anchor, class) pairs whose
        class probability exceeds the threshold, ranked by sqrt(probability * centerness), or by
        the probability without centerness. The others get -1, so that the base decoder, given a
        threshold of -0.5, keeps exactly the candidates whatever their final score. Scores are
        float32 under autocast too, so that bfloat16's 8-bit mantissa does not tie the ranking.
        """
        prob = at_least_float32(logits).sigmoid()
        if centerness is None:
            score = prob
        else:
            score = torch.sqrt(prob * at_least_float32(centerness).sigmoid())
        return torch.where(prob > self.inference.score_thresh, score, torch.full_like(score, -1.0))

    def inference_single_image(
        self,
        anchors: List[Boxes],
        scores: List[Tensor],
        deltas: List[Tensor],
        image_size: Tuple[int, int],
    ) -> Instances:
        settings = self.inference
        pred = self._decode_multi_level_predictions(
            anchors, scores, deltas, -0.5, settings.topk_candidates, image_size
        )
        pred.pred_boxes.clip(image_size)
        keep = batched_nms(
            pred.pred_boxes.tensor, pred.scores, pred.pred_classes, settings.nms_thresh
        )
        return pred[keep[: settings.max_detections_per_image]]
