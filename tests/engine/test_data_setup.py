"""How train_net.py adapts the data side of a LazyConfig before anything is instantiated."""

import pytest

pytestmark = pytest.mark.detectron2
pytest.importorskip("detectron2", reason="detectron2 not installed")

from detectron2.config import LazyConfig  # noqa: E402

from atss.config import apply_lazy_overrides  # noqa: E402
from atss.engine import build_resumable_train_loader  # noqa: E402
from tiny_run import ROOT  # noqa: E402

SHAPES_CONFIG = str(ROOT / "configs/Shapes/atss_R_18_FPN_shapes.py")


def test_lazy_data_config_gets_resumable_order_named_errors_and_checked_evaluation():
    from detectron2.data import DatasetMapper

    from atss.data import CheckedCOCOEvaluator, ImageErrorNamingMapper, coco_json
    from atss.engine.data_setup import configure_lazy_data

    cfg = apply_lazy_overrides(
        LazyConfig.load(SHAPES_CONFIG), ["train.drop_invalid_annotations=True"]
    )
    try:
        configure_lazy_data(cfg)
        assert {"shapes_train", "shapes_val"} <= coco_json._DROP_INVALID
    finally:
        coco_json.drop_invalid_annotations(["shapes_train", "shapes_val"], drop=False)
    train = cfg.dataloader.train
    assert train._target_ is build_resumable_train_loader and train.seed == cfg.train.seed
    for loader in (train, cfg.dataloader.test):
        assert loader.mapper._target_ is ImageErrorNamingMapper
        assert loader.mapper.mapper._target_ is DatasetMapper
    assert cfg.dataloader.evaluator._target_ is CheckedCOCOEvaluator


def test_wrapped_mappers_keep_the_keys_they_interpolate(tmp_path):
    from atss.engine.data_setup import configure_lazy_data

    # detectron2's COCO test mapper reads ${...train.mapper.image_format}.
    cfg = LazyConfig.load(str(ROOT / "configs/ATSS/atss_R_50_FPN_1x.py"))
    configure_lazy_data(cfg)
    assert cfg.dataloader.test.mapper.mapper.image_format == "BGR"
    LazyConfig.save(cfg, str(tmp_path / "config.yaml"))  # as default_setup saves it
    assert LazyConfig.load(str(tmp_path / "config.yaml")).dataloader.test.mapper.mapper
