"""
detectron2's training defaults (AMP off, ...) for the 1x COCO schedule, from detectron2's
ImageNet weights of the R-50 trunk.
"""
from detectron2 import model_zoo

train = model_zoo.get_config("common/train.py").train
train.max_iter = 90000
train.eval_period = 5000
train.checkpointer.period = 5000
train.init_checkpoint = "detectron2://ImageNetPretrained/MSRA/R-50.pkl"
train.output_dir = "./output/atss_R_50_FPN_1x"
# Annotations with unusable boxes raise a ValueError naming them; True drops them, from training
# and evaluation alike, with one warning line (atss.data.coco_json; YAML:
# DATASETS.DROP_INVALID_ANNOTATIONS).
train.drop_invalid_annotations = False
# Evaluation during training (atss.engine.evaluation_hooks, docs/evaluation.md): the checkpoint of
# the best evaluation is kept as model_best.pth. The validation loss (a second pass over the test
# set) and early stopping are off: the paper trains the full schedule; configs/Custom turn them on.
train.best_checkpoint = dict(metric="bbox/AP")
train.validation_loss = False
train.early_stop = dict(enabled=False, patience=5, metric="bbox/AP", min_delta=0.1)
# Number type (atss.config.precision, docs/benchmarks.md#bfloat16-on-the-cpu): "auto" trains and
# infers in bfloat16 autocast on a CPU with native bfloat16 units of a kind in `faster_on` (those on
# which the model was measured faster in bfloat16: every config's model on Intel's AMX and AMD's
# AVX512-BF16, benchmarks/cpu_precision.py), float32 elsewhere and on CUDA; True forces mixed
# precision (detectron2's float16 AMP on CUDA, bfloat16 there with `dtype="bfloat16"`), False
# float32. `channels_last`: weights NHWC under bfloat16 on a CPU.
train.amp.enabled = "auto"
train.amp.dtype = None
train.amp.faster_on = ["amx_bf16", "avx512_bf16"]
train.amp.channels_last = True
