"""
torchvision's ImageNet ResNets as detectron2 checkpoints: ``torchvision://resnet18`` (or
``resnet34``, ``resnet50``, ``resnet101``, ``resnet152``) names torchvision's ``IMAGENET1K_V1``
weights wherever a checkpoint is accepted (``train.init_checkpoint``, ``MODEL.WEIGHTS``).

``import atss`` registers :class:`TorchvisionHandler` with detectron2's PathManager, which
resolves the name as it resolves ``detectron2://``: torch.hub fetches the file into torchvision's
cache (``$TORCH_HOME/hub/checkpoints``) as ``torchvision.models.resnet18(weights=...)`` does, and
its trunk is written beside it in detectron2's ResNet names (:func:`convert_torchvision_resnet`,
the naming of detectron2's ``tools/convert-torchvision-to-d2.py``). DetectionCheckpointer matches
those names to the model's trunk by suffix, as it does for that script's files.

The weights expect what torchvision's ImageNet training fed them: RGB input normalised by
torchvision's mean and std, and for the bottleneck ResNets the stride in the 3x3 convolution
(``stride_in_1x1=False``).
"""

import logging
import os
import re
import socket
from typing import Dict, Mapping
from urllib.parse import urlparse
import torch

from detectron2.utils.file_io import PathHandler, PathManager

from .atomic import write_atomically
from .errors import CheckpointError

__all__ = ["RESNETS", "TorchvisionHandler", "convert_torchvision_resnet"]

logger = logging.getLogger(__name__)

# The torchvision models whose layout detectron2's ResNet reproduces.
RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")

# Seconds a stalled download may wait for data: torch.hub sets no timeout, and a network that drops
# packets would otherwise hang the run before its first iteration.
DOWNLOAD_TIMEOUT_S = 60

_STAGE = re.compile(r"^layer([1-4])\.(\d+)\.")
# A tensor of detectron2's ResNet, once renamed: a convolution, its norm or the shortcut's.
_DETECTRON2_TENSOR = re.compile(
    r"^(stem|res[2-5]\.\d+)\.(conv\d|shortcut)(\.norm)?\.(weight|bias|running_mean|running_var)$"
)


def convert_torchvision_resnet(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """
    The trunk of a torchvision ResNet state dict in the names of detectron2's
    :class:`~detectron2.modeling.backbone.ResNet` (``stem.conv1.weight``,
    ``res2.0.conv1.norm.running_mean``, ``res3.0.shortcut.weight``, ...), the same tensors.

    ``layerN`` becomes ``res{N+1}``, the stem's ``conv1``/``bn1`` become ``stem.conv1`` and its
    norm, ``bnK`` becomes ``convK.norm`` and ``downsample.0``/``.1`` the shortcut and its norm.
    The ImageNet classifier (``fc``) and the BatchNorm counters (``num_batches_tracked``) are not
    weights of the trunk and are left out. Raises ValueError naming a key that is none of these.
    """
    converted = {}
    for key, tensor in state_dict.items():
        if key.startswith("fc.") or key.endswith(".num_batches_tracked"):
            continue
        name = _STAGE.sub(lambda m: f"res{int(m.group(1)) + 1}.{m.group(2)}.", key)
        if name == key:
            name = "stem." + key
        name = re.sub(r"\.bn(\d)\.", r".conv\1.norm.", name)
        name = name.replace(".downsample.0.", ".shortcut.").replace(
            ".downsample.1.", ".shortcut.norm."
        )
        if not _DETECTRON2_TENSOR.match(name):
            raise ValueError(f"{key!r} is not a tensor of a torchvision ResNet.")
        converted[name] = tensor
    return converted


class TorchvisionHandler(PathHandler):
    """
    Resolves ``torchvision://<model>`` to a local file of the model's ImageNet trunk in
    detectron2's names, fetching torchvision's weights on first use. Without the weights and
    without a network, a CheckpointError names the file to place in the cache and the override
    that trains from scratch.
    """

    PREFIX = "torchvision://"

    def _get_supported_prefixes(self):
        return [self.PREFIX]

    def _get_local_path(self, path: str, **kwargs) -> str:
        name = path[len(self.PREFIX) :]
        if name not in RESNETS:
            raise CheckpointError(
                f"{path}: no such torchvision ResNet; the names are "
                f"{', '.join(self.PREFIX + n for n in RESNETS)}."
            )
        # torchvision.models is imported on first use only: ``import atss`` stays light.
        from torchvision.models import get_model_weights

        weights = get_model_weights(name).IMAGENET1K_V1
        source = os.path.join(
            torch.hub.get_dir(), "checkpoints", os.path.basename(urlparse(weights.url).path)
        )
        previous_timeout = socket.getdefaulttimeout()
        socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
        try:
            # torchvision's own fetch, into torch.hub's cache; a download must match the hash in
            # the file's name.
            state_dict = weights.get_state_dict(progress=True, check_hash=True, weights_only=True)
        except OSError as e:  # no network, refused, or stalled past the timeout
            raise CheckpointError(
                f"{path}: torchvision's ImageNet weights ({weights}) are not in the cache and "
                f"cannot be downloaded ({e}). Place {os.path.basename(source)}, from "
                f"{weights.url}, in {os.path.dirname(source)} (torch.hub's cache; TORCH_HOME "
                'moves it), or train from scratch with train.init_checkpoint="" '
                '(YAML: MODEL.WEIGHTS "").'
            ) from None
        except Exception as e:
            # A damaged file in the cache, or a download whose hash is not the one in its name.
            cause = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise CheckpointError(
                f"{path}: torchvision's weights {source} could not be loaded ({type(e).__name__}: "
                f"{cause}); delete the file, if there is one, to download it again."
            ) from e
        finally:
            socket.setdefaulttimeout(previous_timeout)
        trunk = convert_torchvision_resnet(state_dict)
        converted = os.path.splitext(source)[0] + "_detectron2.pth"
        checkpoint = {"model": trunk, "__author__": "torchvision", "matching_heuristics": True}
        write_atomically(converted, lambda f: torch.save(checkpoint, f))
        logger.info(
            f"{path}: torchvision's {weights} from {source}, {len(trunk)} tensors of the trunk "
            f"in detectron2's names ({converted})."
        )
        return converted

    def _open(self, path: str, mode: str = "r", **kwargs):
        return PathManager.open(self._get_local_path(path), mode, **kwargs)


PathManager.register_handler(TorchvisionHandler())
