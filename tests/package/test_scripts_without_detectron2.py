"""
Without detectron2, every script of the repository that needs it (train_net.py, the demo, the
tools, the benchmarks) stops with one line naming the set-up command and exit status 2; the
others still run. All scripts are run with ``--help`` in one interpreter where importing
detectron2 fails, as on a machine without it.
"""

import json
import subprocess
import sys
import textwrap
from pathlib import Path
import pytest

pytestmark = pytest.mark.slow  # one interpreter runs every script: about half a minute

ROOT = Path(__file__).resolve().parents[2]

# The files run as programs: those with a __main__ block, outside the package and the tests.
SCRIPTS = sorted(
    str(path.relative_to(ROOT))
    for folder in ("demo", "tools", "benchmarks")
    for path in (ROOT / folder).rglob("*.py")
    if 'if __name__ == "__main__":' in path.read_text()
) + ["train_net.py"]

RUN_ALL = textwrap.dedent(
    """
    import io, json, os, runpy, sys, traceback

    class HideDetectron2:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "detectron2":
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, HideDetectron2())
    results = {}
    for script in json.loads(sys.argv[1]):
        sys.modules.pop("atss.require_detectron2", None)
        sys.argv = [script, "--help"]
        sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
        stderr, sys.stderr = sys.stderr, io.StringIO()
        try:
            runpy.run_path(script, run_name="__main__")
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:
            code = "traceback: " + traceback.format_exc()
        results[script] = [code, sys.stderr.getvalue()]
        sys.stderr = stderr
        sys.path.pop(0)
    print(json.dumps(results))
    """
)


@pytest.fixture(scope="module")
def outcomes():
    proc = subprocess.run(
        [sys.executable, "-c", RUN_ALL, json.dumps(SCRIPTS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_scripts_are_found():
    assert {"train_net.py", "demo/demo.py", "tools/deploy/export_model.py"} <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_without_detectron2_names_the_set_up_command_or_runs(script, outcomes):
    code, stderr = outcomes[script]
    if code == 0:  # a script that does not need detectron2 prints its help
        return
    assert code == 2, f"{script} exited with {code}: {stderr}"
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"{Path(script).name}: error: detectron2 is not installed")
    assert "`bash tools/install.sh`" in lines[0]
