"""
A YAML config is turned, as it is loaded, into the LazyConfig that does what detectron2's
DefaultTrainer does with it: the same model, optimizer, LR schedule and augmentations as
detectron2's YAML builders make from the same keys; keys the door does not translate, and renamed
keys, are refused naming them.
"""

import pytest
import torch

pytestmark = pytest.mark.detectron2
pytest.importorskip("detectron2", reason="detectron2 not installed")

from omegaconf import DictConfig  # noqa: E402

from detectron2.config import get_cfg, instantiate  # noqa: E402
from detectron2.data.detection_utils import build_augmentation  # noqa: E402
from detectron2.modeling import build_model as build_yaml_model  # noqa: E402
from detectron2.solver import build_lr_scheduler, build_optimizer  # noqa: E402

from atss.config import ConfigError, add_atss_config, build_model, load_config  # noqa: E402
from tiny_run import ROOT  # noqa: E402

YAML = str(ROOT / "configs/ATSS/atss_R_50_FPN_1x.yaml")
SMALL = ["MODEL.DEVICE", "cpu", "MODEL.RESNETS.DEPTH", "18", "MODEL.RESNETS.RES2_OUT_CHANNELS",
         "64", "MODEL.ATSS.NUM_CONVS", "1", "SOLVER.MAX_ITER", "1000", "SOLVER.STEPS",
         "(600, 800)", "SOLVER.WARMUP_ITERS", "100"]  # fmt: skip


def yaml_cfg(*opts):
    cfg = get_cfg()
    add_atss_config(cfg)
    cfg.merge_from_file(YAML)
    cfg.merge_from_list([*SMALL, *opts])
    return cfg


def test_a_yaml_config_loads_as_a_lazy_config():
    cfg = load_config(YAML, SMALL)
    assert isinstance(cfg, DictConfig)
    assert cfg.train.init_checkpoint == "detectron2://ImageNetPretrained/MSRA/R-50.pkl"
    assert cfg.train.output_dir == "./output/atss_R_50_FPN_1x_yaml"
    assert cfg.model.num_classes == 80


def test_the_model_is_detectron2s_model_of_the_yaml_keys():
    torch.manual_seed(0)
    lazy = build_model(load_config(YAML, SMALL))
    torch.manual_seed(0)
    yaml = build_yaml_model(yaml_cfg())
    assert lazy.state_dict().keys() == yaml.state_dict().keys()
    for key, value in yaml.state_dict().items():
        assert torch.equal(lazy.state_dict()[key], value), key


def test_the_optimizer_and_schedule_are_detectron2s_of_the_yaml_keys():
    cfg = load_config(YAML, SMALL)
    model = build_model(cfg)
    cfg.optimizer.params.model = model
    lazy = instantiate(cfg.optimizer)
    yaml = build_optimizer(yaml_cfg(), model)
    assert len(lazy.param_groups) == len(yaml.param_groups)
    for a, b in zip(lazy.param_groups, yaml.param_groups):
        assert {k: v for k, v in a.items() if k != "params"} == {
            k: v for k, v in b.items() if k != "params"
        }
    multiplier = instantiate(cfg.lr_multiplier)
    scheduler = build_lr_scheduler(yaml_cfg(), yaml)
    for it in [0, 50, 99, 100, 599, 600, 799, 800, 999]:
        assert multiplier(it / 1000) == pytest.approx(scheduler._multiplier(it / 1000)), it


def test_the_loaders_augment_as_detectron2s_yaml_mapper():
    cfg = load_config(YAML, [*SMALL, "INPUT.MIN_SIZE_TRAIN", "(640, 800)"])
    lazy = [instantiate(a) for a in cfg.dataloader.train.mapper.augmentations]
    yaml = build_augmentation(yaml_cfg("INPUT.MIN_SIZE_TRAIN", "(640, 800)"), is_train=True)
    # A LazyConfig holds lists where detectron2's YAML keys hold tuples.
    assert [repr(a).replace("[", "(").replace("]", ")") for a in lazy] == [repr(a) for a in yaml]
    test = cfg.dataloader.test.mapper.augmentations[0]
    assert (test.short_edge_length, test.max_size) == (800, 1333)


def test_a_renamed_key_names_its_new_name(tmp_path):
    config = tmp_path / "old.yaml"
    config.write_text(f'_BASE_: "{YAML}"\nMODEL:\n  ATSS:\n    ASSIGNER: "fcos"\n')
    with pytest.raises(ConfigError, match="MODEL.ATSS.ASSIGNER was renamed to MODEL.ATSS.ASSIGN"):
        load_config(str(config))


def test_a_key_the_door_does_not_translate_is_refused_naming_it():
    with pytest.raises(ConfigError, match="INPUT.CROP.ENABLED True: .* LazyConfig"):
        load_config(YAML, ["INPUT.CROP.ENABLED", "True"])
