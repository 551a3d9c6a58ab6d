"""
The project's model zoo, shaped like ``detectron2.model_zoo``: configs by their path under
``configs/`` (shipped inside this package, so an installed wheel has them) and the trained weights
that go with them.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional
import torch
from torch import nn

from ..checkpoint.loading import load_model
from ..config import Config, get_output_dir, load_config, set_weights

__all__ = [
    "CONFIGS_DIR",
    "OFFICIAL_MODELS",
    "OfficialModel",
    "get",
    "get_checkpoint_url",
    "get_config",
    "get_config_file",
]

# The repository's configs/, shipped in the package as detectron2 ships its model-zoo configs:
# setup.py links them at build time in a checkout, a wheel holds a copy.
CONFIGS_DIR = Path(__file__).resolve().parent / "configs"


@dataclass(frozen=True)
class OfficialModel:
    """One of the authors' released ATSS models (official README, "Models")."""

    name: str
    ap_minival: float
    ap_test_dev: float
    google_drive: str
    baidu: str

    @property
    def official_file(self) -> str:
        """The file name of the authors' download, e.g. ``ATSS_R_50_FPN_1x.pth``."""
        return "ATSS" + self.name[len("atss") :] + ".pth"


OFFICIAL_MODELS: Dict[str, OfficialModel] = {
    m.name: m
    for m in [
        OfficialModel(
            "atss_R_50_FPN_1x",
            39.3,
            39.3,
            "https://drive.google.com/open?id=1t8RLdQ6fsFXa0kzPIQ7541uZeQeMXP73",
            "https://pan.baidu.com/s/1bYXjWJE35kHLpQAIeWtZ0g",
        ),
        OfficialModel(
            "atss_dcnv2_R_50_FPN_1x",
            43.2,
            43.0,
            "https://drive.google.com/open?id=1_Zl6sVrNZbvawxtMdvNSE9wgURmkLLka",
            "https://pan.baidu.com/s/1baZJMCCy_waR0hhChgEQFA",
        ),
        OfficialModel(
            "atss_R_101_FPN_2x",
            43.5,
            43.6,
            "https://drive.google.com/open?id=1jenAgiLLqome8nn5ghV7wmknfr1Xg_Dw",
            "https://pan.baidu.com/s/1hiAew46s877dpgAZ-AweLw",
        ),
        OfficialModel(
            "atss_dcnv2_R_101_FPN_2x",
            46.1,
            46.3,
            "https://drive.google.com/open?id=17S-M6UILyS18s5RW1T6lWFi8nrKMhwd7",
            "https://pan.baidu.com/s/1eakRoQIqR-UmjWT4RM8vyQ",
        ),
        OfficialModel(
            "atss_X_101_32x8d_FPN_2x",
            44.8,
            45.1,
            "https://drive.google.com/open?id=1jFTdsQD2KfR9Dh1NgX05_02wfQxlnmD3",
            "https://pan.baidu.com/s/1uO3ZLstI7tkVQBayjRy-6w",
        ),
        OfficialModel(
            "atss_dcnv2_X_101_32x8d_FPN_2x",
            47.7,
            47.7,
            "https://drive.google.com/open?id=19E7vh7YCq0ZpvRIaswDMWGRmwcGK56Bz",
            "https://pan.baidu.com/s/1pOMZGb3UZb7u_lTqUk55Mw",
        ),
        OfficialModel(
            "atss_X_101_64x4d_FPN_2x",
            45.5,
            45.6,
            "https://drive.google.com/open?id=1ECj7mQwZowiTsSwDXU5Q_Ab2tG-Byhsk",
            "https://pan.baidu.com/s/1LxNkz0To_mGWGRbtzA78bw",
        ),
        OfficialModel(
            "atss_dcnv2_X_101_64x4d_FPN_2x",
            47.7,
            47.7,
            "https://drive.google.com/open?id=1Lmhtn71AgJC_6B5iqU8-PG_rYanKEr2k",
            "https://pan.baidu.com/s/1nzX-lUvZfnV--fj6OwsnmQ",
        ),
    ]
}


def converted_checkpoints_dir() -> Path:
    """Where converted official checkpoints are looked for: ``$ATSS_MODEL_ZOO``, by default
    ``checkpoints/official`` of the current directory, where ``configs/Official`` read them."""
    return Path(os.environ.get("ATSS_MODEL_ZOO", Path("checkpoints") / "official"))


def _name(config_path: str) -> str:
    return config_path.replace(".yaml", "").replace(".py", "")


