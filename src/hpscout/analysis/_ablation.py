"""One-factor-at-a-time ablation around a baseline, with repeated seeds and Welch's tests.

Flow: :func:`resolve_baseline` picks the config to ablate around (the best search
trial, ``trial:N`` or a YAML file); :func:`ablation_plan` turns factors into
cells (both in :mod:`hpscout.analysis._ablation_plan`); :func:`run_ablation` runs
every missing cell x seed (resumable, recorded in the study ``<name>-ablation``) and
:func:`summarize_ablation` turns the outcomes into effects and verdicts (pure: no
runner, no study; in :mod:`hpscout.analysis._ablation_verdicts`).

Rules (also written into the ``rules`` entry of the output):

* every cell, the baseline included, runs with ``k`` seeds, seed ``i`` = ``config.seed + i``;
  the baseline cell is run once per seed and shared by every factor (a level equal
  to the baseline value *is* the baseline cell);
* each level is compared with the baseline by Welch's two-sided t-test on the
  seeds that finished with a finite objective; the p-values of one factor's levels
  are Holm-corrected; a level is *better*/*worse* when its Holm p < alpha;
* failures: a level where more than half of the runs diverged/failed counts as
  *worse* (a run that diverges is the worst outcome a setting can have),
  whatever its surviving seeds say; fewer failures are reported as ``n_failed``
  and the test uses the surviving seeds;
* factor verdict: ``matters`` when some level is better than the baseline,
  ``hurts`` when some level is worse and none better, ``not enough seeds`` when no
  level could be tested (n < 2 on a side), else ``no detectable effect``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hpscout._errors import ConfigError
from hpscout.analysis._ablation_plan import (
    FRACTION_KEY,
    AblationLevel,
    ablation_plan,
    cell_updates,
    default_factors,
    resolve_baseline,
)
from hpscout.analysis._ablation_verdicts import RULES, CellRun, summarize_ablation
from hpscout.analysis._analysis_file import write_section
from hpscout.analysis._cells import CellLedger, RunCell, fingerprint, slug
from hpscout.config import ExperimentConfig, apply_updates, config_to_dict

__all__ = ["run_ablation"]


def run_ablation(
    config: ExperimentConfig,
    *,
    baseline: str | None = None,
    seeds: int | None = None,
    factors: Mapping[str, Sequence[Any]] | None = None,
    storage: str | None = None,
    run_cell: RunCell | Callable[..., Any] | None = None,
    study: Any = None,
    search_study: Any = None,
    baseline_config: ExperimentConfig | None = None,
    write: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run (or resume) the ablation and write the ``ablation`` section of analysis.json.

    Args:
        config: the experiment config.
        baseline: ``best`` | ``trial:N`` | a YAML path (default ``config.ablation.baseline``).
        seeds: seeds per cell (default ``config.ablation.seeds``).
        factors: dotted key -> levels (default ``config.ablation.factors``, else :func:`default_factors`).
        storage: study storage URL (default: the search's).
        run_cell: ``(config, out_dir, fraction) -> TrialResult``; default the real runner.
        study: the ablation study (default ``<name>-ablation`` in the search storage).
        search_study: the search study used to resolve ``best``/``trial:N``.
        baseline_config: skip baseline resolution and ablate around this config.
        write: write the section into ``<run_dir>/analysis.json``.
        progress: called with one line per cell.

    Returns:
        The ablation section (see :mod:`hpscout.analysis._analysis_file`).

    Example:
        >>> section = run_ablation(cfg, seeds=3)  # doctest: +SKIP
        >>> section["factors"]["train.learning_rate"]["verdict"]  # doctest: +SKIP
        'matters'
    """
    k = _seed_count(config, seeds)
    if baseline_config is None:
        baseline_config, info = resolve_baseline(config, baseline, storage=storage, search_study=search_study)
    else:
        info = {"source": "given", "trial": None, "params": {}}
    chosen = dict(factors) if factors is not None else (dict(config.ablation.factors) or default_factors(config))
    plan = ablation_plan(baseline_config, chosen)
    ledger = CellLedger(config, "ablation", study=study, storage=storage, run_cell=run_cell, progress=progress)
    cells = _AblationCells(ledger, baseline_config, config.scout.fraction, [config.seed + i for i in range(k)])

    baseline_runs = cells.runs(None, None)
    baseline_cells = ledger.counts["cells"]
    factor_runs = {
        key: [(lv, baseline_runs if lv.is_baseline else cells.runs(key, lv)) for lv in levels]
        for key, levels in plan.items()
    }
    summary = summarize_ablation(
        baseline_runs, factor_runs, direction=config.search.direction, alpha=config.ablation.alpha
    )
    summary["baseline"].update(_baseline_source(info, cells))
    section = {
        "metric": config.search.metric,
        "direction": config.search.direction,
        "test": "welch",
        "correction": "holm",
        "alpha": config.ablation.alpha,
        "confidence": 0.95,
        "seeds": k,
        "seed_list": cells.seed_list,
        "study": getattr(ledger.study, "study_name", None),
        "rules": RULES,
        "runs": {**ledger.counts, "baseline_cells": baseline_cells},
        **summary,
    }
    if write:
        write_section(config, "ablation", section)
    return section


