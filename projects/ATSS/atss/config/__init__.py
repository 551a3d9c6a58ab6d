"""
Configs, below everything that uses them: the YAML keys of ATSS and AutoAssign (:mod:`.defaults`),
loading a config with its overrides (:mod:`.loading`, the one door, which turns a YAML config
into a LazyConfig through :mod:`.yaml_config`)
what the package reads from a config (:mod:`.accessors`), and the user's data given by path,
registered (:mod:`.user_datasets`).
"""

from .accessors import (
    UserData,
    build_model,
    dataset_classes,
    get_drop_invalid,
    get_num_classes,
    get_output_dir,
    get_weights,
    set_user_classes,
    set_weights,
    user_data,
)
from .defaults import add_atss_config, add_autoassign_config
from .errors import ConfigError
from .loading import Config, apply_lazy_overrides, config_kind, load_config
from .user_datasets import configure_user_datasets, dataset_names

__all__ = [
    "Config",
    "ConfigError",
    "UserData",
    "add_atss_config",
    "add_autoassign_config",
    "apply_lazy_overrides",
    "build_model",
    "config_kind",
    "configure_user_datasets",
    "dataset_classes",
    "dataset_names",
    "get_drop_invalid",
    "get_num_classes",
    "get_output_dir",
    "get_weights",
    "load_config",
    "set_user_classes",
    "set_weights",
    "user_data",
]
