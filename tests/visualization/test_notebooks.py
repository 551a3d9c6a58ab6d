"""
The notebooks in notebooks/ run from top to bottom without error on the shapes data, as CI runs
them: each asserts what it shows, so a wrong picture fails here. The notebooks that need a
trained model use the shapes main job's; without it in output/, they use the short training run
that ``atss.visualization.short_run_command`` describes, made here once in a temporary directory.
"""

import os
from pathlib import Path
import pytest

pytestmark = [pytest.mark.detectron2, pytest.mark.slow]
pytest.importorskip("detectron2", reason="detectron2 not installed")
nbformat = pytest.importorskip("nbformat", reason="the [notebooks] extra is not installed")
nbclient = pytest.importorskip("nbclient", reason="the [notebooks] extra is not installed")

import tiny_run  # noqa: E402

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = sorted(p.name for p in NOTEBOOKS_DIR.glob("*.ipynb"))
# Seconds a cell may run.
CELL_TIMEOUT = 600


@pytest.fixture(scope="module", autouse=True)
def short_run_dir(tmp_path_factory):
    """The short training run the notebooks use without the main job's model; the kernels find
    it through the environment they inherit."""
    from atss.visualization import SHORT_RUN_OVERRIDES

    run_dir = tmp_path_factory.mktemp("notebook_short_run")
    proc = tiny_run.run_train_net(
        dict(os.environ, CUDA_VISIBLE_DEVICES=""),
        "--config-file",
        "configs/Shapes/atss_R_18_FPN_shapes.py",
        *SHORT_RUN_OVERRIDES,
        f"train.output_dir={run_dir}",
    )
    assert proc.returncode == 0, proc.stdout[-5000:]
    previous = os.environ.get("ATSS_NOTEBOOK_RUN_DIR")
    os.environ["ATSS_NOTEBOOK_RUN_DIR"] = str(run_dir)
    yield
    if previous is None:
        del os.environ["ATSS_NOTEBOOK_RUN_DIR"]
    else:
        os.environ["ATSS_NOTEBOOK_RUN_DIR"] = previous


def test_the_four_notebooks_are_there():
    assert NOTEBOOKS == [
        "assignment.ipynb",
        "positives_vs_size.ipynb",
        "predictions.ipynb",
        "training_curves.ipynb",
    ]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_without_error(name):
    notebook = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        # "python3" is the interpreter running the tests: jupyter_client starts a kernelspec
        # whose command is "python" with sys.executable.
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    figures = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if "image/jpeg" in output.get("data", {}) or "image/png" in output.get("data", {})
    ]
    assert figures, f"{name} drew no figure"
