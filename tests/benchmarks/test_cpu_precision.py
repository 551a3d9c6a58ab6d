"""
``benchmarks/cpu_precision.py``: it prints the CPU's bfloat16 units first, then one table row per
model and step with float32, bfloat16 and each with channels_last, and the speed-ups over float32.
"""
import re
import subprocess
import sys
from pathlib import Path
import pytest

pytestmark = [pytest.mark.detectron2, pytest.mark.slow]
pytest.importorskip("detectron2", reason="detectron2 not installed")

import torch  # noqa: E402

from atss.config.precision import cpu_bfloat16_units  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def test_prints_the_cpu_units_then_a_row_of_the_four_variants():
    proc = subprocess.run(
        [sys.executable, "benchmarks/cpu_precision.py", "--models", "quick", "--steps"]
        + ["inference", "--repeats", "1", "--threads", "1", "--no-compile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    units = ", ".join(cpu_bfloat16_units()) or "none (bfloat16 is emulated)"
    assert lines[0].startswith(f"CPU: {torch.cpu.get_capabilities().get('cpu_name', '?')}")
    assert f"native bfloat16 units: {units};" in lines[0]
    assert lines[1] == "| model | step | fp32 | fp32+cl | bf16 | bf16+cl |"
    (row,) = [line for line in lines if line.startswith("| quick |")]
    assert re.fullmatch(
        r"\| quick \| inference, 1x128x128 \| \d+ (\| \d+ \(x\d+\.\d\d\) ){3}\|", row
    ), row
