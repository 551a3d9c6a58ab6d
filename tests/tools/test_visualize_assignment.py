"""
tools/visualize_assignment.py writes the pictures of notebooks/assignment.ipynb for one dataset
image, and names the problem when the image, the dataset or a rule does not exist.
"""

import importlib.util
from pathlib import Path
import pytest

pytestmark = pytest.mark.detectron2
pytest.importorskip("detectron2", reason="detectron2 not installed")
pytest.importorskip("matplotlib", reason="the [notebooks] extra is not installed")

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "configs/Shapes/atss_R_18_FPN_shapes.py")
# An image of shapes_val with three objects of 9 to 104 px.
IMAGE_ID = "36"


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location(
        "visualize_assignment", ROOT / "tools/visualize_assignment.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(tool, output, image_id=IMAGE_ID, dataset="shapes_val", extra=()):
    args = ["--config-file", CONFIG, "--dataset", dataset, "--image-id", image_id]
    tool.main([*args, "--output", str(output), *extra])


def test_writes_the_rules_comparison_and_each_objects_candidates_and_histogram(tool, tmp_path):
    run(tool, tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    expected = [f"shapes_val_{IMAGE_ID}_positives.png"] + [
        f"shapes_val_{IMAGE_ID}_object{i}_{kind}.png"
        for i in range(3)
        for kind in ("candidates", "iou_histogram")
    ]
    assert names == sorted(expected)
    for path in tmp_path.iterdir():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_image_id_names_the_dataset_and_the_id(tool, tmp_path):
    with pytest.raises(ValueError, match="'shapes_val' has no image with image_id 99999"):
        run(tool, tmp_path, image_id="99999")


def test_unknown_dataset_is_named(tool, tmp_path):
    with pytest.raises(ValueError, match="Dataset 'no_such_set' is not registered"):
        run(tool, tmp_path, dataset="no_such_set")


def test_unknown_rule_lists_the_registered_ones(tool, tmp_path):
    with pytest.raises(SystemExit, match="Unknown rules \\['no_such_rule'\\]; registered: .*atss"):
        run(tool, tmp_path, extra=["--rules", "atss", "no_such_rule"])
