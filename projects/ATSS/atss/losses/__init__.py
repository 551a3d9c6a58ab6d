"""Training losses as pure tensor functions (no detectron2 needed)."""
from .ap_loss import ap_loss
from .atss_loss import BOX_LOSSES, CLS_LOSSES, ATSSLossParams, atss_losses, centerness_targets
from .autoassign_loss import (
    autoassign_losses,
    boxes_contain_points,
    center_prior,
    negative_bag_loss,
    negative_weights,
    positive_bag_loss,
)
