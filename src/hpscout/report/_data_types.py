"""The report's plain data: one row per trial, one series per plot, and the whole report.

Computed by :func:`hpscout.report.report_data`, drawn by :mod:`hpscout.report._figures`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpscout._version import __version__

__all__ = ["FAILED_STATUSES", "PLOT_KEYS", "FinalFile", "PlotData", "ReportData", "TrialRow", "finite"]

#: statuses that end a trial without a usable value, listed with their reason
FAILED_STATUSES = ("diverged", "oom", "failed")

#: every plot of the report, in page order
PLOT_KEYS = (
    "history",
    "lr",
    "lora_r",
    "trainable_params",
    "parallel",
    "importance",
    "curves",
    "schedule",
    "ablation",
    "transfer",
    "climb",
    "lr_law",
)

@dataclass(frozen=True)
class TrialRow:
    """One trial of the search study, as the table shows it.

    ``value`` is the objective of a complete trial; ``last_value`` the last
    intermediate value (at ``fraction``) of any trial, pruned ones included.
    """

    number: int
    name: str
    status: str
    rank: int | None = None
    value: float | None = None
    last_value: float | None = None
    fraction: float | None = None
    learning_rate: float | None = None
    batch_size: int | None = None
    lora_r: int | None = None
    warmup_ratio: float | None = None
    warmup_steps: int | None = None
    train_loss: float | None = None
    seconds: float | None = None
    trainable_params: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    message: str | None = None
    result_path: str | None = None
    #: the training curve's class (hpscout.analysis.diagnose_curve) and the change it suggests
    curve: str | None = None
    curve_suggestion: str | None = None


@dataclass(frozen=True)
class PlotData:
    """The series of one plot, or ``note`` saying why there is nothing to draw."""

    key: str
    title: str
    data: dict[str, Any] | None = None
    note: str | None = None

    @property
    def has_data(self) -> bool:
        return self.data is not None


@dataclass(frozen=True)
class FinalFile:
    """A ready-to-run config of this run and whether it exists yet."""

    label: str
    path: Path
    exists: bool


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows, computed from the store."""

    run_name: str
    run_dir: Path
    study_name: str
    storage: str
    metric: str
    direction: str
    task: str
    method: str
    rows: list[TrialRow]
    best: TrialRow | None
    best_config: dict[str, Any]
    final_files: list[FinalFile]
    failed: list[TrialRow]
    counts: dict[str, int]
    plots: dict[str, PlotData]
    ablation: dict[str, Any] | None
    importance: dict[str, Any] | None
    transfer: dict[str, Any] | None
    cost: dict[str, Any] | None
    lr_scaling: dict[str, Any] | None
    generated: str
    #: the ladder in force (analysis.json ``ladder``) and the cost preflight (``preflight``)
    ladder: list[dict[str, Any]] = field(default_factory=list)
    preflight: dict[str, Any] | None = None
    version: str = __version__
    notes: list[str] = field(default_factory=list)

    @property
    def maximize(self) -> bool:
        return self.direction == "maximize"


def finite(value: Any) -> float | None:
    """``value`` as a float when it is a finite number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None
