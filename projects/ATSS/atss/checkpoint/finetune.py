"""
What a checkpoint may leave out when it starts a training run: fine-tuning a model for another
number of classes loads everything but the class predictor, whose shape follows the number of
classes; any other tensor of another shape, or a backbone trunk only partly covered, means the
checkpoint is of another architecture and is an error before the first iteration.
"""

import logging
from typing import List, Sequence, Tuple

from .errors import CheckpointError

__all__ = ["CLASS_PREDICTOR_KEYS", "check_fine_tuning_fit"]

logger = logging.getLogger(__name__)

# The class predictor of the ATSS and AutoAssign heads (atss/modeling/atss_head.py): its
# initialisation, kept when it is not loaded, is the focal-loss prior bias (paper Section 3.2).
CLASS_PREDICTOR_KEYS = ("head.cls_score.weight", "head.cls_score.bias")

# The trunk of the FPN backbone: a pretrained trunk covers it whole, or it is another trunk,
# except for the offset predictors of deformable layers, which start at zero
# (atss/layers/deform_conv.py) and which ImageNet weights never hold.
TRUNK_PREFIX = "backbone.bottom_up."
DEFORMABLE_OFFSETS = ".conv_offset."


def check_fine_tuning_fit(
    source: str,
    incorrect_shapes: Sequence[Tuple[str, tuple, tuple]],
    missing_keys: Sequence[str],
    loaded_keys: Sequence[str],
) -> List[str]:
    """
    Check that a checkpoint fits the model up to its class predictor.

    Args:
        source: the checkpoint, for messages.
        incorrect_shapes: (key, shape in the checkpoint, shape in the model) of each tensor
            skipped for its shape.
        missing_keys: the model's kernel keys (weights of two dimensions or more) that the
            checkpoint does not have.
        loaded_keys: the model's kernel keys that the checkpoint provided.

    Returns:
        The skipped class-predictor keys, each logged with its two shapes.

    Raises CheckpointError naming the tensors when another tensor has another shape, or when the
    checkpoint provides part of the backbone trunk but not all of it (a trunk of another depth).
    """
    other = [(k, a, b) for k, a, b in incorrect_shapes if k not in CLASS_PREDICTOR_KEYS]
    if other:
        listed = ", ".join(
            f"{k} ({tuple(a)} in the checkpoint, {tuple(b)} here)" for k, a, b in other[:5]
        )
        raise CheckpointError(
            f"Checkpoint {source} does not fit the config's model: {len(other)} tensors besides "
            f"the class predictor have other shapes: {listed}. Is it of another backbone?"
        )
    trunk_missing = [
        k for k in missing_keys if k.startswith(TRUNK_PREFIX) and DEFORMABLE_OFFSETS not in k
    ]
    if trunk_missing and any(k.startswith(TRUNK_PREFIX) for k in loaded_keys):
        raise CheckpointError(
            f"Checkpoint {source} does not fit the config's model: it lacks "
            f"{len(trunk_missing)} tensors of the backbone's trunk ({', '.join(trunk_missing[:3])}"
            ", ...). Is it of a backbone of another depth?"
        )
    skipped = []
    for key, in_checkpoint, in_model in incorrect_shapes:
        logger.warning(
            f"Fine-tuning: {key} is not loaded from {source}: it has shape {tuple(in_checkpoint)} "
            f"there and {tuple(in_model)} in this model (another number of classes); it keeps "
            "its initialisation with the prior bias."
        )
        skipped.append(key)
    return skipped
