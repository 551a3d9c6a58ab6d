"""
A pytest plugin for ``benchmarks/gpu_check.py``: keeps the tests that are skipped without CUDA
(a ``skipif`` mark whose reason names CUDA) and deselects every other test.

    python -m pytest -p cuda_tests_plugin tests/...   # with benchmarks/ on PYTHONPATH
"""


def needs_cuda(item) -> bool:
    return any(
        "cuda" in str(mark.kwargs.get("reason", "")).lower()
        for mark in item.iter_markers(name="skipif")
    )


def pytest_collection_modifyitems(config, items):
    deselected = [item for item in items if not needs_cuda(item)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
    items[:] = [item for item in items if needs_cuda(item)]
