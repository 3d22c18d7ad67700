"""The report: a ranked trial table, plots and the analysis verdicts as one static HTML page.

Compute, then draw: :func:`report_data` reads the run folder and its study into
plain data (no plotting library); :func:`build_report` draws it with plotly and
writes ``<run_dir>/report/index.html``, self-contained (plotly.js inlined once).
The report reads only the store, never a live search.

Example:
    >>> from hpscout.report import build_report
    >>> build_report("runs/sst2-minilm-lora")  # doctest: +SKIP
    PosixPath('runs/sst2-minilm-lora/report/index.html')
"""

from hpscout.report._data import (
    FAILED_STATUSES,
    PLOT_KEYS,
    FinalFile,
    PlotData,
    ReportData,
    TrialRow,
    load_run_config,
    open_run_study,
    report_data,
)
from hpscout.report._html import build_report, render_html, write_report
from hpscout.report._terminal import summary_text, trial_table_text

__all__ = [
    "FAILED_STATUSES",
    "PLOT_KEYS",
    "FinalFile",
    "PlotData",
    "ReportData",
    "TrialRow",
    "build_report",
    "load_run_config",
    "open_run_study",
    "render_html",
    "report_data",
    "summary_text",
    "trial_table_text",
    "write_report",
]
