"""Progress of one training run for ``hpscout train``: steps, loss and ETA.

On a terminal it is a rich progress bar; anywhere else (CI logs, pipes, files) one plain
line per event, a logged loss or an evaluation::

    [train] step 40/120 | loss 0.6612 | ETA 1m05s
    [train] step 60/120 | eval_accuracy 0.8125

It is a :class:`~hpscout.runner.Reporter` (never prunes) whose ``on_step`` runners call.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from hpscout._format import format_duration
from hpscout.runner._base import NullReporter

__all__ = ["TrainProgress"]


class TrainProgress(NullReporter):
    """Shows a training's steps, loss and ETA; records evaluations like :class:`NullReporter`.

    Args:
        metric: the search metric, shown at each evaluation.
        stream: where to draw (default stderr, so stdout stays clean for results and JSON).
        live: draw a rich progress bar; default: when ``stream`` is a terminal.

    Example:
        >>> with TrainProgress(metric="eval_accuracy", live=False) as progress:  # doctest: +SKIP
        ...     result = run_trial(config, out_dir="runs/x/trials/t", reporter=progress)
    """

    def __init__(self, *, metric: str, stream: TextIO | None = None, live: bool | None = None) -> None:
        super().__init__()
        self.metric = metric
        self.stream = stream if stream is not None else sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)()) if live is None else live
        self.loss: float | None = None
        self._start: float | None = None
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> TrainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def on_step(self, step: int, total: int | None, loss: float | None) -> None:
        """After an optimizer step (``loss`` None) or at a logged loss."""
        if self._start is None:
            self._start = time.monotonic()
        if loss is not None:
            self.loss = loss
        if self.live:
            self._draw(step, total)
        elif loss is not None:
            parts = [f"[train] step {step}" + (f"/{total}" if total else ""), f"loss {loss:.4g}"]
            if total:
                parts.append(f"ETA {format_duration(self.eta(step, total))}")
            self._print(" | ".join(parts))

    def report(self, value: float, step: int) -> None:
        """An evaluation of the search metric."""
        super().report(value, step)
        line = f"[train] step {step} | {self.metric} {value:.4g}"
        if self.live and self._bar is not None:
            self._bar.console.print(line, highlight=False, markup=False)
        else:
            self._print(line)

    def eta(self, step: int, total: int) -> float | None:
        """Seconds left at the pace so far (None before the first step)."""
        if self._start is None or step <= 0:
            return None
        return (time.monotonic() - self._start) / step * max(0, total - step)

    def close(self) -> None:
        """Stop the progress bar (the plain lines need nothing)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def _print(self, line: str) -> None:
        print(line, file=self.stream, flush=True)

    def _draw(self, step: int, total: int | None) -> None:
        if self._bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("[train] step", markup=False),
                MofNCompleteColumn(),
                BarColumn(),
                TextColumn("loss {task.fields[loss]}", markup=False),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(file=self.stream),
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task("train", total=total, loss="-")
        shown = "-" if self.loss is None else f"{self.loss:.4g}"
        self._bar.update(self._task, completed=step, total=total, loss=shown)