def get_config_file(config_path: str) -> str:
    """
    Returns the path of a config of the project.

    Args:
        config_path: relative to ``configs/``, e.g. ``"ATSS/atss_R_50_FPN_1x.py"``.
    """
    if not CONFIGS_DIR.is_dir():
        raise RuntimeError(
            f"The ATSS model zoo has no configs: {CONFIGS_DIR} does not exist. In a checkout, "
            "`pip install -e .` (or `python setup.py --version`) links it to configs/."
        )
    cfg_file = CONFIGS_DIR / config_path
    if not cfg_file.is_file():
        raise RuntimeError(
            f"{config_path} is not a config of the ATSS model zoo: no file {cfg_file}."
        )
    return str(cfg_file)


def _trained_output(config_path: str) -> Path:
    """A config's final checkpoint as train_net.py writes it: ``train.output_dir`` (``OUTPUT_DIR``
    of a YAML config), relative to the current directory."""
    checkpoint = Path(get_output_dir(load_config(get_config_file(config_path)))) / "model_final.pth"
    if checkpoint.is_file():
        return checkpoint
    raise RuntimeError(
        f"No trained model for {config_path}: {checkpoint} does not exist in {Path.cwd()}. The "
        "project hosts no checkpoint for it; train it first (from the repository root) with "
        f"`python train_net.py --config-file configs/{config_path}`."
    )


def get_checkpoint_url(config_path: str) -> str:
    """
    Returns where the trained weights of a config are, or raises a RuntimeError that says how to
    get them.

    - ``Official/<name>``: the authors' checkpoint converted by
      ``tools/convert_official_checkpoint.py`` into ``$ATSS_MODEL_ZOO/<name>.pth``. The converted
      files are not hosted: the error gives the authors' download links and the converter
      command.
    - ``Shapes/...`` and other configs trained on a CPU by this project: the ``model_final.pth``
      of the config's output directory, once ``train_net.py`` has trained it.
    - The COCO training recipes (``ATSS/...``, ``Ablations/...``): no model trained by this
      project yet; the authors' weights of the same architecture are the ``Official/`` ones.
    """
    name = _name(config_path)
    family, _, model_name = name.rpartition("/")
    if family == "Official" and model_name in OFFICIAL_MODELS:
        official = OFFICIAL_MODELS[model_name]
        checkpoint = converted_checkpoints_dir() / f"{model_name}.pth"
        if checkpoint.is_file():
            return str(checkpoint)
        raise RuntimeError(
            f"No converted checkpoint for {config_path} at {checkpoint} (set ATSS_MODEL_ZOO to "
            "the folder of your converted checkpoints). The authors' weights are not hosted in "
            f"converted form: download {official.official_file} from {official.google_drive} "
            f"(or {official.baidu}), then run `python tools/convert_official_checkpoint.py "
            f"{official.official_file} {checkpoint}`."
        )
    if family in ("ATSS", "Ablations", "AutoAssign", "APLoss"):
        hint = (
            f" The authors' weights of this architecture: Official/{model_name}.py."
            if model_name in OFFICIAL_MODELS
            else ""
        )
        raise RuntimeError(
            f"No COCO model has been trained with {config_path} by this project yet.{hint}"
        )
    return str(_trained_output(config_path))


def get_config(config_path: str, trained: bool = False) -> Config:
    """
    Returns the config of a model of the zoo, as a LazyConfig (a YAML config turned into one).

    Args:
        config_path: relative to ``configs/``.
        trained: if True, the weights to load (``train.init_checkpoint``)
            are the trained model's (:func:`get_checkpoint_url`); otherwise the config's own
            (typically ImageNet weights of the backbone, or none).
    """
    cfg = load_config(get_config_file(config_path))
    if trained:
        set_weights(cfg, get_checkpoint_url(config_path))
    return cfg


def get(config_path: str, trained: bool = False, device: Optional[str] = None) -> nn.Module:
    """
    Builds a model of the zoo and loads its weights, like ``detectron2.model_zoo.get``: the
    model is returned in training mode.

    Args:
        config_path: relative to ``configs/``, e.g. ``"Official/atss_R_50_FPN_1x.py"`` or
            ``"Shapes/atss_R_18_FPN_shapes.py"``.
        trained: load the trained weights (see :func:`get_config`). A trained checkpoint that
            leaves any parameter of the model unset, or holds parameters the model does not
            have, raises a RuntimeError rather than returning a half-initialised model.
        device: where to put the model; by default the config's, or the CPU when CUDA is
            unavailable.

    Example::

        from atss import model_zoo
        model = model_zoo.get("Shapes/atss_R_18_FPN_shapes.py", trained=True).eval()
    """
    # The own weights of an ``Official/`` config are its converted checkpoint: trained or not,
    # a missing one is the error that says how to get it.
    official = _name(config_path).startswith("Official/")
    cfg = get_config(config_path, trained or official)
    if device is None and not torch.cuda.is_available():
        device = "cpu"
    return load_model(cfg, device=device, strict=trained or official, allow_unloaded_weights=True)
