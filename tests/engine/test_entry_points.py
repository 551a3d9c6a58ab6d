"""
The entry points fail like the rest of the project: one line that names the problem and the fix,
no traceback, before anything is built (train_net.py, the demo, the exporter, the converter).
"""

import pytest

pytestmark = [pytest.mark.detectron2, pytest.mark.slow]  # subprocesses of a few seconds each
pytest.importorskip("detectron2", reason="detectron2 not installed")

from tiny_run import run_refused  # noqa: E402

SHAPES = "configs/Shapes/atss_R_18_FPN_shapes.py"


def test_train_net_without_arguments_asks_for_a_config():
    out = run_refused("train_net.py").stdout
    assert "No config given: pass --config-file" in out


def test_train_net_names_a_missing_config_file():
    out = run_refused("train_net.py", "--config-file", "configs/Shapes/no_such.py").stdout
    assert "Config file configs/Shapes/no_such.py does not exist" in out


def test_train_net_refuses_a_config_of_an_unknown_kind():
    out = run_refused("train_net.py", "--config-file", "README.md").stdout
    assert "README.md is of an unknown kind" in out


def test_train_net_refuses_a_misspelled_override_and_names_the_key():
    out = run_refused("train_net.py", "--config-file", SHAPES, "train.max_iters=4").stdout
    assert "Override key train.max_iters is not in the config. Did you mean train.max_iter" in out
    assert "+train.max_iters=4" in out


def test_train_net_refuses_a_misspelled_yaml_key():
    config = "configs/ATSS/atss_R_50_FPN_1x.yaml"
    out = run_refused("train_net.py", "--config-file", config, "SOLVER.MAX_ITERS", "4").stdout
    assert "Override key SOLVER.MAX_ITERS is not in the config. Did you mean SOLVER.MAX_ITER" in out


def test_eval_only_without_weights_is_refused_in_one_line(tmp_path):
    out = run_refused(
        "train_net.py", "--config-file", SHAPES, "--eval-only", f"train.output_dir={tmp_path}"
    ).stdout
    assert "No checkpoint was loaded, so the model has random weights" in out
    assert "--allow-unloaded-weights" in out


@pytest.mark.parametrize(
    "tool",
    [["demo/demo.py", "--input", "x.png"], ["tools/deploy/export_model.py", "--output", "o"]],
)
def test_demo_and_exporter_without_weights_refuse_as_eval_only_does(tool):
    out = run_refused(*tool, "--config-file", SHAPES).stdout
    assert "No checkpoint was loaded, so the model has random weights" in out
    assert "--allow-unloaded-weights" in out


def test_converter_names_a_missing_file(tmp_path):
    missing = tmp_path / "ATSS_R_50_FPN_1x.pth"
    converter = "tools/convert_official_checkpoint.py"
    out = run_refused(converter, str(missing), str(tmp_path / "o.pth")).stdout
    assert f"{missing} does not exist" in out
    assert "truncated" not in out
