"""
The model's settings in groups (``model.assignment``, ``model.loss``, ``model.inference``): they
reach the model, and a key of a group set at the top of ``model`` is refused with its new key.
"""
from pathlib import Path
import pytest

pytestmark = pytest.mark.detectron2
pytest.importorskip("detectron2", reason="detectron2 not installed")

from detectron2.config import LazyConfig, instantiate

from atss.config import ConfigError, load_config
from atss.losses import ATSSLossParams
from atss.modeling import AssignmentParams, InferenceParams

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SHAPES = str(CONFIGS / "Shapes" / "atss_R_18_FPN_shapes.py")
AUTOASSIGN = str(CONFIGS / "Shapes" / "autoassign_R_18_FPN_shapes.py")


def test_each_group_reaches_the_model_as_its_object():
    cfg = load_config(
        SHAPES,
        [
            "model.assignment.rule=fcos",
            "model.loss.reg_loss_weight=1.5",
            "model.inference.nms_thresh=0.5",
        ],
    )
    model = instantiate(cfg.model)
    assert isinstance(model.assignment, AssignmentParams) and model.assignment.rule == "fcos"
    assert isinstance(model.loss, ATSSLossParams) and model.loss.reg_loss_weight == 1.5
    assert isinstance(model.inference, InferenceParams) and model.inference.nms_thresh == 0.5


@pytest.mark.parametrize(
    "override, new_key",
    [
        ("model.topk=15", "model.assignment.topk"),
        ("model.focal_loss_alpha=0.5", "model.loss.focal_loss_alpha"),
        ("model.test_score_thresh=0.1", "model.inference.score_thresh"),
        ("model.max_detections_per_image=300", "model.inference.max_detections_per_image"),
    ],
)
def test_an_override_of_a_grouped_key_names_its_new_key(override, new_key):
    with pytest.raises(ConfigError, match=f"is now {new_key}"):
        load_config(SHAPES, [override])


def test_an_added_grouped_key_is_refused_too():
    with pytest.raises(ConfigError, match="write model.inference.score_thresh=0.1"):
        load_config(SHAPES, ["+model.test_score_thresh=0.1"])


def test_a_rule_name_given_to_the_group_names_the_rule_key():
    with pytest.raises(ConfigError, match="write model.assignment.rule='fcos'"):
        load_config(SHAPES, ["model.assignment=fcos"])


def test_a_saved_config_with_a_top_level_key_of_a_group_is_refused(tmp_path):
    cfg = LazyConfig.load(SHAPES)
    cfg.model.topk = 15
    path = tmp_path / "config.yaml"
    LazyConfig.save(cfg, str(path))
    with pytest.raises(ConfigError, match="write model.assignment.topk=15"):
        load_config(str(path))


def test_autoassign_keeps_its_own_loss_keys_and_shares_the_inference_group():
    cfg = load_config(AUTOASSIGN, ["model.focal_loss_gamma=1.5"])
    assert instantiate(cfg.model).loss_params["focal_loss_gamma"] == 1.5
    with pytest.raises(ConfigError, match="is now model.inference.nms_thresh"):
        load_config(AUTOASSIGN, ["model.test_nms_thresh=0.5"])


def test_a_bad_loss_or_rule_is_refused_when_the_model_is_built():
    with pytest.raises(ValueError, match="box_loss must be one of"):
        instantiate(load_config(SHAPES, ["model.loss.box_loss=l1"]).model)
    with pytest.raises(ValueError, match="Unknown assignment rule 'iou'"):
        instantiate(load_config(SHAPES, ["model.assignment.rule=iou"]).model)
