"""
ATSS dcnv2 X-101-32x8d FPN 2x evaluated with the official multi-scale and flip test and soft box
voting (``configs/common/test.py``), as the official config with ``TEST.BBOX_AUG.ENABLED True``:

    python train_net.py --config-file configs/ATSS/atss_dcnv2_X_101_32x8d_FPN_2x_tta.py \
        --eval-only train.init_checkpoint=output/atss_dcnv2_X_101_32x8d_FPN_2x/model_final.pth
"""

from ..common.test import test
from .atss_dcnv2_X_101_32x8d_FPN_2x import dataloader, lr_multiplier, model, optimizer, train

test.aug.enabled = True
