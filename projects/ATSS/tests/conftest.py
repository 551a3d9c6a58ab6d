"""
Two tiers of tests. Pure-torch tests always run; tests marked ``detectron2`` (a module sets
``pytestmark = pytest.mark.detectron2``) are skipped with the reason "detectron2 not installed"
only when it is absent. The run ends with one line counting each tier.
"""
import importlib.util
from collections import Counter
import pytest

HAS_DETECTRON2 = importlib.util.find_spec("detectron2") is not None
TIERS = ("pure-torch", "detectron2")

_outcomes = Counter()


def _tier(item) -> str:
    return "detectron2" if item.get_closest_marker("detectron2") else "pure-torch"


def pytest_collection_modifyitems(config, items):
    if HAS_DETECTRON2:
        return
    skip = pytest.mark.skip(reason="detectron2 not installed")
    for item in items:
        if _tier(item) == "detectron2":
            item.add_marker(skip)


def pytest_runtest_logreport(report):
    if report.when == "call" or (report.when == "setup" and not report.passed):
        tier = "detectron2" if "detectron2" in report.keywords else "pure-torch"
        _outcomes[tier, "skipped" if report.skipped else "run"] += 1


def pytest_terminal_summary(terminalreporter):
    parts = [
        f"{tier}: {_outcomes[tier, 'run']} run, {_outcomes[tier, 'skipped']} skipped"
        for tier in TIERS
    ]
    terminalreporter.write_line("test tiers -- " + "; ".join(parts))
