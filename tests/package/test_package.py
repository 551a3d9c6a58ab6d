"""`import atss` without detectron2: the pure-torch modules work, the detectron2 parts name it."""
import subprocess
import sys
import textwrap
import pytest

# Each test starts an interpreter that imports torch (about 5 s on 2 cores).
pytestmark = pytest.mark.slow

# Runs in a fresh interpreter in which importing detectron2 fails, as if it were not installed.
HIDE_DETECTRON2 = textwrap.dedent(
    """
    import sys

    class HideDetectron2:
        def find_spec(self, name, path=None, target=None):
            if name == "detectron2" or name.startswith("detectron2."):
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None

    sys.meta_path.insert(0, HideDetectron2())
    """
)


def run_without_detectron2(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", HIDE_DETECTRON2 + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_import_atss_without_detectron2_succeeds():
    result = run_without_detectron2("import atss\nprint(atss.__version__)")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", ["ATSS", "ATSSHead", "ATSSAnchorGenerator", "add_atss_config"])
def test_detectron2_names_without_detectron2_raise_importerror_with_the_install_guide(name):
    result = run_without_detectron2(f"from atss import {name}")
    assert result.returncode != 0
    assert f"ImportError: atss.{name} requires detectron2" in result.stderr
    assert "`bash tools/install.sh`" in result.stderr
    assert "https://detectron2.readthedocs.io/en/latest/tutorials/install.html" in result.stderr


def test_unknown_attribute_is_an_attributeerror():
    result = run_without_detectron2("import atss\natss.no_such_name")
    assert "AttributeError: module 'atss' has no attribute 'no_such_name'" in result.stderr


@pytest.mark.parametrize(
    "statement",
    [
        "from atss.assignment import atss_assign",
        "import atss.losses",
        "from atss.losses import atss_losses, centerness_targets",
        "from atss.anchor_grid import grid_topk_candidates",
        "from atss.objects_without_positives import no_positive_reasons",
        "from atss.inference import merge_detections, reported_by_tile, tile_grid",
    ],
)
def test_pure_torch_modules_import_without_detectron2(statement):
    result = run_without_detectron2(statement + "\nprint('imported')")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "imported"


@pytest.mark.detectron2
def test_import_atss_registers_components_with_detectron2():
    from detectron2.modeling import ANCHOR_GENERATOR_REGISTRY, META_ARCH_REGISTRY

    import atss  # noqa: F401
    from atss.modeling import ASSIGNMENT_REGISTRY, ATSS_HEAD_REGISTRY

    assert META_ARCH_REGISTRY.get("ATSS") is atss.ATSS
    assert ANCHOR_GENERATOR_REGISTRY.get("ATSSAnchorGenerator") is atss.ATSSAnchorGenerator
    assert ATSS_HEAD_REGISTRY.get("ATSSHead") is atss.ATSSHead
    assert {name for name, _ in ASSIGNMENT_REGISTRY} == {
        "atss",
        "max_iou",
        "fcos",
        "center_sampling",
        "topk",
    }
