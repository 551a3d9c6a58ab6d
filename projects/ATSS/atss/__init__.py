"""
ATSS (Adaptive Training Sample Selection, CVPR 2020) for Detectron2.

``import atss`` registers the ``ATSS`` meta-architecture, the ``ATSSAnchorGenerator``, the
``ATSSHead``, the assignment rules, the ResNet-FPN backbone and the shapes datasets with
detectron2's registries, and the ``torchvision://`` ImageNet trunks with its PathManager
(``atss.checkpoint.torchvision_resnet``).

The pure-torch modules (``atss.assignment``, ``atss.anchor_grid``, ``atss.losses``) and
``atss.box_voting`` never import detectron2 and work without it. Without detectron2, ``import atss``
still succeeds and the names that need it (``atss.ATSS``, ``atss.add_atss_config``, ...) raise
an ImportError that links the install guide on first use.
"""
__version__ = "0.1.0"

# Pure torch: the soft box voting of the official multi-scale test, usable without detectron2.
from .box_voting import box_voting

DETECTRON2_INSTALL_URL = "https://detectron2.readthedocs.io/en/latest/tutorials/install.html"

# The public names that need detectron2, and the submodule that defines each.
_DETECTRON2_NAMES = {
    "ATSS": "modeling",
    "ATSSAnchorGenerator": "modeling",
    "ATSSHead": "modeling",
    "ATSSDatasetMapperTTA": "modeling",
    "ATSSWithTTA": "modeling",
    "add_atss_config": "config",
    "AutoAssign": "modeling",
    "AutoAssignHead": "modeling",
    "add_autoassign_config": "config",
}

try:
    import detectron2  # noqa: F401
except ImportError:
    pass
else:
    # Registers the modeling components, the backbone, the shapes datasets and torchvision://.
    from . import data, modeling
    from .checkpoint import torchvision_resnet
    from .config import add_atss_config, add_autoassign_config
    from .modeling import (
        ATSS,
        ATSSAnchorGenerator,
        ATSSDatasetMapperTTA,
        ATSSHead,
        ATSSWithTTA,
        AutoAssign,
        AutoAssignHead,
    )


def __getattr__(name: str):
    # Reached only for names not set above (PEP 562), i.e. when detectron2 is absent.
    if name in _DETECTRON2_NAMES:
        raise ImportError(
            f"atss.{name} requires detectron2, which is not installed in this interpreter. Set "
            "it up with `bash tools/install.sh` from the repository root (docs/install.md), or "
            f"install it by its official guide, {DETECTRON2_INSTALL_URL}, with "
            "--no-build-isolation."
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
