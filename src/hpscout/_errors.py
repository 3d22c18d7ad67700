"""The one exception tree of hpscout.

Every error a user can cause derives from :class:`HpscoutError`. The CLI turns
these into a one-line message and exit code 2; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

__all__ = [
    "HpscoutError",
    "ConfigError",
    "DataError",
    "SearchError",
    "RunnerError",
    "StorageError",
    "CheckpointError",
    "ExportError",
    "MissingDependencyError",
]


class HpscoutError(Exception):
    """Base class of every error hpscout raises on purpose."""

    #: exit code the CLI uses for this error
    exit_code: int = 2


class ConfigError(HpscoutError, ValueError):
    """A config file, a flag or an override is invalid.

    The message names the file, the key path and the allowed values.
    """


class DataError(HpscoutError, ValueError):
    """A data file, a column or a subset request is invalid."""


class SearchError(HpscoutError):
    """A search space, sampler, pruner or study cannot be set up."""


class RunnerError(HpscoutError):
    """A trial could not be set up (bad model path, unknown task, ...)."""


class StorageError(HpscoutError):
    """The study storage or a run folder cannot be read or written."""


class CheckpointError(HpscoutError):
    """A checkpoint is not one hpscout wrote, changed since, or holds more than tensors; it is not loaded."""


class ExportError(HpscoutError):
    """A run cannot be exported to a full-scale training config."""


class MissingDependencyError(HpscoutError, ImportError):
    """An optional dependency is needed; the message names the extra to install."""
