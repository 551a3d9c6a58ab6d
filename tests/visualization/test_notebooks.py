"""
The notebooks in notebooks/ run from top to bottom without error on the shapes data, as CI runs
them, in a checkout with no output/ folder (a fresh clone): the notebooks that need a trained
model then train the short run of ``atss.visualization.short_run_command`` first and say so.
Each notebook asserts what it shows, so a wrong picture fails here.
"""

import os
import shutil
from pathlib import Path
import pytest

pytestmark = [pytest.mark.detectron2, pytest.mark.slow]
pytest.importorskip("detectron2", reason="detectron2 not installed")
nbformat = pytest.importorskip("nbformat", reason="the [notebooks] extra is not installed")
nbclient = pytest.importorskip("nbclient", reason="the [notebooks] extra is not installed")

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
# Seconds a cell may run (the short run's cell trains for a minute or two).
CELL_TIMEOUT = 600


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory):
    """A checkout without output/: the notebooks, and what their short run runs."""
    root = tmp_path_factory.mktemp("clone")
    shutil.copytree(REPO / "notebooks", root / "notebooks")
    for name in ("train_net.py", "configs"):
        (root / name).symlink_to(REPO / name)
    previous = os.environ.pop("ATSS_NOTEBOOK_RUN_DIR", None)
    yield root
    if previous is not None:
        os.environ["ATSS_NOTEBOOK_RUN_DIR"] = previous


def execute(notebook_dir: Path, name: str):
    notebook = nbformat.read(notebook_dir / name, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        # "python3" is the interpreter running the tests: jupyter_client starts a kernelspec
        # whose command is "python" with sys.executable.
        kernel_name="python3",
        resources={"metadata": {"path": str(notebook_dir)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    return notebook


def outputs(notebook, kind: str) -> list:
    return [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if kind in output.get("data", {}) or (kind == "text" and output.get("name") == "stdout")
    ]


def test_the_four_notebooks_are_there():
    assert NOTEBOOKS == [
        "assignment.ipynb",
        "positives_vs_size.ipynb",
        "predictions.ipynb",
        "training_curves.ipynb",
    ]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_without_error_in_a_fresh_clone(name, fresh_clone):
    notebook = execute(fresh_clone / "notebooks", name)
    figures = outputs(notebook, "image/jpeg") + outputs(notebook, "image/png")
    assert figures, f"{name} drew no figure"
    if name in ("predictions.ipynb", "training_curves.ipynb"):
        text = "".join(output["text"] for output in outputs(notebook, "text"))
        assert "short training run" in text, text  # it says which model it shows
    assert not (fresh_clone / "output" / "atss_R_18_FPN_shapes").exists()
