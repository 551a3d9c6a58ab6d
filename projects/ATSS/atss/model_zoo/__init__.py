"""
The project's model zoo, shaped like ``detectron2.model_zoo``: configs by their path under the
repository's ``configs/`` and the trained weights that go with them.
"""
from .model_zoo import (
    OFFICIAL_MODELS,
    OfficialModel,
    get,
    get_checkpoint_url,
    get_config,
    get_config_file,
    load_config_file,
    load_weights,
)
