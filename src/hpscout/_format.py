"""Small text formatters shared by the terminal progress line and the report."""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence

__all__ = ["format_duration", "text_table"]


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


def text_table(header: Sequence[str], rows: Iterable[Sequence[object]], *, right: Iterable[int] = ()) -> str:
    """Rows as an aligned plain-text table (rich's table layout, no borders, no colour, never wrapped).

    Args:
        header: column titles; an empty sequence prints no header line.
        rows: cells, converted with ``str``.
        right: indices of the columns to right-align (numbers).

    Example:
        >>> print(text_table(["#", "state"], [[3, "COMPLETE"], [12, "PRUNED"]], right=[0]))
         #  state
         3  COMPLETE
        12  PRUNED
    """
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    right_cols = set(right)
    table = Table(box=None, show_header=bool(header), show_edge=False, pad_edge=False, padding=(0, 2, 0, 0),
                  header_style="", highlight=False)
    cells = [[str(c) for c in r] for r in rows]
    ncols = len(header) if header else max((len(r) for r in cells), default=0)
    for i in range(ncols):
        table.add_column(Text(header[i]) if header else "", justify="right" if i in right_cols else "left", no_wrap=True)
    for r in cells:
        table.add_row(*(Text(c) for c in r))  # plain text: "[x]" is a cell, not rich markup
    buf = io.StringIO()
    Console(file=buf, width=100_000, color_system=None, force_terminal=False, legacy_windows=False).print(table)
    return "\n".join(line.rstrip() for line in buf.getvalue().splitlines())
