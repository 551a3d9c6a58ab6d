"""
A trained run published as a model-zoo entry, as detectron2's model zoo shares its models::

    DIR/NAME/model_final_<first 8 hex digits of its sha256>.pth   the model weights only
    DIR/NAME/config.yaml                                          the run's resolved config
    DIR/NAME/metrics.json                                         the checkpoint's evaluation
    DIR/NAME/score_threshold.json                                 its recommended threshold

The best checkpoint of the run (``model_best.pth``) is published by default, the final one on
request or when the run kept no best; the recommended score threshold of its evaluation
(:mod:`atss.evaluation.recommended_threshold`) goes with it, for the demo and the exporter.

The checkpoint holds ``{"model": state_dict}``: no optimizer, scheduler or iteration, so it
starts a fine-tuning run from iteration 0 and loads wherever a checkpoint is accepted
(``train.init_checkpoint`` / ``MODEL.WEIGHTS``, :func:`get_published`, the demo, the exporter);
a file whose sha256 does not start with the digits of its name is refused there
(:mod:`atss.checkpoint.published`).
"""

import hashlib
import io
import json
import os
import tempfile
from dataclasses import dataclass
from typing import Dict, Optional, Tuple
import torch
from omegaconf import OmegaConf
from torch import nn

from detectron2.config import LazyConfig
from detectron2.utils.file_io import PathManager

from ..checkpoint.atomic import write_atomically
from ..checkpoint.loading import load_model
from ..checkpoint.published import PUBLISHED_NAME, published_name
from ..checkpoint.resilient import BEST_CHECKPOINT
from ..checkpoint.safe_pickle import read_checkpoint_file
from ..config import ConfigError, load_config
from ..evaluation import (
    MATCH_IOU,
    THRESHOLD_FILE,
    RecommendedThreshold,
    read_recommended_threshold,
    write_recommended_threshold,
)

__all__ = [
    "CHECKPOINT_CHOICES",
    "PublishedModel",
    "final_metrics",
    "get_published",
    "publish_run",
    "published_files",
]

CHECKPOINT_CHOICES = ("best", "final")

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"


@dataclass(frozen=True)
class PublishedModel:
    name: str
    directory: str
    checkpoint: str
    sha256: str
    metrics: Dict[str, float]
    iterations: Optional[int]
    source: str = ""  # the run's checkpoint that was published
    score_threshold: Optional[float] = None

    def model_zoo_row(self) -> str:
        """A row for MODEL_ZOO.md's table of models trained by this project."""
        ap = self.metrics.get("bbox/AP")
        ap50 = self.metrics.get("bbox/AP50")
        score = "not evaluated" if ap is None else f"{ap:.1f} (AP50 {ap50:.1f})"
        checkpoint = os.path.basename(self.checkpoint)
        return (
            f"| `{self.name}` | {score} | {self.iterations or '?'} | "
            f"[model]({self.name}/{checkpoint}) &#124; [config]({self.name}/{CONFIG_FILE}) "
            f"&#124; [metrics]({self.name}/{METRICS_FILE}) | `{self.sha256[:8]}` |"
        )


def final_metrics(run_dir: str) -> Dict[str, float]:
    """The last evaluation a run wrote to its ``metrics.json`` (``bbox/*`` keys), or {}."""
    path = os.path.join(run_dir, METRICS_FILE)
    if not os.path.isfile(path):
        return {}
    last = {}
    with open(path) as f:
        for line in f:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a kill
            if any(key.startswith("bbox/") for key in record):
                last = {k: v for k, v in record.items() if k.startswith("bbox/")}
                last["iteration"] = record.get("iteration")
    return last


def _evaluation_at(run_dir: str, iteration: Optional[int]) -> dict:
    """
    The record of ``metrics.json`` with the evaluation of the checkpoint saved at ``iteration``,
    or {}: at that iteration, or at the next for the final evaluation, which detectron2's
    trainer stores after the last iteration.
    """
    path = os.path.join(run_dir, METRICS_FILE)
    if iteration is None or not os.path.isfile(path):
        return {}
    found = {}
    with open(path) as f:
        for line in f:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if record.get("iteration") in (iteration, iteration + 1) and "bbox/AP" in record:
                found = record
    return found


def _threshold_of(run_dir: str, source: str, evaluation: dict) -> Optional[RecommendedThreshold]:
    """The recommended threshold of the evaluation of ``source``: saved with the best
    checkpoint, or read from the evaluation's metrics."""
    name = os.path.basename(source)
    saved = read_recommended_threshold(os.path.join(run_dir, CONFIG_FILE))
    if saved is not None and saved.checkpoint == name:
        return saved
    if "report/score_threshold" not in evaluation:
        return None
    return RecommendedThreshold(
        **{k: evaluation[f"report/{k}"] for k in ("score_threshold", "f1", "precision", "recall")},
        iou=MATCH_IOU,
        dataset=saved.dataset if saved is not None else "the test set",
        iteration=evaluation["iteration"],
        checkpoint=name,
    )


def _checkpoint_to_publish(run_dir: str, which: str) -> str:
    best = os.path.join(run_dir, f"{BEST_CHECKPOINT}.pth")
    if which == "best" and os.path.isfile(best):
        return best
    return _final_checkpoint(run_dir)


