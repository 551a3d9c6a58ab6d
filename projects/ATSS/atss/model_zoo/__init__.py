"""
The project's model zoo, shaped like ``detectron2.model_zoo``: configs by their path under
``configs/`` (shipped inside this package) and the trained weights that go with them.
"""

from .model_zoo import (
    CONFIGS_DIR,
    OFFICIAL_MODELS,
    OfficialModel,
    get,
    get_checkpoint_url,
    get_config,
    get_config_file,
)
from .publish import PublishedModel, get_published, publish_run, published_files
