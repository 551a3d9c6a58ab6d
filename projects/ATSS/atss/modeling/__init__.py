"""The detectron2 modules of ATSS; importing this package registers them."""
from .anchor_generator import ATSSAnchorGenerator
from .assignment_registry import ASSIGNMENT_REGISTRY, AssignmentParams, build_assignment
from .atss_head import ATSS_HEAD_REGISTRY, ATSSHead, build_atss_head
from .autoassign_head import AutoAssignHead
from .backbone import build_atss_resnet_fpn_backbone, make_resnet_stages
from .inference_params import InferenceParams
from .meta_arch import ATSS, AutoAssign
from .test_time_augmentation import ATSSDatasetMapperTTA, ATSSWithTTA
