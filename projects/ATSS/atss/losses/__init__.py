"""Training losses as pure tensor functions (no detectron2 needed)."""
from .atss_loss import atss_losses, centerness_targets
from .autoassign import (
    autoassign_losses,
    boxes_contain_points,
    center_prior,
    negative_bag_loss,
    negative_weights,
    positive_bag_loss,
)
