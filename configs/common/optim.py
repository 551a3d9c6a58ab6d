"""
The official optimizer: SGD, momentum 0.9, weight decay 1e-4, LR 0.01 at 16 images a batch.
maskrcnn-benchmark also gives every bias twice the LR and no weight decay (SOLVER.BIAS_LR_FACTOR 2,
WEIGHT_DECAY_BIAS 0) and keeps the decay on GroupNorm weights, so this differs from detectron2's
common SGD.
"""
from detectron2 import model_zoo

SGD = model_zoo.get_config("common/optim.py").SGD
SGD.lr = 0.01
SGD.params.base_lr = "${..lr}"
SGD.params.bias_lr_factor = 2.0
SGD.params.weight_decay_bias = 0.0
SGD.params.weight_decay_norm = None
