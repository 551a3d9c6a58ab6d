"""
The installed package stands alone: a wheel built from the repository, installed into an empty
directory and imported from outside the repository, loads every config of ``atss.model_zoo`` and
builds its model.
"""

import os
import subprocess
import sys
import textwrap
import pytest

pytestmark = [pytest.mark.detectron2, pytest.mark.slow]
pytest.importorskip("detectron2", reason="detectron2 not installed")

from tiny_run import ROOT  # noqa: E402

CHECK = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import atss
    from atss import model_zoo
    from atss.config import build_model, get_num_classes, set_user_classes

    site = Path(sys.argv[1]).resolve()
    assert Path(atss.__file__).resolve().is_relative_to(site), atss.__file__
    configs = sorted(
        str(p.relative_to(model_zoo.CONFIGS_DIR))
        for p in model_zoo.CONFIGS_DIR.rglob("*")
        if p.suffix in (".py", ".yaml") and "common" not in p.parts
    )
    for config in configs:
        cfg = model_zoo.get_config(config)
        if not get_num_classes(cfg):  # configs/Custom: classes of the user's data
            set_user_classes(cfg, ["cat", "traffic cone"])
        build_model(cfg, device="cpu")
        print("built", config)
    """
)


def _run(*args, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs
    )
    assert proc.returncode == 0, proc.stdout[-5000:]
    return proc


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The wheel of the repository, installed without its dependencies into an empty folder."""
    tmp = tmp_path_factory.mktemp("wheel")
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
         str(tmp / "dist"), str(ROOT))  # fmt: skip
    (wheel,) = (tmp / "dist").glob("atss-*.whl")
    _run(sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(tmp / "site"),
         str(wheel))  # fmt: skip
    return tmp / "site"


def test_the_wheel_ships_the_configs(site):
    configs = site / "atss" / "model_zoo" / "configs"
    assert not configs.is_symlink()
    assert (configs / "Shapes" / "atss_R_18_FPN_shapes.py").is_file()
    assert (configs / "ATSS" / "atss_R_50_FPN_1x.yaml").is_file()


def test_the_installed_wheel_loads_and_builds_every_config_outside_the_repository(
    site, tmp_path
):
    env = dict(os.environ, PYTHONPATH=str(site))
    proc = _run(sys.executable, "-c", CHECK, str(site), cwd=tmp_path, env=env)
    expected = sum(
        1
        for p in (ROOT / "configs").rglob("*")
        if p.suffix in (".py", ".yaml") and "common" not in p.parts
    )
    assert proc.stdout.count("built ") == expected
