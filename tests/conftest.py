"""
Two tiers of tests. Pure-torch tests always run; tests of the detectron2 tier (a module sets
``pytestmark = pytest.mark.detectron2``, and calls ``pytest.importorskip("detectron2", ...)`` before
importing it) are skipped with the reason "detectron2 not installed" only when it is absent. The
run ends with one line counting each tier.

``ATSS_TEST_WITHOUT_DETECTRON2=1`` runs the suite as on a machine without detectron2: importing it
fails, and the run fails if any test of the detectron2 tier ran. In CI (``CI`` set) the
detectron2 tier is never skipped: without detectron2, and without that variable, the run stops.
"""
import os
import sys
from collections import Counter
import pytest

HIDE_DETECTRON2 = os.environ.get("ATSS_TEST_WITHOUT_DETECTRON2") == "1"


class _HideDetectron2:
    """A meta-path finder that makes ``import detectron2`` fail as if it were not installed."""

    def find_spec(self, name, path=None, target=None):
        if name == "detectron2" or name.startswith("detectron2."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


if HIDE_DETECTRON2:
    sys.meta_path.insert(0, _HideDetectron2())

try:
    import detectron2  # noqa: F401

    HAS_DETECTRON2 = True
except ImportError:
    HAS_DETECTRON2 = False

TIERS = ("pure-torch", "detectron2")
SKIP_REASON = "detectron2 not installed"

_outcomes = Counter()


def _tier(item) -> str:
    return "detectron2" if item.get_closest_marker("detectron2") else "pure-torch"


def pytest_configure(config):
    if os.environ.get("CI") and not HAS_DETECTRON2 and not HIDE_DETECTRON2:
        pytest.exit(
            "CI runs the detectron2 tier, but detectron2 cannot be imported: set up with "
            "`bash tools/install.sh` (docs/install.md).",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


def pytest_collection_modifyitems(config, items):
    if HAS_DETECTRON2:
        return
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if _tier(item) == "detectron2":
            item.add_marker(skip)


def pytest_collectreport(report):
    # A detectron2-tier module whose importorskip fired is skipped whole, at collection.
    if report.skipped:
        _outcomes["detectron2", "skipped modules"] += 1


def pytest_runtest_logreport(report):
    if report.when == "call" or (report.when == "setup" and not report.passed):
        tier = "detectron2" if "detectron2" in report.keywords else "pure-torch"
        _outcomes[tier, "skipped" if report.skipped else "run"] += 1


def pytest_terminal_summary(terminalreporter):
    parts = [
        f"{tier}: {_outcomes[tier, 'run']} run, {_outcomes[tier, 'skipped']} skipped"
        for tier in TIERS
    ]
    if _outcomes["detectron2", "skipped modules"]:
        parts[-1] += f" (+ {_outcomes['detectron2', 'skipped modules']} modules skipped whole)"
    terminalreporter.write_line("test tiers -- " + "; ".join(parts))


def pytest_sessionfinish(session, exitstatus):
    if HIDE_DETECTRON2 and _outcomes["detectron2", "run"]:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        sys.stderr.write(
            f"{_outcomes['detectron2', 'run']} detectron2-tier tests ran with detectron2 hidden\n"
        )
