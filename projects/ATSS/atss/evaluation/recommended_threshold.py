"""
The recommended score threshold travels with a model in ``score_threshold.json``, beside the
run's (or published entry's) ``config.yaml``: training writes it with each new best checkpoint,
``tools/publish_model.py`` copies it into the entry, and the demo and the exporter use it when
the user gives no threshold (:func:`resolve_score_threshold`).
"""

import json
import os
from dataclasses import asdict, dataclass
from typing import Optional, Tuple

from ..checkpoint.atomic import write_atomically

__all__ = [
    "DEFAULT_SCORE_THRESHOLD",
    "THRESHOLD_FILE",
    "RecommendedThreshold",
    "read_recommended_threshold",
    "resolve_score_threshold",
    "write_deployment_threshold",
    "write_recommended_threshold",
]

THRESHOLD_FILE = "score_threshold.json"
# detectron2's demo default, for a model whose run recommended none.
DEFAULT_SCORE_THRESHOLD = 0.5


@dataclass(frozen=True)
class RecommendedThreshold:
    """The F1-maximising score threshold of an evaluation of ``checkpoint`` on ``dataset``;
    a threshold the user gave the exporter has no evaluation (None)."""

    score_threshold: float
    f1: Optional[float]
    precision: Optional[float]
    recall: Optional[float]
    iou: Optional[float]
    dataset: str
    iteration: Optional[int]
    checkpoint: str

    def describe(self) -> str:
        if self.f1 is None:
            return "given by the user when the model was exported"
        at = "" if self.iteration is None else f" at iteration {self.iteration}"
        return (
            f"the F1-maximising threshold of {self.checkpoint} on {self.dataset}{at} "
            f"(F1 {self.f1:.3f}, precision {self.precision:.3f}, recall {self.recall:.3f})"
        )


def write_recommended_threshold(directory: str, threshold: RecommendedThreshold) -> str:
    path = os.path.join(directory, THRESHOLD_FILE)
    text = json.dumps(asdict(threshold), indent=2).encode()
    write_atomically(path, lambda f: f.write(text))
    return path


def write_deployment_threshold(directory: str, score_threshold: float, config_file: str) -> str:
    """``score_threshold.json`` beside an exported model: the config's recommended threshold,
    or ``score_threshold`` given by the user, without an evaluation."""
    saved = read_recommended_threshold(config_file)
    if saved is None or saved.score_threshold != score_threshold:
        saved = RecommendedThreshold(score_threshold, None, None, None, None, "", None, "")
    return write_recommended_threshold(directory, saved)


def read_recommended_threshold(config_file: str) -> Optional[RecommendedThreshold]:
    """The threshold saved beside ``config_file`` (a run's or an entry's), or None."""
    path = os.path.join(os.path.dirname(os.path.abspath(config_file)), THRESHOLD_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        try:
            return RecommendedThreshold(**json.load(f))
        except (json.JSONDecodeError, TypeError) as e:
            raise ValueError(f"{path} is not a recommended threshold: {e}") from None


def resolve_score_threshold(given: Optional[float], config_file: str) -> Tuple[float, str]:
    """The score threshold to draw or export at, and where it came from: ``given`` (the user's),
    else the one saved beside ``config_file``, else :data:`DEFAULT_SCORE_THRESHOLD`."""
    if given is not None:
        return given, "given on the command line"
    saved = read_recommended_threshold(config_file)
    if saved is not None:
        path = os.path.join(os.path.dirname(config_file) or ".", THRESHOLD_FILE)
        return saved.score_threshold, f"{path}: {saved.describe()}"
    return DEFAULT_SCORE_THRESHOLD, f"the default: {config_file} has no {THRESHOLD_FILE} beside it"
