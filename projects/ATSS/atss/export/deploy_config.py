"""
What deployment needs from a config (a LazyConfig, or a YAML config turned into one by
:func:`atss.config.load_config`). Used by ``tools/deploy/export_model.py`` and ``demo/demo.py``.
"""

from typing import Any, Dict, List, Sequence
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf
from torch import nn

import detectron2.data.transforms as T
from detectron2.config import instantiate
from detectron2.data import MetadataCatalog
from detectron2.evaluation import COCOEvaluator
from detectron2.layers import FrozenBatchNorm2d

from ..checkpoint.loading import load_model
from ..config import dataset_classes, get_weights, load_config
from ..data import has_fast_coco_eval

__all__ = ["DeployConfig", "plain_module_attributes"]


def plain_module_attributes(model: nn.Module) -> nn.Module:
    """
    Replace the omegaconf lists and dicts that LazyConfig's ``instantiate`` leaves in module
    attributes (e.g. ``ResNet._out_features``) by Python ones, which TorchScript can type.
    """
    for module in model.modules():
        for name, value in list(vars(module).items()):
            if isinstance(value, (ListConfig, DictConfig)):
                setattr(module, name, OmegaConf.to_container(value, resolve=True))
    return model


class DeployConfig:
    """
    A loaded config, with the model, weights, test-time preprocessing, test set and evaluator it
    names. Weights come from ``train.init_checkpoint`` (``MODEL.WEIGHTS`` of a YAML config).
    """

    def __init__(
        self, config_file: str, opts: Sequence[str] = (), allow_unloaded_weights: bool = False
    ):
        self.config_file = config_file
        self.allow_unloaded_weights = allow_unloaded_weights
        self.cfg = load_config(config_file, opts)

    @property
    def weights(self) -> str:
        return get_weights(self.cfg)

    @property
    def input_format(self) -> str:
        fmt = OmegaConf.select(self.cfg, "model.input_format", default=None)
        return fmt or OmegaConf.select(
            self.cfg, "dataloader.test.mapper.image_format", default="BGR"
        )

    @property
    def test_dataset_name(self) -> str:
        names = OmegaConf.select(self.cfg, "dataloader.test.dataset.names", default=None)
        if names is None:
            raise KeyError(f"{self.config_file} has no dataloader.test.dataset.names")
        return names if isinstance(names, str) else names[0]

    @property
    def metadata(self):
        """The test set's metadata; for a model trained on data given by path, its class names
        come from the config (``dataset.classes``)."""
        metadata = MetadataCatalog.get(self.test_dataset_name)
        classes = dataset_classes(self.cfg)
        if classes and metadata.get("thing_classes") is None:
            metadata.set(thing_classes=classes)
        return metadata

    def build_model(self) -> nn.Module:
        """
        The model on the CPU in eval mode, with the config's weights. Weights that do not cover
        the whole model (e.g. a backbone-only initialisation) are an error naming the keys: an
        exported model must not be partly random. No weights at all is a ConfigError, unless the
        config was made with ``allow_unloaded_weights``. BatchNorm layers are frozen.
        """
        model = load_model(
            self.cfg, device="cpu", allow_unloaded_weights=self.allow_unloaded_weights
        )
        # At inference BatchNorm normalises with its running statistics, as FrozenBatchNorm2d
        # does; the synchronised BatchNorm of the shapes configs cannot be scripted.
        model = FrozenBatchNorm2d.convert_frozen_batchnorm(model)
        return plain_module_attributes(model.eval())

    def test_augmentations(self) -> List[T.Augmentation]:
        """Test-time resizing of the config, as its test loader applies it."""
        augs = OmegaConf.select(self.cfg, "dataloader.test.mapper.augmentations", default=[])
        return [instantiate(a) for a in augs]

    def preprocess(self, image) -> Dict[str, Any]:
        """
        A model input from an image (H, W, 3) uint8 array in the config's ``input_format``, as
        detectron2's ``DefaultPredictor`` makes it.
        """
        height, width = image.shape[:2]
        aug_input = T.AugInput(image)
        T.AugmentationList(self.test_augmentations())(aug_input)
        tensor = torch.as_tensor(aug_input.image.astype("float32").transpose(2, 0, 1))
        return {"image": tensor, "height": height, "width": width}

    def build_test_loader(self):
        loader_cfg = self.cfg.dataloader.test
        loader_cfg.num_workers = 0  # one process on the CPU, as the exported model is checked
        return instantiate(loader_cfg)

    def build_evaluator(self, output_dir: str) -> COCOEvaluator:
        # As detectron2's export script: COCOEvaluator on the first test set.
        return COCOEvaluator(
            self.test_dataset_name, output_dir=output_dir, use_fast_impl=has_fast_coco_eval()
        )
