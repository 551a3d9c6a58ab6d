"""
The precision a model trains and infers in (``atss.config.precision``): bfloat16 autocast on a CPU
with native bfloat16 units the config lists (``train.amp.enabled="auto"``), float32 where the units
are missing (the capability check made to answer no), either forced by ``train.amp.enabled``,
float16 on a CPU refused, detectron2's AMP on CUDA; the autocast attached to the model covers its
forward only and returns float32 detections.
"""

import logging
import pytest

pytestmark = pytest.mark.detectron2
pytest.importorskip("detectron2", reason="detectron2 not installed")

import torch  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from torch import nn  # noqa: E402

from detectron2.engine import AMPTrainer, SimpleTrainer  # noqa: E402

from atss.config import ConfigError  # noqa: E402
from atss.config.precision import (  # noqa: E402
    Precision,
    apply_precision,
    choose_precision,
    cpu_bfloat16_units,
    precision_of_config,
)
from atss.config import precision as precision_module  # noqa: E402
from atss.engine.trainer import build_trainer  # noqa: E402

AUTO = {"enabled": "auto", "faster_on": ["amx_bf16", "avx512_bf16"]}


def test_auto_trains_in_bfloat16_on_a_cpu_with_listed_native_units():
    chosen = choose_precision(AUTO, "cpu", cpu_has=("avx512_bf16",))
    assert chosen.dtype == torch.bfloat16
    assert "native bfloat16 units (avx512_bf16)" in chosen.describe()


def test_auto_stays_in_float32_on_a_cpu_without_bfloat16_units_and_says_why(monkeypatch):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx2": True})
    assert cpu_bfloat16_units() == ()
    chosen = choose_precision(AUTO, "cpu")
    assert chosen.dtype == torch.float32
    assert "the CPU has no native bfloat16 units" in chosen.describe()
    assert "train.amp.enabled=True forces it" in chosen.describe()


def test_auto_stays_in_float32_on_units_the_config_was_not_measured_faster_on():
    chosen = choose_precision(dict(AUTO, faster_on=["amx_bf16"]), "cpu", cpu_has=("avx512_bf16",))
    assert chosen.dtype == torch.float32
    assert "are not among those on which this model runs faster" in chosen.reason


def test_enabled_true_forces_bfloat16_where_it_is_emulated_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger=precision_module.__name__):
        chosen = choose_precision(dict(AUTO, enabled=True), "cpu", cpu_has=())
    assert chosen.dtype == torch.bfloat16
    assert "bfloat16 is emulated and slower than float32" in caplog.text


def test_enabled_false_forces_float32_on_a_cpu_with_bfloat16_units():
    chosen = choose_precision(dict(AUTO, enabled=False), "cpu", cpu_has=("amx_bf16",))
    assert chosen.dtype == torch.float32


def test_channels_last_goes_with_bfloat16_on_a_cpu_only():
    amp, amx = dict(AUTO, channels_last=True), ("amx_bf16",)
    assert choose_precision(amp, "cpu", cpu_has=amx).channels_last
    assert not choose_precision(dict(amp, enabled=False), "cpu", cpu_has=amx).channels_last
    assert not choose_precision(dict(amp, enabled=True), "cuda").channels_last
    assert not choose_precision(dict(amp, channels_last=False), "cpu", cpu_has=amx).channels_last


def test_precision_of_config_takes_enabled_in_place_of_the_configs():
    amp = {"enabled": False, "channels_last": True}
    cfg = OmegaConf.create({"train": {"device": "cpu", "amp": amp}})
    assert precision_of_config(cfg).dtype == torch.float32
    forced = precision_of_config(cfg, enabled=True)
    assert forced.dtype == torch.bfloat16 and forced.channels_last
    assert cfg.train.amp.enabled is False  # the config itself is left as it was


