"""
The number type and memory format a model trains and infers in, chosen from the config's
``train.amp`` and from what the device can do, with the reason logged.

``train.amp.enabled`` takes three values:

* ``"auto"`` (the project's configs): on a CPU, bfloat16 autocast where the CPU has native
  bfloat16 units of a kind listed in ``train.amp.faster_on`` (the units on which the config's model
  was measured to run faster, ``benchmarks/cpu_precision.py``), float32 elsewhere: where
  bfloat16 is only emulated it is slower. On CUDA, float32 (detectron2's default).
* ``True``: mixed precision whatever the device can do: detectron2's float16 AMP on CUDA (bfloat16
  with ``train.amp.dtype="bfloat16"``), bfloat16 autocast on a CPU, without a gradient scaler
  (bfloat16 has float32's exponent range). float16 on a CPU is refused.
* ``False``: float32.

``train.amp.channels_last=True`` stores the model's 4-D weights, and so its convolutions'
outputs, in ``channels_last`` (NHWC) under bfloat16 autocast on a CPU, where oneDNN's bfloat16
convolutions were measured faster for some models and slower for others (docs/benchmarks.md).

On a CPU the autocast is attached to the model (:func:`apply_precision`): training, evaluation,
PreciseBN, the test-time augmentation, the demo and the visualizations all run the model the same
way, and detectron2's ``SimpleTrainer`` stays the one training loop (backward runs outside the
autocast, as PyTorch's AMP recipe asks). On CUDA, detectron2's ``AMPTrainer`` does it
(:func:`atss.engine.trainer.build_trainer`).
"""

import logging
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence, Tuple, Union
import torch
from omegaconf import OmegaConf
from torch import nn

from .errors import ConfigError

__all__ = [
    "CPU_BFLOAT16_UNITS",
    "Precision",
    "apply_precision",
    "choose_precision",
    "cpu_bfloat16_units",
    "precision_of_config",
]

logger = logging.getLogger(__name__)

# The CPU's native bfloat16 units, by their name in torch.cpu.get_capabilities(): Intel's AMX
# tiles (Sapphire Rapids and later), AVX-512 BF16's dot products (Intel Cooper Lake, AMD Zen 4 and
# later), Arm's BF16 extension. oneDNN runs bfloat16 convolutions and matrix products on them;
# without them it converts to float32 and back, slower than float32 alone.
CPU_BFLOAT16_UNITS: Tuple[str, ...] = ("amx_bf16", "avx512_bf16", "bf16")

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def cpu_bfloat16_units() -> Tuple[str, ...]:
    """The CPU's native bfloat16 units (names of :data:`CPU_BFLOAT16_UNITS`); empty if none."""
    capabilities = torch.cpu.get_capabilities()
    return tuple(unit for unit in CPU_BFLOAT16_UNITS if capabilities.get(unit, False))


@dataclass(frozen=True)
class Precision:
    """
    How a model runs: ``dtype`` is float32 (no autocast) or the autocast type, ``channels_last``
    the memory format of its weights, ``reason`` why, for the log.
    """

    device_type: str  # "cpu" or "cuda"
    dtype: torch.dtype
    channels_last: bool
    reason: str

    @property
    def mixed(self) -> bool:
        return self.dtype != torch.float32

    def describe(self) -> str:
        kind = f"{str(self.dtype)[6:]} autocast" if self.mixed else "float32"
        layout = "contiguous (NCHW)"
        if self.channels_last:
            layout = "channels_last (train.amp.channels_last)"
        return f"{self.device_type}: {kind}, {layout} weights: {self.reason}"


