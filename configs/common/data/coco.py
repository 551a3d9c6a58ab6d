"""
COCO for ATSS: detectron2's loaders (coco_2017_train, 16 images a batch; coco_2017_val at shorter
side 800, COCOEvaluator) with the official 1x input (shorter side 800, longer side at most 1333)
and a horizontal flip, without the masks ATSS does not use.
"""
from detectron2 import model_zoo
import detectron2.data.transforms as T
from detectron2.config import LazyCall as L

dataloader = model_zoo.get_config("common/data/coco.py").dataloader
dataloader.train.mapper.use_instance_mask = False
dataloader.train.mapper.augmentations = [
    L(T.ResizeShortestEdge)(short_edge_length=800, max_size=1333, sample_style="choice"),
    L(T.RandomFlip)(horizontal=True),
]
dataloader.train.total_batch_size = 16
