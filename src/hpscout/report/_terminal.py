"""The report's trial table as plain text for the terminal (same columns as the page)."""

from __future__ import annotations

from hpscout._format import text_table
from hpscout.report._data import ReportData
from hpscout.report._format import fmt_value, table_cells, table_header

__all__ = ["trial_table_text", "summary_text"]

# columns that hold numbers are right-aligned
_RIGHT = {0, 3, 4, 5, 6, 7, 8, 9}


def trial_table_text(data: ReportData, *, limit: int | None = None) -> str:
    """The ranked trial table as aligned plain text.

    Args:
        data: computed report data.
        limit: show at most this many rows (the rest are counted in a last line).

    Example:
        >>> print(trial_table_text(report_data("runs/demo")))  # doctest: +SKIP
    """
    header = table_header(data.metric)
    rows = data.rows if limit is None else data.rows[:limit]
    body = [table_cells(r) for r in rows]
    # a rule under the header, as wide as each column
    rule = ["-" * max([len(header[i]), *(len(c[i]) for c in body)]) for i in range(len(header))]
    out = [text_table(header, [rule, *body], right=_RIGHT)]
    if not body:
        out.append("(no trials in the study yet)")
    if limit is not None and len(data.rows) > limit:
        out.append(f"... {len(data.rows) - limit} more trials (see the HTML report)")
    return "\n".join(out)


def summary_text(data: ReportData) -> str:
    """Two lines: the run, its metric and the best trial."""
    counts = ", ".join(f"{n} {s}" for s, n in sorted(data.counts.items()))
    head = f"{data.run_name}: {len(data.rows)} trials ({counts or 'none'}), {data.direction} {data.metric}"
    if data.best is None:
        return head + "\nno complete trial yet"
    return head + f"\nbest: {data.best.name} {data.metric}={fmt_value(data.best.value)}"
