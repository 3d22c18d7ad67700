"""What the end of a trial means: an outcome that counts toward the budget, a FAIL verdict, a table row.

COMPLETE and PRUNED trials are outcomes, and so are FAIL trials that ran to a verdict
(diverged, oom, failed: re-running the same parameters would fail again). A FAIL caused by
a dead worker, a storage outage or Ctrl-C is not: it carries the user attribute
``interrupted`` and its retry fills the slot.
"""

from __future__ import annotations

import math
from typing import Any

from optuna.trial import FrozenTrial, TrialState

__all__ = ["VERDICTS", "TrialFailed", "counts_toward_budget", "is_failed_verdict", "trial_row"]

#: the FAIL statuses that are outcomes (a retry would end the same way)
VERDICTS = ("diverged", "oom", "failed")


class TrialFailed(Exception):
    """Raised by an objective to end a trial FAIL with an hpscout status (diverged, oom, failed)."""

    def __init__(self, status: str, message: str | None = None) -> None:
        text = str(getattr(status, "value", status))
        super().__init__(message or text)
        self.status = text if text in VERDICTS else "failed"
        self.message = message if text in VERDICTS else f"{text}: {message or ''}".rstrip(": ")


def counts_toward_budget(trial: FrozenTrial) -> bool:
    """True for trials with an outcome: COMPLETE, PRUNED, or FAIL with an hpscout verdict."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return is_failed_verdict(trial)


def is_failed_verdict(trial: FrozenTrial) -> bool:
    """A FAIL that ran to a verdict (diverged, oom, failed), not one cut off by a dead worker or outage."""
    attrs = trial.user_attrs
    return trial.state == TrialState.FAIL and attrs.get("status") in VERDICTS and not attrs.get("interrupted")


def trial_row(t: FrozenTrial) -> dict[str, Any]:
    """One trial as plain data (what ``hpscout trials --json`` prints)."""
    status = t.user_attrs.get("status")
    if t.state == TrialState.COMPLETE:
        status = "complete"
    elif t.state == TrialState.PRUNED:
        status = "pruned"
    elif t.state != TrialState.FAIL:
        status = None
    duration = None
    if t.datetime_start is not None and t.datetime_complete is not None:
        duration = round((t.datetime_complete - t.datetime_start).total_seconds(), 3)
    value = t.value if t.value is not None and math.isfinite(t.value) else None
    retry_of = t.system_attrs.get("failed_trial")
    return {
        "number": t.number,
        "state": t.state.name,
        "value": value,
        "params": dict(t.params),
        "fraction": t.user_attrs.get("fraction"),
        "status": status,
        "result_path": t.user_attrs.get("result_path"),
        "duration_seconds": duration,
        "retry_of": retry_of,
        "message": t.user_attrs.get("message") or t.user_attrs.get("interrupted"),
        "metrics": t.user_attrs.get("metrics"),
    }
