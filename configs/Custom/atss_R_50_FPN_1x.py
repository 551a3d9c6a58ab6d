"""
ATSS R-50 FPN 1x on your own data (a GPU model): the paper's model from detectron2's ImageNet
weights of the trunk, the COCO 1x schedule (90k iterations of 16 images). The data and the number
of classes come from the command line (``configs/common/data/custom.py``)::

    python train_net.py --config-file configs/Custom/atss_R_50_FPN_1x.py \
        dataset.train.annotations=train.json dataset.test.annotations=val.json
"""

from ..common.coco_schedule import lr_multiplier_1x as lr_multiplier
from ..common.data.custom import dataloader, dataset
from ..common.models.atss import model
from ..common.optim import SGD as optimizer
from ..common.train import train

model.num_classes = None  # the training set's
train.output_dir = "./output/custom/atss_R_50_FPN_1x"
# Evaluation every 5000 of the 90k iterations (18 evaluations) keeps model_best.pth meaningful;
# early stopping ends a run whose AP has not improved in 5 of them; the validation loss is logged
# at each (docs/evaluation.md).
train.early_stop.enabled = True
train.validation_loss = True
