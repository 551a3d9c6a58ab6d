"""
The hooks of evaluation during training, on their own: the options refused before training, the
best checkpoint across --resume, early stopping's count of evaluations without gain.
"""

import pytest

pytestmark = pytest.mark.detectron2
pytest.importorskip("detectron2", reason="detectron2 not installed")

from torch import nn  # noqa: E402

from detectron2.utils.events import EventStorage  # noqa: E402

from atss.checkpoint.resilient import ResilientCheckpointer  # noqa: E402
from atss.engine.best_checkpoint import BestCheckpoint  # noqa: E402
from atss.engine.defaults import ConfigError, load_config  # noqa: E402
from atss.engine.early_stopping import EarlyStop, EarlyStopping  # noqa: E402
from atss.engine.evaluation_hooks import check_evaluation_options  # noqa: E402
from tiny_run import ROOT  # noqa: E402

CUSTOM = str(ROOT / "configs/Custom/atss_R_18_FPN_cpu.py")
PAPER = str(ROOT / "configs/ATSS/atss_R_50_FPN_1x.py")


def custom_config(*overrides: str):
    return load_config(CUSTOM, ["dataset.classes=[box,cone]", *overrides])


def test_early_stopping_and_validation_loss_are_on_in_the_custom_configs_only():
    custom, paper = custom_config().train, load_config(PAPER).train
    assert custom.early_stop.enabled and custom.validation_loss
    assert not paper.early_stop.enabled and not paper.validation_loss
    assert custom.best_checkpoint.metric == paper.best_checkpoint.metric == "bbox/AP"
    check_evaluation_options(custom_config())
    check_evaluation_options(load_config(PAPER))


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.early_stop.metric=bbox/mAP", "use one of bbox/AP, bbox/AP50"),
        ("train.early_stop.metric=bbox/AP-dog", "bbox/AP-<class> (box, cone)"),
        ("train.best_checkpoint.metric=loss", "train.best_checkpoint.metric='loss' is not"),
        ("train.early_stop.patience=0", "at least 1 (e.g. train.early_stop.patience=3)"),
        ("train.early_stop.min_delta=-1", "train.early_stop.min_delta=-1"),
        ("train.eval_period=2000", "set train.eval_period to less than 1400"),
    ],
)
def test_options_that_cannot_work_name_the_key_and_the_fix(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_evaluation_options(custom_config(override))


def test_a_per_class_metric_and_the_validation_loss_are_metrics():
    check_evaluation_options(custom_config("train.early_stop.metric=bbox/AP-cone"))
    check_evaluation_options(custom_config("train.best_checkpoint.metric=validation/total_loss"))


def test_without_evaluation_nothing_is_checked():
    check_evaluation_options(custom_config("train.early_stop.patience=0"), evaluate=False)


class FakeTrainer:
    def __init__(self, storage, max_iter=100, start_iter=0):
        self.storage, self.max_iter, self.iter, self.start_iter = storage, max_iter, 0, start_iter


def evaluate(hook, storage, iteration: int, ap: float) -> None:
    """What EvalHook leaves before the hooks after it run, at ``iteration``."""
    storage.iter = hook.trainer.iter = iteration
    storage.put_scalars(**{"bbox/AP": ap}, smoothing_hint=False)
    hook.after_step()


def test_the_best_checkpoint_survives_resume_and_keeps_the_newest_checkpoint_tagged(tmp_path):
    checkpointer = ResilientCheckpointer(nn.Linear(2, 2), str(tmp_path))
    checkpointer.save("model_0000009")
    with EventStorage() as storage:
        hook = BestCheckpoint(10, checkpointer, "bbox/AP", "custom_test")
        hook.trainer = FakeTrainer(storage)
        evaluate(hook, storage, 9, 40.0)
        resumed = BestCheckpoint(10, checkpointer, "bbox/AP", "custom_test")
        resumed.trainer = FakeTrainer(storage, start_iter=10)
        resumed.before_train()
        (tmp_path / "model_best.pth").unlink()
        evaluate(resumed, storage, 19, 30.0)  # worse than the best before resuming
        assert not (tmp_path / "model_best.pth").exists()
        evaluate(resumed, storage, 29, 45.0)
        assert (tmp_path / "model_best.pth").exists()
        assert storage.latest()["best/bbox/AP"][0] == 45.0
    assert (resumed.best_metric, resumed.best_iter) == (45.0, 29)
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000009.pth"


def test_a_new_run_in_the_same_directory_starts_its_own_best(tmp_path):
    checkpointer = ResilientCheckpointer(nn.Linear(2, 2), str(tmp_path))
    with EventStorage() as storage:
        hook = BestCheckpoint(10, checkpointer, "bbox/AP", "custom_test")
        hook.trainer = FakeTrainer(storage)
        evaluate(hook, storage, 9, 40.0)
        again = BestCheckpoint(10, checkpointer, "bbox/AP", "custom_test")
        again.trainer = FakeTrainer(storage)  # from iteration 0
        again.before_train()
        evaluate(again, storage, 9, 30.0)
    assert again.best_metric == 30.0


def test_early_stopping_counts_evaluations_without_more_than_the_minimum_gain(tmp_path):
    checkpointer = ResilientCheckpointer(nn.Linear(2, 2), str(tmp_path))
    with EventStorage() as storage:
        hook = EarlyStopping(10, checkpointer, "bbox/AP", patience=2, min_delta=0.5)
        hook.trainer = FakeTrainer(storage)
        evaluate(hook, storage, 9, 40.0)
        evaluate(hook, storage, 19, 40.4)  # a gain of 0.4 does not count
        assert hook.evaluations_without_gain == 1
        evaluate(hook, storage, 29, 41.0)  # 1.0 over the best does
        assert hook.evaluations_without_gain == 0 and hook.best == 41.0
        evaluate(hook, storage, 39, 40.0)
        with pytest.raises(EarlyStop, match="bbox/AP has not improved by more than 0.5 on its"):
            evaluate(hook, storage, 49, 41.2)
    assert (tmp_path / "model_final.pth").exists()
