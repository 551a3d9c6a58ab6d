"""
The authors' ATSS dcnv2 X-101-64x4d FPN 2x (official: 47.7 AP on COCO minival), converted by
``tools/convert_official_checkpoint.py``: the architecture of
``ATSS/atss_dcnv2_X_101_64x4d_FPN_2x.py`` with the official test-time settings
(``common/official.py``).
"""

from ..ATSS.atss_dcnv2_X_101_64x4d_FPN_2x import dataloader, lr_multiplier, model, optimizer, train
from ..common.official import use_official_inference

use_official_inference(model, dataloader)

# Where the conversion command of docs/official_models.md writes the converted checkpoint.
train.init_checkpoint = "./checkpoints/official/atss_dcnv2_X_101_64x4d_FPN_2x.pth"
train.output_dir = "./output/official/atss_dcnv2_X_101_64x4d_FPN_2x"
