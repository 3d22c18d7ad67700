"""Compute the report: plain data from the store, no plotting library involved.

Everything here reads the run folder (``config.yaml``, ``trials/*/result.json``,
``top/``, ``final/``, ``analysis.json``) and the Optuna study the search stored;
nothing talks to a live search. :func:`report_data` returns a
:class:`ReportData` that :mod:`hpscout.report._figures` draws,
:mod:`hpscout.report._html` assembles and :mod:`hpscout.report._terminal` prints.
The rows come from :mod:`hpscout.report._data_trials`, the plot series from
:mod:`hpscout.report._data_series`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from hpscout._errors import StorageError
from hpscout.analysis import read_analysis
from hpscout.config import ExperimentConfig
from hpscout.report._data_series import (
    MAX_CURVES,
    ablation_series,
    climb_series,
    curve_series,
    history_series,
    importance_series,
    lora_series,
    lr_law_series,
    parallel_series,
    param_series,
    schedule_series,
    transfer_series,
)
from hpscout.report._data_trials import best_config, final_config_of, final_files, rank_rows, trial_rows
from hpscout.report._data_types import FAILED_STATUSES, PLOT_KEYS, FinalFile, PlotData, ReportData, TrialRow
from hpscout.search import load_study, mask_url, storage_url
from hpscout.store import RunLayout, load_run_config

__all__ = ["TrialRow", "PlotData", "FinalFile", "ReportData", "report_data", "load_run_config", "open_run_study",
           "PLOT_KEYS", "FAILED_STATUSES"]


def open_run_study(config: ExperimentConfig, storage: str | None = None) -> tuple[Any, str]:
    """Load the search study of a run, read-only; returns ``(study, storage URL with the password masked)``.

    Storage: ``storage`` when given, else the config's ``storage``, else the search
    stage's default file under the run folder (:func:`hpscout.search.storage_url`).
    A missing local file is an error, never silently created.
    """
    target = storage_url(config, storage)
    if target.startswith("sqlite:///") and not Path(target[len("sqlite:///"):]).exists():
        raise StorageError(f"no study yet: {target[len('sqlite:///'):]} does not exist (run `hpscout search` first)")
    return load_study(config, storage=storage), mask_url(target)


def report_data(run_dir: str | Path, storage: str | None = None) -> ReportData:
    """Read a run folder and its study into a :class:`ReportData` (compute only, nothing drawn).

    Args:
        run_dir: the run folder (holds ``config.yaml``).
        storage: Optuna storage URL; default: the config's, else the run folder's file.

    Example:
        >>> data = report_data("runs/sst2-minilm-lora")  # doctest: +SKIP
        >>> data.best.name, data.best.value  # doctest: +SKIP
        ('t0011', 0.883)
    """
    root = Path(run_dir)
    config = load_run_config(root)
    layout = RunLayout(root)
    study, shown = open_run_study(config, storage)
    analysis = read_analysis(layout.analysis)
    maximize = config.search.direction == "maximize"
    metric = config.search.metric

    rows, results = trial_rows(study, config, layout)
    rows = rank_rows(rows, maximize)
    best = rows[0] if rows and rows[0].rank == 1 else None
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    failed = [r for r in sorted(rows, key=lambda r: r.number) if r.status in FAILED_STATUSES]
    final_cfg, final_source = final_config_of(layout, config, best, results)
    notes: list[str] = []
    if best is None:
        notes.append("no trial completed yet, so there is no best config")

    plots = {
        "history": history_series(study, rows, maximize),
        "lr": param_series(rows, "learning_rate", "Learning rate vs " + metric, "train.learning_rate", log=True),
        "lora_r": lora_series(rows, config, metric),
        "trainable_params": param_series(rows, "trainable_params", f"Trainable parameters vs {metric}",
                                         "trainable parameters", log=True),
        "parallel": parallel_series(rows, metric),
        "importance": importance_series(analysis.get("importance")),
        "curves": curve_series(rows, results, metric, min(config.search.top_k, MAX_CURVES)),
        "schedule": schedule_series(final_cfg, final_source, best, results, analysis.get("cost")),
        "ablation": ablation_series(analysis.get("ablation")),
        "transfer": transfer_series(analysis.get("transfer")),
        "climb": climb_series(analysis.get("transfer")),
        "lr_law": lr_law_series(analysis.get("lr_scaling")),
    }
    return ReportData(
        run_name=config.name,
        run_dir=root,
        study_name=study.study_name,
        storage=shown,
        metric=metric,
        direction=config.search.direction,
        task=config.task,
        method=config.train.method,
        rows=rows,
        best=best,
        best_config=best_config(best, final_cfg, final_source, config, layout),
        final_files=final_files(layout),
        failed=failed,
        counts=counts,
        plots=plots,
        ablation=_section(analysis, "ablation"),
        importance=_section(analysis, "importance"),
        transfer=_section(analysis, "transfer"),
        cost=_section(analysis, "cost"),
        lr_scaling=_section(analysis, "lr_scaling"),
        generated=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        notes=notes,
        ladder=[r for r in analysis.get("ladder") or [] if isinstance(r, dict)],
        preflight=_section(analysis, "preflight"),
    )


def _section(analysis: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = analysis.get(name)
    return value if isinstance(value, dict) else None