def _final_checkpoint(run_dir: str) -> str:
    final = os.path.join(run_dir, "model_final.pth")
    if os.path.isfile(final):
        return final
    tag = os.path.join(run_dir, "last_checkpoint")
    if os.path.isfile(tag):
        with open(tag) as f:
            tagged = os.path.join(run_dir, f.read().strip())
        if os.path.isfile(tagged):
            return tagged
    raise ConfigError(
        f"{run_dir} holds no model_final.pth (nor a last_checkpoint): is it the output directory "
        "of a train_net.py run?"
    )


def _write_resolved_config(source: str, target: str) -> None:
    """The run's config with its interpolations resolved."""
    cfg = load_config(source)
    OmegaConf.resolve(cfg)
    with tempfile.TemporaryDirectory(dir=os.path.dirname(target)) as tmp:
        LazyConfig.save(cfg, os.path.join(tmp, CONFIG_FILE))
        os.replace(os.path.join(tmp, CONFIG_FILE), target)


def publish_run(
    run_dir: str, name: str, output: str = "published", checkpoint: str = "best"
) -> PublishedModel:
    """
    Publish the run of ``run_dir`` (a ``train_net.py`` output directory) as ``output/name/``:
    its ``model_best.pth`` (``checkpoint="best"``, when the run kept one) or its final
    checkpoint (``"final"``), with the metrics and recommended threshold of that checkpoint's
    evaluation. ConfigError when the run has no config or checkpoint; the files are written
    atomically.
    """
    if checkpoint not in CHECKPOINT_CHOICES:
        raise ConfigError(f"checkpoint={checkpoint!r}: choose one of {CHECKPOINT_CHOICES}.")
    if not os.path.isdir(run_dir):
        raise ConfigError(f"Run directory {run_dir} does not exist.")
    config = os.path.join(run_dir, CONFIG_FILE)
    if not os.path.isfile(config):
        raise ConfigError(f"{run_dir} has no {CONFIG_FILE}, which train_net.py writes at start-up.")
    if not name or os.sep in name or name in (".", ".."):
        raise ConfigError(f"--name {name!r} must be a plain directory name, e.g. atss_R_18_voc.")
    source = _checkpoint_to_publish(run_dir, checkpoint)
    checkpoint = read_checkpoint_file(source, lambda path: torch.load(path, map_location="cpu"))
    buffer = io.BytesIO()
    torch.save({"model": checkpoint["model"]}, buffer)
    data = buffer.getvalue()
    sha256 = hashlib.sha256(data).hexdigest()
    directory = os.path.join(output, name)
    os.makedirs(directory, exist_ok=True)
    target = os.path.join(directory, published_name(sha256))
    for old in os.listdir(directory):  # one checkpoint an entry
        if PUBLISHED_NAME.match(old) and old != os.path.basename(target):
            os.unlink(os.path.join(directory, old))
    write_atomically(target, lambda f: f.write(data))
    _write_resolved_config(config, os.path.join(directory, CONFIG_FILE))
    evaluation = _evaluation_at(run_dir, checkpoint.get("iteration"))
    metrics = (
        {k: v for k, v in evaluation.items() if k.startswith("bbox/")}
        if evaluation
        else final_metrics(run_dir)
    )
    iterations = evaluation.get("iteration", metrics.pop("iteration", None))
    iterations = iterations + 1 if iterations is not None else checkpoint.get("iteration")
    text = json.dumps(metrics, indent=2, sort_keys=True).encode()
    write_atomically(os.path.join(directory, METRICS_FILE), lambda f: f.write(text))
    threshold = _threshold_of(run_dir, source, evaluation)
    if threshold is not None:
        write_recommended_threshold(directory, threshold)
    elif os.path.isfile(os.path.join(directory, THRESHOLD_FILE)):
        os.unlink(os.path.join(directory, THRESHOLD_FILE))  # an earlier publication's
    return PublishedModel(
        name, directory, target, sha256, metrics, iterations, source,
        None if threshold is None else threshold.score_threshold,
    )  # fmt: skip


def published_files(entry: str) -> Tuple[str, str]:
    """
    The local config file and the checkpoint of a published entry: its directory, or its
    ``model_final_<hex>.pth`` (a path or a URL, whose ``config.yaml`` is beside it).
    """
    if os.path.isdir(entry):
        names = [n for n in os.listdir(entry) if PUBLISHED_NAME.match(n)]
        if len(names) != 1:
            raise ConfigError(
                f"{entry} is not a published entry: it holds {len(names)} model_final_<hex>.pth."
            )
        checkpoint = os.path.join(entry, names[0])
    else:
        checkpoint = entry
    return PathManager.get_local_path(checkpoint.rsplit("/", 1)[0] + "/" + CONFIG_FILE), checkpoint


def get_published(entry: str, device: Optional[str] = None) -> nn.Module:
    """
    The model of a published entry, with its weights (strictly loaded, checksum checked), in
    training mode as ``model_zoo.get`` returns it.

    Args:
        entry: the entry's directory, or its ``model_final_<hex>.pth`` (a path or a URL, whose
            ``config.yaml`` is beside it).
    """
    config, checkpoint = published_files(entry)
    cfg = load_config(config)
    if device is None and not torch.cuda.is_available():
        device = "cpu"
    return load_model(cfg, checkpoint, device=device)
