"""Progress of a search on stderr: one line per finished trial, then the counts, the best so far and an ETA.

Anywhere but a terminal (CI logs, pipes, files) every event is one plain line::

      #  state     value      fraction  params
      3  COMPLETE  0.4127     0.05      train.learning_rate=0.00031 train.batch_size=32
      4  PRUNED    0.6630     0.01      train.learning_rate=0.042 train.batch_size=16
    [search] 5/20 finished (3 complete, 1 pruned, 1 failed) | best eval_loss 0.4127 (trial 3) | ETA 4m10s

On a terminal the status line is a rich progress bar under the trial rows.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.progress import BarColumn, TextColumn
from rich.progress import Progress as RichProgress
from rich.table import Column

from hpscout._format import format_duration
from hpscout.config import ExperimentConfig
from hpscout.search._outcomes import counts_toward_budget, is_failed_verdict, trial_row
from hpscout.search._storage import is_storage_outage

__all__ = ["Progress", "format_params", "format_duration", "format_table", "show_trials"]


def _fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.5g}"
    return str(v)


def format_params(params: Mapping[str, Any], width: int = 100) -> str:
    """``key=value`` pairs on one line, cut at ``width`` characters."""
    text = " ".join(f"{k}={_fmt_value(v)}" for k, v in params.items())
    return text if len(text) <= width else text[: width - 3] + "..."


def format_table(rows: Iterable[Mapping[str, Any]], *, header: bool = True) -> str:
    """A compact text table of :func:`hpscout.search.trials_table` rows.

    Fixed column widths, not :func:`hpscout._format.text_table`: the progress prints the rows
    of each update under a header printed once, and ``hpscout trials`` indents curve notes to
    the params column, so the columns must not move with the values.
    """
    lines = [f"{'#':>5}  {'state':<8}  {'value':<10}  {'fraction':<8}  params"] if header else []
    for r in rows:
        value = "-" if r.get("value") is None else f"{r['value']:.5g}"
        frac = "-" if r.get("fraction") is None else f"{r['fraction']:g}"
        state = r.get("state", "")
        status = r.get("status")
        if state == "FAIL" and status and status not in ("failed",):
            state = status.upper()[:8]
        lines.append(f"{r['number']:>5}  {state:<8}  {value:<10}  {frac:<8}  {format_params(r.get('params') or {})}")
    return "\n".join(lines)


class Progress:
    """Prints finished trials as they appear and a status line with the best value and an ETA."""

    def __init__(
        self,
        *,
        budget: int | None,
        metric: str,
        direction: str,
        enabled: bool = True,
        stream: TextIO | None = None,
        timeout: float | None = None,
        live: bool | None = None,
    ) -> None:
        self.budget = budget
        self.metric = metric
        self.maximize = direction == "maximize"
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.timeout = timeout
        #: draw a rich progress bar (default: when the stream is a terminal), else plain lines
        self.live = bool(getattr(self.stream, "isatty", lambda: False)()) if live is None else live
        self._bar: Any = None
        self._task: Any = None
        self._seen: set[int] = set()
        self._start = time.monotonic()
        self._finished_at_start: int | None = None
        self._header_done = False
        self._last_line = ""

    @classmethod
    def for_search(cls, config: ExperimentConfig, budget: int | None, *, enabled: bool = True) -> Progress:
        """The progress of the search of ``config`` (its metric, direction and timeout)."""
        return cls(
            budget=budget, metric=config.search.metric, direction=config.search.direction, enabled=enabled,
            timeout=config.search.timeout,
        )

    def update(self, trials: Iterable[FrozenTrial], *, counted: int | None = None) -> None:
        """Show trials that finished since the last call, then the status line (when it changed)."""
        if not self.enabled:
            return
        trials = list(trials)
        finished = [t for t in trials if t.state.is_finished()]
        n_counted = counted if counted is not None else sum(1 for t in trials if counts_toward_budget(t))
        if self._finished_at_start is None:
            self._finished_at_start = n_counted
            self._seen = {t.number for t in finished}
        new = sorted((t for t in finished if t.number not in self._seen), key=lambda t: t.number)
        if new:
            rows = [trial_row(t) for t in new]
            text = format_table(rows, header=not self._header_done)
            self._header_done = True
            self._print(text)
            self._seen.update(t.number for t in new)
        if self.live:
            self._draw(n_counted, self._status(trials, n_counted))
            return
        line = self.status_line(trials, n_counted)
        event = line.rsplit(" | ETA ", 1)[0]  # off a terminal: one line per event, not per tick of the ETA
        if event != self._last_line:
            self._print(line)
            self._last_line = event

    def status_line(self, trials: list[FrozenTrial], n_counted: int) -> str:
        total = "?" if self.budget is None else str(self.budget)
        return f"[search] {n_counted}/{total} finished " + self._status(trials, n_counted)

    def _status(self, trials: list[FrozenTrial], n_counted: int) -> str:
        """``(3 complete, 1 pruned, 1 failed) | best ... | ETA ...``: the status line after the count."""
        n_complete = sum(1 for t in trials if t.state == TrialState.COMPLETE)
        n_pruned = sum(1 for t in trials if t.state == TrialState.PRUNED)
        n_failed = sum(1 for t in trials if is_failed_verdict(t))
        n_running = sum(1 for t in trials if t.state == TrialState.RUNNING)
        parts = [f"({n_complete} complete, {n_pruned} pruned, {n_failed} failed"]
        parts[0] += f", {n_running} running)" if n_running else ")"
        best = _best(trials, self.maximize)
        if best is not None:
            parts.append(f"best {self.metric} {best.value:.5g} (trial {best.number})")
        parts.append(f"ETA {format_duration(self.eta(n_counted))}")
        return " | ".join(parts)

    def close(self) -> None:
        """Stop the progress bar (plain lines need nothing); safe to call more than once."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def _print(self, text: str) -> None:
        if self._bar is not None:
            self._bar.console.print(text, highlight=False, markup=False, soft_wrap=True)
        else:
            print(text, file=self.stream, flush=True)

    def _draw(self, n_counted: int, status: str) -> None:
        if self._bar is None:
            self._bar = RichProgress(
                TextColumn("[search] {task.fields[count]} finished", markup=False),
                BarColumn(bar_width=20),
                TextColumn("{task.fields[status]}", markup=False, table_column=Column(no_wrap=False, overflow="fold")),
                console=Console(file=self.stream),
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task("search", total=self.budget, count="", status="")
        count = f"{n_counted}/{'?' if self.budget is None else self.budget}"
        self._bar.update(self._task, completed=n_counted, count=count, status=status)

    def eta(self, n_counted: int) -> float | None:
        elapsed = time.monotonic() - self._start
        by_timeout = None if self.timeout is None else max(0.0, self.timeout - elapsed)
        done_here = n_counted - (self._finished_at_start or 0)
        if self.budget is None:
            return by_timeout
        remaining = max(0, self.budget - n_counted)
        if remaining == 0:
            return 0.0
        if done_here <= 0:
            return by_timeout
        est = elapsed / done_here * remaining
        return est if by_timeout is None else min(est, by_timeout)


def _best(trials: list[FrozenTrial], maximize: bool) -> FrozenTrial | None:
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None and math.isfinite(t.value)]
    if not done:
        return None
    return max(done, key=lambda t: t.value) if maximize else min(done, key=lambda t: t.value)  # type: ignore[arg-type, return-value]


def show_trials(progress: Progress | None, study: optuna.Study) -> None:
    """Update ``progress`` with the trials of ``study``; a storage outage skips one update."""
    if progress is None or not progress.enabled:
        return
    try:
        progress.update(study.get_trials(deepcopy=False))
    except Exception as exc:
        if not is_storage_outage(exc):
            raise
