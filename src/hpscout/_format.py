"""Small text formatters shared by the terminal progress line and the report."""

from __future__ import annotations

import math

__all__ = ["format_duration"]


def format_duration(seconds: float | None, missing: str = "?") -> str:
    """``75 -> '1m15s'``, ``4000 -> '1h06m'``; ``None``, inf, NaN or negative -> ``missing``."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return missing
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"