def choose_precision(
    amp: Mapping[str, Any], device: str, cpu_has: Optional[Sequence[str]] = None
) -> Precision:
    """
    The precision that ``amp`` (the keys of ``train.amp``: ``enabled``, ``dtype``, ``faster_on``,
    ``channels_last``) gives on ``device``; ``cpu_has`` are the CPU's native bfloat16 units
    (default: this CPU's, :func:`cpu_bfloat16_units`).

    Raises:
        ConfigError: a value of ``train.amp`` that is not one of its choices, or float16 on a CPU.
    """
    device_type = torch.device(device).type
    enabled = amp.get("enabled", False)
    if enabled not in (True, False, "auto"):
        raise ConfigError(f"train.amp.enabled must be True, False or 'auto'; got {enabled!r}.")
    dtype_name = amp.get("dtype") or ("float16" if device_type == "cuda" else "bfloat16")
    if dtype_name not in ("bfloat16", "float16"):
        raise ConfigError(
            f"train.amp.dtype must be 'bfloat16', 'float16' or None; got {dtype_name!r}."
        )
    if device_type == "cpu" and dtype_name == "float16" and enabled is not False:
        raise ConfigError(
            "train.amp.dtype='float16' on a CPU: PyTorch's CPU autocast in float16 has no fast "
            "kernels and no gradient scaler here; use train.amp.dtype='bfloat16' (or None)."
        )
    channels_last = bool(amp.get("channels_last", False)) and device_type == "cpu"

    def mixed(reason: str) -> Precision:
        return Precision(device_type, _DTYPES[dtype_name], channels_last, reason)

    def float32(reason: str) -> Precision:
        return Precision(device_type, torch.float32, False, reason)

    if enabled is False:
        return float32("train.amp.enabled=False")
    if enabled is True:
        if device_type != "cpu":
            return mixed("train.amp.enabled=True")
        units = cpu_bfloat16_units() if cpu_has is None else tuple(cpu_has)
        if not units:
            logger.warning(
                "train.amp.enabled=True on a CPU without native bfloat16 units: bfloat16 is "
                "emulated and slower than float32 here."
            )
        return mixed(f"train.amp.enabled=True (CPU bfloat16 units: {', '.join(units) or 'none'})")
    if device_type != "cpu":
        return float32("train.amp.enabled='auto' keeps float32 on CUDA (detectron2's default)")
    units = cpu_bfloat16_units() if cpu_has is None else tuple(cpu_has)
    wanted = tuple(amp.get("faster_on", ()))
    useful = [unit for unit in units if unit in wanted]
    if useful:
        return mixed(
            f"the CPU has native bfloat16 units ({', '.join(useful)}), on which this model runs "
            "faster in bfloat16 (train.amp.enabled='auto'; train.amp.enabled=False forces float32)"
        )
    if not units:
        return float32(
            "the CPU has no native bfloat16 units: bfloat16 would be emulated, slower than "
            "float32 (train.amp.enabled=True forces it)"
        )
    return float32(
        f"the CPU's bfloat16 units ({', '.join(units)}) are not among those on which this model "
        f"runs faster in bfloat16, train.amp.faster_on={list(wanted)} "
        "(train.amp.enabled=True forces it)"
    )


def precision_of_config(
    cfg, device: Optional[str] = None, enabled: Optional[Union[bool, str]] = None
) -> Precision:
    """:func:`choose_precision` for the config's ``train.amp`` on ``device`` (default
    ``train.device``), with ``enabled`` in place of ``train.amp.enabled`` if given."""
    amp = OmegaConf.to_container(cfg.train.amp, resolve=True) if "amp" in cfg.train else {}
    if enabled is not None:
        amp["enabled"] = enabled
    return choose_precision(amp, device or OmegaConf.select(cfg, "train.device", default="cuda"))


class _Autocast:
    """Forward hooks that run a module's forward under ``torch.autocast`` (nested calls too)."""

    def __init__(self, precision: Precision):
        self.precision = precision
        self.active = []

    def enter(self, module: nn.Module, args) -> None:
        context = torch.autocast(self.precision.device_type, dtype=self.precision.dtype)
        context.__enter__()
        self.active.append(context)

    def exit(self, module: nn.Module, args, output) -> None:
        self.active.pop().__exit__(None, None, None)


def _input_in_float32(module: nn.Module, args: Tuple[torch.Tensor]) -> Tuple[torch.Tensor]:
    return (args[0].float(),)


def apply_precision(model: nn.Module, precision: Precision) -> nn.Module:
    """
    ``model`` (in place, returned) set to run as ``precision`` says: its 4-D weights in
    ``channels_last`` if asked (with its GroupNorms in float32), its forward under bfloat16
    autocast if mixed on a CPU. The outputs the detectors return (losses, boxes and scores) are
    float32 whatever the autocast type. On CUDA, detectron2's AMPTrainer runs the autocast of
    training.
    """
    if precision.channels_last:
        model.to(memory_format=torch.channels_last)
        # PyTorch's CPU GroupNorm has no fast kernel for bfloat16 channels_last tensors; its
        # float32 one is several times faster on the head's feature maps (docs/benchmarks.md).
        # Autocast leaves GroupNorm in its input's type, and casts the next convolution's
        # input back to bfloat16.
        for module in model.modules():
            if isinstance(module, nn.GroupNorm):
                module.register_forward_pre_hook(_input_in_float32)
    if precision.mixed and precision.device_type == "cpu":
        hooks = _Autocast(precision)
        model.register_forward_pre_hook(hooks.enter)
        model.register_forward_hook(hooks.exit, always_call=True)
    logger.info("Precision: %s", precision.describe())
    return model
