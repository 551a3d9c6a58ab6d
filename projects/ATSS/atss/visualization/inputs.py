"""
The model and inputs of the visualizations, loaded by :func:`atss.checkpoint.load_model` as
everywhere else, and finding the shapes model the notebooks show.
"""

import copy
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

from detectron2.config import instantiate
from detectron2.data import DatasetMapper

from ..checkpoint.loading import load_model
from ..config import Config, load_config
from ..config.precision import apply_precision, precision_of_config
from ..model_zoo import get_config_file
from ..modeling.meta_arch import ATSS

__all__ = [
    "SHAPES_CONFIG",
    "SHAPES_CHECKPOINT",
    "SHORT_RUN_OVERRIDES",
    "ShapesModel",
    "model_and_config",
    "annotated_mapper",
    "shapes_model",
    "short_run_command",
    "short_run_dir",
]

# The main job of the quick start, and its output relative to the directory it ran from.
SHAPES_CONFIG = get_config_file("Shapes/atss_R_18_FPN_shapes.py")
SHAPES_CHECKPOINT = "output/atss_R_18_FPN_shapes/model_final.pth"
# A short run of the main job's config for the notebooks when the main job's model is absent:
# enough iterations for its curves to have a few points, a minute or two on 2 CPU cores. Its
# output directory is added as train.output_dir=<run dir>.
SHORT_RUN_OVERRIDES = (
    "train.max_iter=60",
    "train.eval_period=60",
    "train.log_period=10",
    "dataloader.train.total_batch_size=8",
)
DEFAULT_SHORT_RUN_DIR = "output/notebook_short_run"


def model_and_config(
    config_file: str,
    checkpoint: Optional[str] = None,
    *,
    overrides: Sequence[str] = (),
    device: str = "cpu",
) -> Tuple[ATSS, Config]:
    """
    The ATSS model of ``config_file`` with ``checkpoint`` loaded strictly (a path or a detectron2
    URL; none keeps the initial weights, enough for label assignment, which does not depend on
    them), in eval mode on ``device``, in the config's precision (:mod:`atss.config.precision`),
    and its config.
    """
    cfg = load_config(config_file, overrides)
    model = load_model(cfg, checkpoint or "", device=device, allow_unloaded_weights=not checkpoint)
    model = apply_precision(model, precision_of_config(cfg, device))
    if not isinstance(model, ATSS):
        raise ValueError(f"The config builds a {type(model).__name__}, not an ATSS model")
    return model.eval(), cfg


def annotated_mapper(cfg: Config) -> DatasetMapper:
    """
    A mapper that prepares a dataset dict as the model sees it at test time (test resizing, the
    model's input format) but keeps its annotations, as ``instances`` (detectron2's test-time
    mapper drops them).
    """
    mapper = copy.deepcopy(cfg.dataloader.test.mapper)
    mapper.is_train = True
    return instantiate(mapper)


@dataclass
class ShapesModel:
    """The shapes model the notebooks use, and where it comes from."""

    config_file: str
    checkpoint: str
    metrics_file: str
    # "main job": its final model; "main job in progress": its latest checkpoint while it trains;
    # "short run": the main job's directory has no checkpoint, a short run's is used instead.
    source: str

    def describe(self) -> str:
        if self.source == "main job":
            return f"Using the main job's model {self.checkpoint}."
        if self.source == "main job in progress":
            return (
                f"The main job has not finished: using its latest checkpoint {self.checkpoint} "
                "and the metrics logged so far."
            )
        return (
            f"No trained model at {SHAPES_CHECKPOINT}: using a short training run "
            f"({self.checkpoint}); its detections and curves are those of a barely trained model. "
            "Train the main job (python train_net.py --config-file "
            "configs/Shapes/atss_R_18_FPN_shapes.py) to see the real ones."
        )


def short_run_command(run_dir: Union[str, Path]) -> List[str]:
    """The arguments of ``train_net.py`` for the short run, from the repository root (the
    notebooks run them with their own interpreter when there is no trained model)."""
    return [
        "train_net.py",
        "--config-file",
        "configs/Shapes/atss_R_18_FPN_shapes.py",
        *SHORT_RUN_OVERRIDES,
        f"train.output_dir={run_dir}",
    ]


def short_run_dir(root: Union[str, Path] = ".") -> Path:
    """Where the short run is: ``$ATSS_NOTEBOOK_RUN_DIR``, or ``output/notebook_short_run``
    under ``root``."""
    run_dir = os.environ.get("ATSS_NOTEBOOK_RUN_DIR") or Path(root) / DEFAULT_SHORT_RUN_DIR
    return Path(run_dir).resolve()


def shapes_model(root: Union[str, Path] = ".", run_dir: Optional[str] = None) -> ShapesModel:
    """
    The model of the shapes main job (``SHAPES_CHECKPOINT`` under ``root``, the directory it ran
    from) when it exists, or while it trains its latest checkpoint (named by detectron2's
    ``last_checkpoint`` file); otherwise the short run's (:func:`short_run_command`) in
    ``run_dir`` (default :func:`short_run_dir`). Raises FileNotFoundError with the commands to
    run when there is neither.
    """
    root = Path(root).resolve()
    checkpoint = root / SHAPES_CHECKPOINT
    main_dir = checkpoint.parent
    source = "main job"
    if not checkpoint.is_file() and (main_dir / "last_checkpoint").is_file():
        checkpoint = main_dir / (main_dir / "last_checkpoint").read_text().strip()
        source = "main job in progress"
    if checkpoint.is_file():
        return ShapesModel(SHAPES_CONFIG, str(checkpoint), str(main_dir / "metrics.json"), source)
    run_dir = Path(run_dir).resolve() if run_dir else short_run_dir(root)
    checkpoint = run_dir / "model_final.pth"
    if not checkpoint.is_file():
        raise FileNotFoundError(
            f"No shapes model: neither {root / SHAPES_CHECKPOINT} nor {checkpoint} exists. Train "
            "the main job (python train_net.py --config-file "
            "configs/Shapes/atss_R_18_FPN_shapes.py, minutes on a CPU) or a short run "
            f"(python {shlex.join(short_run_command(run_dir))}) from the repository root first."
        )
    return ShapesModel(SHAPES_CONFIG, str(checkpoint), str(run_dir / "metrics.json"), "short run")
