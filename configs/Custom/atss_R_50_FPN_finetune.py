"""
ATSS R-50 FPN fine-tuned on your own data from the authors' COCO model, converted by
``tools/convert_official_checkpoint.py`` (docs/official_models.md), a GPU model. Everything but
the class predictor is loaded; the class predictor, for another number of classes, starts from
the focal-loss prior bias. A short schedule at half the COCO learning rate: 12k iterations of 16
images, LR x0.1 at 8k and 11k.
"""

from ..common.coco_schedule import multistep_with_warmup
from ..common.data.custom import dataloader, dataset
from ..common.official import use_official_inference
from ..common.optim import SGD as optimizer
from ..Official.atss_R_50_FPN_1x import model, train

use_official_inference(model, dataloader)
model.num_classes = None  # the training set's
optimizer.lr = 0.005
lr_multiplier = multistep_with_warmup(12000, [8000, 11000])
train.max_iter = 12000
train.eval_period = 2000
train.checkpointer.period = 2000
train.output_dir = "./output/custom/atss_R_50_FPN_finetune"
# Early stopping ends a run whose AP has not improved in 3 of its 6 evaluations; the validation
# loss is logged at each (docs/evaluation.md).
train.early_stop.enabled = True
train.early_stop.patience = 3
train.validation_loss = True
