"""Trainer callbacks (divergence guard, reporter bridge) and the per-trial history.

The callbacks subclass ``transformers.TrainerCallback``; it is imported when
:func:`trainer_callbacks` runs, so importing this module stays light. The
history helpers are plain Python and serve the plain-torch runner too.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hpscout._io import atomic_open
from hpscout.runner._guards import LossGuard

__all__ = ["StepLoss", "trainer_callbacks", "progress_callback", "history_from_logs", "write_history_csv"]

# keys of Trainer logs that describe speed, not the run; left out of the history
_SPEED_SUFFIXES = ("_runtime", "_samples_per_second", "_steps_per_second")
_SUMMARY_KEYS = ("train_loss", "total_flos")
_FIRST_COLUMNS = ("step", "epoch", "loss", "learning_rate", "grad_norm")


class StepLoss:
    """The loss of the optimizer step in progress, summed over its micro-batches.

    The trainer adds each micro-batch's (accumulation-scaled) loss; the divergence
    callback reads and resets it at every step end.
    """

    def __init__(self) -> None:
        self.value = 0.0

    def add(self, loss: float) -> None:
        self.value += loss

    def pop(self) -> float:
        value, self.value = self.value, 0.0
        return value


def trainer_callbacks(*, guard: LossGuard, step_loss: StepLoss, reporter: Any, metric: str) -> tuple[Any, Any]:
    """The divergence-guard and reporter-bridge callbacks for one trial.

    Returns:
        ``(divergence_callback, reporter_callback)``; after training read
        ``guard.diverged_step`` / ``reporter_callback.pruned`` / ``reporter_callback.last_value``.
    """
    from transformers import TrainerCallback

    class DivergenceCallback(TrainerCallback):
        """Stops training at the first step whose loss is NaN/inf or explodes."""

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            loss = step_loss.pop()
            if guard.diverged_step is None and guard.check(state.global_step, loss) is not None:
                control.should_training_stop = True
            if guard.diverged_step is not None:
                # no evaluation or checkpoint of a broken model
                control.should_evaluate = False
                control.should_save = False
            return control

        def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if guard.diverged_step is not None:
                control.should_evaluate = False
                control.should_save = False
            return control

    class ReporterCallback(TrainerCallback):
        """Sends every evaluation's search metric to the reporter; stops when it says prune."""

        def __init__(self) -> None:
            self.pruned = False
            self.last_value: float | None = None
            self.last_step: int | None = None

        def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict[str, float] | None = None, **kwargs: Any) -> Any:
            if not metrics or metric not in metrics or self.pruned:
                return control
            value = float(metrics[metric])
            self.last_value, self.last_step = value, state.global_step
            reporter.report(value, step=state.global_step)
            if reporter.should_prune():
                self.pruned = True
                control.should_training_stop = True
                control.should_save = False
            return control

    return DivergenceCallback(), ReporterCallback()


def progress_callback(on_step: Any) -> Any:
    """A callback that tells ``on_step(step, total, loss)`` about every step and every logged loss."""
    from transformers import TrainerCallback

    class ProgressCallback(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            on_step(int(state.global_step), int(state.max_steps) or None, None)
            return control

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> Any:
            if logs and isinstance(logs.get("loss"), (int, float)):
                on_step(int(state.global_step), int(state.max_steps) or None, float(logs["loss"]))
            return control

    return ProgressCallback()


def _keep(key: str) -> bool:
    return not key.endswith(_SPEED_SUFFIXES) and key not in _SUMMARY_KEYS


def history_from_logs(logs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge log entries (``Trainer.state.log_history`` shape) into one row per step.

    Each row has ``step`` and whichever of ``epoch``, ``loss``, ``learning_rate``,
    ``grad_norm`` and ``eval_*`` were logged at that step; speed figures and the
    end-of-training summary are left out.
    """
    rows: dict[int, dict[str, Any]] = {}
    for entry in logs:
        if "step" not in entry:
            continue
        kept = {k: v for k, v in entry.items() if _keep(k) and isinstance(v, (int, float, str))}
        if set(kept) <= {"step", "epoch"}:
            continue
        row = rows.setdefault(int(entry["step"]), {"step": int(entry["step"])})
        row.update(kept)
    return [rows[s] for s in sorted(rows)]


def write_history_csv(history: list[dict[str, Any]], path: str | Path) -> Path:
    """Write the history as CSV (columns: step, epoch, loss, learning_rate, grad_norm, then the rest sorted)."""
    keys: set[str] = set()
    for row in history:
        keys.update(row)
    columns = [c for c in _FIRST_COLUMNS if c in keys] + sorted(keys - set(_FIRST_COLUMNS))
    if not columns:
        columns = ["step"]
    with atomic_open(path, "w") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in history:
            writer.writerow({k: _cell(row.get(k)) for k in columns})
    return Path(path)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