@pytest.mark.parametrize("enabled", [True, "auto"])
def test_float16_on_a_cpu_is_refused(enabled):
    with pytest.raises(ConfigError, match="train.amp.dtype='float16' on a CPU"):
        choose_precision(dict(AUTO, enabled=enabled, dtype="float16"), "cpu", cpu_has=())


@pytest.mark.parametrize(
    "amp, message",
    [({"enabled": "yes"}, "train.amp.enabled must be"), ({"dtype": "half"}, "train.amp.dtype")],
)
def test_a_value_of_train_amp_that_is_not_a_choice_is_refused(amp, message):
    with pytest.raises(ConfigError, match=message):
        choose_precision(dict(AUTO, **amp), "cpu", cpu_has=())


def test_cuda_keeps_detectron2s_float16_amp_and_bfloat16_where_asked():
    assert choose_precision({"enabled": True}, "cuda").dtype == torch.float16
    assert choose_precision({"enabled": True, "dtype": "bfloat16"}, "cuda").dtype == torch.bfloat16
    assert choose_precision(AUTO, "cuda").dtype == torch.float32


def test_trainer_is_amp_trainer_for_cuda_mixed_precision_and_simple_trainer_otherwise():
    model = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    cuda = Precision("cuda", torch.bfloat16, False, "test")
    cpu = Precision("cpu", torch.bfloat16, False, "test")
    trainer = build_trainer(model, [], optimizer, cuda)
    assert isinstance(trainer, AMPTrainer) and trainer.precision == torch.bfloat16
    assert type(build_trainer(model, [], optimizer, cpu)) is SimpleTrainer


class _Probe(nn.Module):
    """A conv whose forward records whether autocast is on, and fails when asked."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.autocast_seen = None

    def forward(self, x, fail=False):
        self.autocast_seen = torch.is_autocast_enabled("cpu")
        if fail:
            raise RuntimeError("failed forward")
        return self.conv(x)


def test_bfloat16_precision_runs_the_forward_in_bfloat16_and_nothing_after_it():
    model = apply_precision(_Probe(), Precision("cpu", torch.bfloat16, True, "test"))
    x = torch.rand(1, 3, 8, 8, requires_grad=True)
    out = model(x)
    assert model.autocast_seen and out.dtype == torch.bfloat16
    assert not torch.is_autocast_enabled("cpu")  # backward and the optimizer step run outside
    assert model.conv.weight.is_contiguous(memory_format=torch.channels_last)
    out.float().sum().backward()
    assert model.conv.weight.grad.dtype == torch.float32


@pytest.mark.parametrize("channels_last", [True, False])
def test_group_norm_runs_in_float32_on_channels_last_bfloat16_only(channels_last):
    tower = nn.Sequential(nn.Conv2d(3, 8, 3), nn.GroupNorm(4, 8), nn.ReLU(), nn.Conv2d(8, 4, 3))
    seen = []
    tower[1].register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    model = apply_precision(tower, Precision("cpu", torch.bfloat16, channels_last, "test"))
    x = torch.rand(2, 3, 12, 12)
    out = model(x)
    assert seen == [torch.float32 if channels_last else torch.bfloat16]
    assert out.dtype == torch.bfloat16  # the convolution after it runs in bfloat16 again
    out.float().sum().backward()
    assert tower[1].weight.grad.dtype == torch.float32


def test_autocast_ends_with_a_forward_that_raises():
    model = apply_precision(_Probe(), Precision("cpu", torch.bfloat16, False, "test"))
    with pytest.raises(RuntimeError, match="failed forward"):
        model(torch.rand(1, 3, 8, 8), fail=True)
    assert not torch.is_autocast_enabled("cpu")


def test_float32_precision_leaves_the_model_as_it_is():
    model = apply_precision(_Probe(), Precision("cpu", torch.float32, False, "test"))
    assert model(torch.rand(1, 3, 8, 8)).dtype == torch.float32 and not model.autocast_seen
    assert model.conv.weight.is_contiguous()
