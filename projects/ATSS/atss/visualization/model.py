"""
Loading a model and its inputs for the visualizations: one place, so that the notebooks and
``tools/visualize_assignment.py`` load models the same way.
"""

import copy
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Tuple, Union
from omegaconf import DictConfig

import detectron2.data.transforms as T
from detectron2.config import CfgNode, LazyConfig, instantiate
from detectron2.data import DatasetMapper
from detectron2.modeling import build_model as build_yaml_model

from ..model_zoo import load_config_file, load_weights
from ..modeling.meta_arch import ATSS

__all__ = [
    "SHAPES_CONFIG",
    "SHAPES_CHECKPOINT",
    "ShapesModel",
    "load_config",
    "build_model",
    "load_model",
    "annotated_mapper",
    "shapes_model",
]

Config = Union[DictConfig, CfgNode]

# Relative to the repository root: the main job of the README's quick start and its output.
SHAPES_CONFIG = "configs/Shapes/atss_R_18_FPN_shapes.py"
SHAPES_CHECKPOINT = "output/atss_R_18_FPN_shapes/model_final.pth"
# The short run made when the main job's model is absent (CI): enough iterations for its
# curves to have a few points, a minute or two on 2 CPU cores.
SHORT_RUN_ITERATIONS = 60
SHORT_RUN_BATCH_SIZE = 8
SHORT_RUN_LOG_PERIOD = 10


def load_config(config_file: str, overrides: Sequence[str] = ()) -> Config:
    """A LazyConfig (``.py``, ``key=value`` overrides) or a YAML config (``KEY VALUE`` pairs)."""
    if not os.path.isfile(config_file):
        raise FileNotFoundError(f"Config file {config_file} does not exist")
    cfg = load_config_file(config_file)
    if isinstance(cfg, CfgNode):
        cfg.merge_from_list(list(overrides))
        return cfg
    return LazyConfig.apply_overrides(cfg, list(overrides))


def build_model(cfg: Config, device: str = "cpu") -> ATSS:
    """The config's model in eval mode, with its initial (untrained) weights."""
    if isinstance(cfg, CfgNode):
        cfg = cfg.clone()
        cfg.MODEL.DEVICE = device  # build_model moves the model there
        model = build_yaml_model(cfg)
    else:
        model = instantiate(cfg.model)
    if not isinstance(model, ATSS):
        raise ValueError(f"The config builds a {type(model).__name__}, not an ATSS model")
    return model.to(device).eval()


def load_model(
    config_file: str,
    checkpoint: Optional[str] = None,
    *,
    overrides: Sequence[str] = (),
    device: str = "cpu",
) -> Tuple[ATSS, Config]:
    """
    Build the model of ``config_file`` and load ``checkpoint`` (a path or a detectron2 URL; none
    keeps the initial weights, enough for label assignment, which does not depend on them).

    Returns:
        the model in eval mode on ``device`` and its config.
    """
    cfg = load_config(config_file, overrides)
    model = build_model(cfg, device)
    if checkpoint:
        if "://" not in checkpoint and not os.path.isfile(checkpoint):
            raise FileNotFoundError(f"Checkpoint {checkpoint} does not exist")
        load_weights(model, checkpoint)
    return model, cfg


def annotated_mapper(cfg: Config) -> DatasetMapper:
    """
    A mapper that prepares a dataset dict as the model sees it at test time (test resizing, the
    model's input format) but keeps its annotations, as ``instances`` (detectron2's test-time
    mapper drops them).
    """
    if isinstance(cfg, CfgNode):
        resize = T.ResizeShortestEdge(cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST)
        return DatasetMapper(is_train=True, augmentations=[resize], image_format=cfg.INPUT.FORMAT)
    mapper = copy.deepcopy(cfg.dataloader.test.mapper)
    mapper.is_train = True
    return instantiate(mapper)


@dataclass
class ShapesModel:
    """The shapes model the notebooks use, and where it comes from."""

    root: str  # the repository root
    config_file: str
    checkpoint: str
    metrics_file: str
    # "main job": its final model; "main job in progress": its latest checkpoint while it trains;
    # "short run": the main job's directory has no checkpoint, a short run was made instead.
    source: str

    @property
    def trained_here(self) -> bool:
        return self.source == "short run"

    def describe(self) -> str:
        checkpoint = os.path.relpath(self.checkpoint, self.root)
        if self.source == "main job":
            return f"Using the main job's model {checkpoint}."
        if self.source == "main job in progress":
            return (
                f"The main job has not finished: using its latest checkpoint {checkpoint} and "
                "the metrics logged so far."
            )
        return (
            f"No trained model at {SHAPES_CHECKPOINT}: using a short training run of "
            f"{SHORT_RUN_ITERATIONS} iterations ({checkpoint}); its detections and curves are "
            "those of a barely trained model. Train the main job (python train_net.py "
            f"--config-file {SHAPES_CONFIG}) to see the real ones."
        )


def shapes_model(root: Union[str, Path] = ".", run_dir: Optional[str] = None) -> ShapesModel:
    """
    The model of the shapes main job (``SHAPES_CHECKPOINT`` under the repository ``root``) when
    it exists, or while it trains its latest checkpoint (named by detectron2's
    ``last_checkpoint`` file); otherwise a short training run of the same config with
    ``train_net.py``, made once in ``run_dir`` (default ``$ATSS_NOTEBOOK_RUN_DIR`` or
    ``output/notebook_short_run``) and reused while its ``model_final.pth`` exists.
    """
    root = Path(root).resolve()
    config_file = str(root / SHAPES_CONFIG)
    checkpoint = root / SHAPES_CHECKPOINT
    main_dir = checkpoint.parent
    if checkpoint.is_file():
        source = "main job"
    elif (main_dir / "last_checkpoint").is_file():
        checkpoint = main_dir / (main_dir / "last_checkpoint").read_text().strip()
        source = "main job in progress"
    if checkpoint.is_file():
        return ShapesModel(
            str(root), config_file, str(checkpoint), str(main_dir / "metrics.json"), source
        )
    run_dir = Path(
        run_dir or os.environ.get("ATSS_NOTEBOOK_RUN_DIR") or root / "output/notebook_short_run"
    ).resolve()
    checkpoint = run_dir / "model_final.pth"
    if not checkpoint.is_file():
        command = [
            sys.executable,
            "train_net.py",
            "--config-file",
            SHAPES_CONFIG,
            f"train.max_iter={SHORT_RUN_ITERATIONS}",
            f"train.eval_period={SHORT_RUN_ITERATIONS}",
            f"train.log_period={SHORT_RUN_LOG_PERIOD}",
            f"train.output_dir={run_dir}",
            f"dataloader.train.total_batch_size={SHORT_RUN_BATCH_SIZE}",
        ]
        proc = subprocess.run(
            command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        if proc.returncode != 0 or not checkpoint.is_file():
            raise RuntimeError(
                f"The short training run ({' '.join(command)}) failed:\n{proc.stdout[-3000:]}"
            )
    metrics_file = str(run_dir / "metrics.json")
    return ShapesModel(str(root), config_file, str(checkpoint), metrics_file, "short run")
