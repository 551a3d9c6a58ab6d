"""
ATSS (Adaptive Training Sample Selection, CVPR 2020) for Detectron2.

``import atss`` registers the ``ATSS`` meta-architecture, the ``ATSSAnchorGenerator`` and the
``ATSSHead`` with detectron2's registries. The pure-torch modules (``atss.assignment``,
``atss.anchor_grid``, ``atss.losses``) import without detectron2, e.g.
``from atss.assignment import atss_assign``.
"""
import sys

PURE_TORCH_MODULES = ("assignment", "anchor_grid", "losses")
DETECTRON2_INSTALL_URL = "https://detectron2.readthedocs.io/en/latest/tutorials/install.html"


def _importing_a_pure_torch_submodule() -> bool:
    # `import atss.assignment` runs this file first; the import machinery's frames name the
    # submodule being loaded, which must work without detectron2.
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_locals.get("name") if "importlib" in frame.f_code.co_filename else None
        if isinstance(name, str) and name.split(".")[0] == __name__ and "." in name:
            return name.split(".")[1] in PURE_TORCH_MODULES
        frame = frame.f_back
    return False


try:
    import detectron2  # noqa: F401
except ImportError as e:
    if not _importing_a_pure_torch_submodule():
        raise ImportError(
            "atss requires detectron2, which is not installed in this interpreter. Install it by "
            f"its official guide: {DETECTRON2_INSTALL_URL}, then `pip install -e .` here."
        ) from e
else:
    # backbone and data register build_atss_resnet_fpn_backbone and shapes_train/shapes_val.
    from . import backbone, data
    from .anchor_generator import ATSSAnchorGenerator
    from .config import add_atss_config
    from .head import ATSSHead
    from .meta_arch import ATSS

__version__ = "0.1.0"
