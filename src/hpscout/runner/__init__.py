"""One trial: resolved config -> train -> TrialResult.

Runners: Hugging Face Trainer + PEFT (classification, causal-LM SFT, seq2seq),
plain PyTorch, and any external command. ``run_trial`` is the one entry point.
"""

from hpscout.runner._base import (
    RUNNERS,
    NullReporter,
    Reporter,
    Runner,
    TrialPruned,
    TrialResult,
    TrialStatus,
    get_runner,
    register_runner,
)

__all__ = [
    "RUNNERS",
    "NullReporter",
    "Reporter",
    "Runner",
    "TrialPruned",
    "TrialResult",
    "TrialStatus",
    "get_runner",
    "register_runner",
]
