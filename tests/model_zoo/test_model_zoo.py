"""atss.model_zoo: configs by path, and trained weights or an error that says how to get them."""
from pathlib import Path
import pytest
import torch

pytestmark = pytest.mark.detectron2
pytest.importorskip("detectron2", reason="detectron2 not installed")

from omegaconf import DictConfig

from atss import ATSS, model_zoo

SHAPES = "Shapes/atss_R_18_FPN_shapes.py"


@pytest.fixture
def in_empty_dir(tmp_path, monkeypatch):
    """Run from an empty directory (a repository root's output/ may hold a trained main job),
    with an empty converted-checkpoint folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ATSS_MODEL_ZOO", str(tmp_path / "zoo"))
    return tmp_path


@pytest.fixture
def trained_shapes(in_empty_dir):
    """A shapes model saved where train_net.py writes the main job's final checkpoint."""
    model = model_zoo.get(SHAPES)
    output = in_empty_dir / "output" / "atss_R_18_FPN_shapes"
    output.mkdir(parents=True)
    torch.save({"model": model.state_dict()}, output / "model_final.pth")
    return model, output / "model_final.pth"


def test_config_file_is_the_repository_config():
    path = Path(model_zoo.get_config_file("ATSS/atss_R_50_FPN_1x.py"))
    assert path.is_file()
    assert path.parent.parent.name == "configs"


def test_unknown_config_names_it():
    with pytest.raises(RuntimeError, match="ATSS/no_such_model.py is not a config"):
        model_zoo.get_config_file("ATSS/no_such_model.py")


def test_lazy_and_yaml_configs_both_load_as_lazy_configs():
    assert isinstance(model_zoo.get_config("ATSS/atss_R_50_FPN_1x.py"), DictConfig)
    yaml = model_zoo.get_config("ATSS/atss_R_50_FPN_1x.yaml")
    assert isinstance(yaml, DictConfig)
    assert yaml.model.cfg.MODEL.META_ARCHITECTURE == "ATSS"


def test_every_official_model_has_both_download_links_and_its_file_name():
    assert len(model_zoo.OFFICIAL_MODELS) == 8
    for name, official in model_zoo.OFFICIAL_MODELS.items():
        assert official.google_drive.startswith("https://drive.google.com/")
        assert official.baidu.startswith("https://pan.baidu.com/")
        assert official.official_file == "ATSS" + name[len("atss") :] + ".pth"


def test_missing_converted_checkpoint_says_where_to_download_and_how_to_convert(in_empty_dir):
    with pytest.raises(RuntimeError) as error:
        model_zoo.get_checkpoint_url("Official/atss_R_50_FPN_1x.py")
    message = str(error.value)
    assert "https://drive.google.com/open?id=1t8RLdQ6fsFXa0kzPIQ7541uZeQeMXP73" in message
    assert "python tools/convert_official_checkpoint.py ATSS_R_50_FPN_1x.pth" in message
    assert str(in_empty_dir / "zoo" / "atss_R_50_FPN_1x.pth") in message


def test_converted_checkpoint_is_found_in_the_model_zoo_folder(in_empty_dir):
    (in_empty_dir / "zoo").mkdir()
    converted = in_empty_dir / "zoo" / "atss_dcnv2_R_50_FPN_1x.pth"
    converted.touch()
    assert model_zoo.get_checkpoint_url("Official/atss_dcnv2_R_50_FPN_1x.py") == str(converted)


def test_coco_recipe_without_trained_model_points_to_the_official_weights():
    with pytest.raises(RuntimeError, match="Official/atss_R_101_FPN_2x.py"):
        model_zoo.get_checkpoint_url("ATSS/atss_R_101_FPN_2x.py")


def test_untrained_shapes_model_says_how_to_train_it(in_empty_dir):
    with pytest.raises(RuntimeError) as error:
        model_zoo.get(SHAPES, trained=True)
    assert f"python train_net.py --config-file configs/{SHAPES}" in str(error.value)


def test_untrained_get_builds_the_config_model_on_the_cpu_in_training_mode(in_empty_dir):
    model = model_zoo.get(SHAPES, device="cpu")
    assert isinstance(model, ATSS)
    assert model.training
    assert model.device.type == "cpu"


def test_trained_get_loads_the_main_job_checkpoint(trained_shapes):
    saved, path = trained_shapes
    assert Path(model_zoo.get_checkpoint_url(SHAPES)).samefile(path)
    loaded = model_zoo.get(SHAPES, trained=True)
    for key, value in saved.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_trained_get_refuses_a_checkpoint_that_leaves_parameters_unset(trained_shapes):
    _, path = trained_shapes
    state = torch.load(path)["model"]
    del state["head.cls_score.weight"]
    torch.save({"model": state}, path)
    with pytest.raises(RuntimeError, match=r"missing: \['head.cls_score.weight'\]"):
        model_zoo.get(SHAPES, trained=True)


def test_yaml_config_of_a_coco_recipe_has_no_trained_weights_either():
    with pytest.raises(RuntimeError, match="No COCO model has been trained"):
        model_zoo.get_config("ATSS/atss_R_50_FPN_1x.yaml", trained=True)


@pytest.mark.parametrize("trained", [False, True])
def test_official_model_without_its_converted_checkpoint_says_how_to_get_it(in_empty_dir, trained):
    with pytest.raises(RuntimeError, match="python tools/convert_official_checkpoint.py"):
        model_zoo.get("Official/atss_R_50_FPN_1x.py", trained=trained)
