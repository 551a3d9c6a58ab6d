"""
The user's data given by path makes one trip: a run of a Custom config loads its config once,
registers its datasets once and parses the training annotations once before its first iteration.
"""

import sys
import pytest

pytestmark = [pytest.mark.detectron2, pytest.mark.slow]  # one training iteration, in process
pytest.importorskip("detectron2", reason="detectron2 not installed")

from detectron2.engine import SimpleTrainer  # noqa: E402

from atss.data import user_datasets  # noqa: E402
from custom_data import write_custom_data  # noqa: E402
from tiny_run import ROOT  # noqa: E402

sys.path.insert(0, str(ROOT))
import train_net  # noqa: E402

SHRINK = [
    "train.max_iter=1",
    "dataloader.train.total_batch_size=2",
    "dataloader.train.num_workers=0",
    "dataloader.test.num_workers=0",
    "dataloader.train.mapper.augmentations.0.short_edge_length=96",
]


def counted(monkeypatch, module, name, calls):
    real = getattr(module, name)

    def count(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, count)


def test_a_custom_run_loads_its_config_once_and_parses_its_training_set_once(
    tmp_path, monkeypatch
):
    data = write_custom_data(tmp_path / "data")
    parses, configs, at_first_iteration = [], [], []
    counted(monkeypatch, user_datasets, "load_coco_instances", parses)
    counted(monkeypatch, train_net, "load_config", configs)
    run_step = SimpleTrainer.run_step

    def first_step(trainer):
        if not at_first_iteration:
            at_first_iteration.append(list(parses))
        return run_step(trainer)

    monkeypatch.setattr(SimpleTrainer, "run_step", first_step)
    argv = ["train_net.py", "--config-file", "configs/Custom/atss_R_18_FPN_cpu.py", "--no-eval"]
    argv += [f"dataset.train.annotations={data['coco_train']}", *SHRINK]
    argv += [f"dataset.test.annotations={data['coco_test']}", "train.init_checkpoint="]
    monkeypatch.setattr(sys, "argv", [*argv, f"train.output_dir={tmp_path / 'run'}"])
    monkeypatch.chdir(ROOT)
    train_net.invoke_main()
    assert len(configs) == 1
    (before_training,) = at_first_iteration
    assert [str(p) for p in before_training].count(str(data["coco_train"])) == 1
