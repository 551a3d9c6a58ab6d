"""Training losses as pure tensor functions (no detectron2 needed)."""
from .atss_loss import BOX_LOSSES, CLS_LOSSES, atss_losses, centerness_targets
from .average_precision import ap_loss
