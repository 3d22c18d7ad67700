"""Number formatting and the trial table's columns, shared by the HTML page and the terminal.

Both views build their table from :func:`table_header` and :func:`table_cells`,
so the terminal shows exactly the table the page shows.
"""

from __future__ import annotations

import math
from typing import Any

from hpscout._format import format_duration
from hpscout.report._data import TrialRow

__all__ = ["fmt_value", "fmt_lr", "fmt_seconds", "fmt_int", "fmt_any", "fmt_warmup", "table_header", "table_cells"]


def fmt_value(value: float | None, digits: int = 4) -> str:
    """A metric value: 4 significant digits, '—' when missing."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:.{digits}g}"


def fmt_lr(value: float | None) -> str:
    """A learning rate in scientific notation (2.0e-03)."""
    if value is None:
        return "—"
    return f"{value:.1e}"


def fmt_seconds(value: float | None) -> str:
    """A duration: 42s, 3m05s, 2h14m; missing values as an em dash."""
    return format_duration(value, missing="—")


def fmt_int(value: int | None) -> str:
    """An integer with thousands separators; compact (1.2M) from a million on."""
    if value is None:
        return "—"
    if abs(value) >= 1_000_000:
        return f"{value / 1e6:.1f}M"
    return f"{value:,}"


def fmt_any(value: Any) -> str:
    """A config value as a short string."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) >= 1e-2 or value == 0 else f"{value:.2e}"
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt_any(v) for v in value)
    return str(value)


def fmt_warmup(row: TrialRow) -> str:
    """Warmup as a ratio (0.06) or in steps (20 st)."""
    if row.warmup_steps is not None:
        return f"{row.warmup_steps} st"
    if row.warmup_ratio is None:
        return "—"
    return f"{row.warmup_ratio:g}"


def _metric_cell(row: TrialRow) -> str:
    if row.value is not None:
        return fmt_value(row.value)
    if row.last_value is not None:
        at = f" @{row.fraction:g}" if row.fraction is not None else ""
        return f"({fmt_value(row.last_value)}{at})"
    return "—"


def table_header(metric: str) -> list[str]:
    """Column titles of the trial table."""
    return ["#", "trial", "status", "LR", "batch", "LoRA r", "warmup", "train loss", metric, "time", "curve"]


def table_cells(row: TrialRow) -> list[str]:
    """One trial as the table's cells (pruned trials show their last value and fraction in parentheses)."""
    return [
        str(row.rank) if row.rank is not None else "—",
        row.name,
        row.status,
        fmt_lr(row.learning_rate),
        fmt_any(row.batch_size),
        fmt_any(row.lora_r),
        fmt_warmup(row),
        fmt_value(row.train_loss),
        _metric_cell(row),
        fmt_seconds(row.seconds),
        row.curve or "—",
    ]
