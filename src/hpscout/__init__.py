"""hpscout: scout fine-tuning hyperparameters on small, representative, nested slices of the data.

The package reads like the data flow::

    config -> data (subsets) -> search -> runner -> store -> analysis -> report / export

``import hpscout`` is light: torch, transformers and matplotlib load only when a
stage that needs them runs.
"""

from hpscout._errors import (
    CheckpointError,
    ConfigError,
    DataError,
    ExportError,
    HpscoutError,
    MissingDependencyError,
    RunnerError,
    SearchError,
    StorageError,
)
from hpscout._version import __version__
from hpscout.config import ExperimentConfig, apply_updates, load_config

__all__ = [
    "__version__",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "ExportError",
    "ExperimentConfig",
    "HpscoutError",
    "MissingDependencyError",
    "RunnerError",
    "SearchError",
    "StorageError",
    "apply_updates",
    "load_config",
]
