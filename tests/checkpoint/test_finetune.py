"""
What a checkpoint may leave out when it starts a run (atss.checkpoint.finetune): the class
predictor alone, for another number of classes; anything else is another architecture.
"""

import logging
import pytest

from atss.checkpoint.errors import CheckpointError
from atss.checkpoint.finetune import CLASS_PREDICTOR_KEYS, check_fine_tuning_fit

TRUNK = ["backbone.bottom_up.stem.conv1.weight", "backbone.bottom_up.res2.0.conv1.weight"]
PREDICTOR = [(k, (80, 256, 3, 3), (3, 256, 3, 3)) for k in CLASS_PREDICTOR_KEYS]


def test_a_checkpoint_with_another_class_count_skips_the_class_predictor(caplog):
    with caplog.at_level(logging.WARNING):
        skipped = check_fine_tuning_fit("coco.pth", PREDICTOR, [], TRUNK)
    assert skipped == list(CLASS_PREDICTOR_KEYS)
    assert "head.cls_score.weight is not loaded from coco.pth" in caplog.text
    assert "(80, 256, 3, 3) there and (3, 256, 3, 3) in this model" in caplog.text


def test_a_checkpoint_that_fits_skips_nothing():
    assert check_fine_tuning_fit("run.pth", [], [], TRUNK) == []


def test_another_tensor_of_another_shape_is_another_architecture():
    wrong = [(TRUNK[0], (32, 3, 7, 7), (64, 3, 7, 7))]
    with pytest.raises(CheckpointError, match=r"does not fit.*stem\.conv1\.weight"):
        check_fine_tuning_fit("r18.pth", wrong + PREDICTOR, [], TRUNK[1:])


def test_a_trunk_covered_in_part_is_a_trunk_of_another_depth():
    with pytest.raises(CheckpointError, match="lacks 1 tensors of the backbone's trunk"):
        check_fine_tuning_fit("r50.pth", [], TRUNK[1:], TRUNK[:1])


def test_a_trunk_not_covered_at_all_is_a_start_from_scratch():
    assert check_fine_tuning_fit("head_only.pth", [], TRUNK, ["head.cls_score.weight"]) == []


def test_deformable_offsets_missing_from_an_imagenet_trunk_are_expected():
    offsets = ["backbone.bottom_up.res3.0.conv2.conv_offset.weight"]
    assert check_fine_tuning_fit("R-50.pkl", [], offsets, TRUNK) == []
