"""Training losses as pure tensor functions (no detectron2 needed)."""
from .atss_loss import BOX_LOSSES, CLS_LOSSES, atss_losses, centerness_targets
from .ap_loss import ap_loss
from .autoassign_loss import (
    autoassign_losses,
    boxes_contain_points,
    center_prior,
    negative_bag_loss,
    negative_weights,
    positive_bag_loss,
)
