"""Training losses as pure tensor functions (no detectron2 needed)."""
from .atss_loss import atss_losses, centerness_targets
from .average_precision import ap_loss
