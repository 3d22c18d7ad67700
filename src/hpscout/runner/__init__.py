"""One trial: resolved config -> train -> TrialResult.

Runners: Hugging Face Trainer + PEFT (classification, causal-LM SFT, seq2seq),
plain PyTorch, and any external command. ``run_trial`` is the one entry point.

Only the contract is imported eagerly; the runners (and torch) load on first use.
"""

from __future__ import annotations

from typing import Any

from hpscout.runner._base import (
    RUNNERS,
    NullReporter,
    Reporter,
    Runner,
    StepHook,
    TrialPruned,
    TrialResult,
    TrialStatus,
    get_runner,
    register_runner,
    step_hook,
)
from hpscout.runner._guards import FAULT_ENV
from hpscout.runner._precision import DeviceInfo, Precision, resolve_precision
from hpscout.runner._progress import TrainProgress
from hpscout.runner._trial import RESULT_FILE, library_versions, run_trial, validate_trial_config

__all__ = [
    "FAULT_ENV",
    "RESULT_FILE",
    "RUNNERS",
    "DeviceInfo",
    "NullReporter",
    "Precision",
    "Reporter",
    "Runner",
    "StepHook",
    "TorchTask",
    "TorchTrialInfo",
    "TrainProgress",
    "TrialPruned",
    "TrialResult",
    "TrialStatus",
    "get_runner",
    "library_versions",
    "register_runner",
    "resolve_precision",
    "run_trial",
    "step_hook",
    "validate_trial_config",
]

_LAZY = {"TorchTask": "hpscout.runner._torch", "TorchTrialInfo": "hpscout.runner._torch"}


def __getattr__(name: str) -> Any:
    # TorchTask lives next to the torch runner; importing it must not cost anything more
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
