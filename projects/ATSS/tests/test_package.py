"""`import atss` without detectron2: a clear ImportError, while the pure-torch modules import."""
import subprocess
import sys
import textwrap
import pytest

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


def test_import_atss_without_detectron2_names_it_and_links_the_install_guide():
    result = run_without_detectron2("import atss")
    assert result.returncode != 0
    assert "ImportError: atss requires detectron2" in result.stderr
    assert "https://detectron2.readthedocs.io/en/latest/tutorials/install.html" in result.stderr


@pytest.mark.parametrize(
    "statement",
    [
        "from atss.assignment import atss_assign",
        "import atss.losses",
        "from atss.anchor_grid import grid_topk_candidates",
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
    from atss.head import ATSS_HEAD_REGISTRY
    from atss.sample_selection import SAMPLE_SELECTION_REGISTRY

    assert META_ARCH_REGISTRY.get("ATSS") is atss.ATSS
    assert ANCHOR_GENERATOR_REGISTRY.get("ATSSAnchorGenerator") is atss.ATSSAnchorGenerator
    assert ATSS_HEAD_REGISTRY.get("ATSSHead") is atss.ATSSHead
    assert {name for name, _ in SAMPLE_SELECTION_REGISTRY} == {
        "atss",
        "max_iou",
        "fcos",
        "center_sampling",
    }