def _baseline_source(info: Mapping[str, Any], cells: _AblationCells) -> dict[str, Any]:
    """Where the baseline came from and what it is, for the section's ``baseline`` entry."""
    return {
        "source": info["source"],
        "trial": info.get("trial"),
        "params": info.get("params", {}),
        "fraction": cells.fraction,
        "fingerprint": cells.fp,
        "train": config_to_dict(cells.baseline)["train"],
    }


def _seed_count(config: ExperimentConfig, seeds: int | None) -> int:
    k = seeds if seeds is not None else config.ablation.seeds
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 100:
        raise ConfigError(f"--seeds must be an integer from 1 to 100, but got {k!r}")
    return k


def _cell_key(factor: str | None, level: Any, seed: int) -> str:
    if factor is None:
        return f"baseline|s{seed}"
    return f"{factor}|{json.dumps(level, sort_keys=True, default=str)}|s{seed}"


class _AblationCells:
    """The cells of the ablation: the baseline, and one per factor level, each run with every seed."""

    def __init__(self, ledger: CellLedger, baseline: ExperimentConfig, fraction: float, seed_list: list[int]) -> None:
        self.ledger, self.baseline, self.fraction, self.seed_list = ledger, baseline, fraction, seed_list
        # every cell is recorded under the baseline's fingerprint: a changed baseline reruns them all
        self.fp = fingerprint(baseline)

    def runs(self, factor: str | None, level: AblationLevel | None) -> list[CellRun]:
        """The outcome of every seed of one cell (the baseline cell when ``level`` is None or the baseline)."""
        cfg, frac = self._config(factor, level)
        runs = []
        for seed in self.seed_list:
            if level is None or level.is_baseline:
                key, name = _cell_key(None, None, seed), f"baseline_s{seed}"
            else:
                key, name = _cell_key(factor, level.value, seed), f"{slug(factor)}_{slug(level.level)}_s{seed}"
            trial = self.ledger.record(
                key=key,
                fp=self.fp,
                name=name,
                config=cfg.model_copy(update={"seed": seed}),
                fraction=frac,
                attrs={"factor": factor, "level": None if level is None else level.level},
            )
            runs.append(CellRun.from_trial(trial))
        return runs

    def _config(self, factor: str | None, level: AblationLevel | None) -> tuple[ExperimentConfig, float]:
        """The config and fraction of one cell: a ``scout.fraction`` level changes the fraction, not the config."""
        if factor is None or level is None or level.is_baseline:
            return self.baseline, self.fraction
        if factor == FRACTION_KEY:
            return self.baseline, float(level.value)
        updated = apply_updates(self.baseline, cell_updates(factor, level.value, self.baseline), source=f"ablation {factor}")
        return updated, self.fraction
