"""One trial: resolved config -> train -> TrialResult.

Runners: Hugging Face Trainer + PEFT (classification, causal-LM SFT, seq2seq),
plain PyTorch, and any external command. ``run_trial`` is the one entry point.

Only the contract is imported eagerly; the runners (and torch) load on first use.
The export reads how the runner trains through the names below (``LORA_PRESETS``,
``model_family``, ``LEGACY_OPTIMIZERS``, ``scheduler_kwargs``, ``generation_args``,
``checkpointing_arg``), so an exported config means what a trial trained.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hpscout.runner._base import (
    RUNNERS,
    NullReporter,
    Reporter,
    Runner,
    StepHook,
    TrialPruned,
    TrialResult,
    TrialStart,
    TrialStatus,
    get_runner,
    register_runner,
    start_trial,
    step_hook,
)
from hpscout.runner._guards import FAULT_ENV
from hpscout.runner._models import LORA_PRESETS, model_family
from hpscout.runner._optim import LEGACY_OPTIMIZERS, scheduler_kwargs
from hpscout.runner._precision import DeviceInfo, Precision, resolve_precision
from hpscout.runner._progress import TrainProgress
from hpscout.runner._tasks import generation_args
from hpscout.runner._torch_task import TorchTask, TorchTrialInfo
from hpscout.runner._trial import RESULT_FILE, library_versions, run_trial, validate_trial_config

if TYPE_CHECKING:
    from hpscout.runner._hf_trainer import checkpointing_arg

__all__ = [
    "FAULT_ENV",
    "LEGACY_OPTIMIZERS",
    "LORA_PRESETS",
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
    "TrialStart",
    "TrialStatus",
    "checkpointing_arg",
    "generation_args",
    "get_runner",
    "library_versions",
    "model_family",
    "register_runner",
    "resolve_precision",
    "run_trial",
    "scheduler_kwargs",
    "start_trial",
    "step_hook",
    "validate_trial_config",
]

# names that live next to a runner, whose module loads on first use with the runner's
_LAZY = {"checkpointing_arg": "hpscout.runner._hf_trainer"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
