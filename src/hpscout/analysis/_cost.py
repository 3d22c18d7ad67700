"""Cost accounting: what scouting spent, next to what one full-scale run will cost.

Spent: the sum of ``elapsed_seconds`` and ``samples_processed`` (trial user
attributes) over every trial of the search, transfer and ablation studies, in any
state: pruned, diverged and failed trials cost compute too.

Projection: ``full_samples / samples_per_second``, where

* ``samples_per_second`` = total samples processed / total seconds over the trials
  that report both (a throughput that includes model loading and evaluation, so
  the projection leans high for a long run: a conservative estimate);
* ``full_samples`` = full train rows x ``train.epochs`` of the final config, or
  ``max_steps`` x effective batch when the final config sets ``max_steps``;
* full train rows: given, else estimated as the median of ``train_samples / fraction``
  over the trials that report both.

Scouting is flagged when it exceeds 10% of the projected full run.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from hpscout._errors import StorageError
from hpscout.analysis._ablation_plan import FRACTION_KEY, default_factors
from hpscout.analysis._analysis_file import write_section
from hpscout.config import ExperimentConfig
from hpscout.search import budget_of, ladder_reduction_factor, load_study

__all__ = ["BUDGET_RATIO", "STUDY_SUFFIXES", "climb_cost", "compute_cost", "cost_summary", "full_samples_of", "preflight"]

BUDGET_RATIO = 0.10
#: scouting stage -> study name suffix
STUDY_SUFFIXES = {"search": "", "transfer": "-transfer", "ablation": "-ablation"}

METHOD = (
    "projected_full_seconds = full_samples / samples_per_second; samples_per_second = total samples processed / "
    "total seconds over the scouting trials (includes load and eval overhead, so it leans high); full_samples = "
    "full train rows x epochs of the final config (max_steps x effective batch when max_steps is set)"
)


def full_samples_of(config: ExperimentConfig, full_train_rows: int | None) -> int | None:
    """Training samples one full-data run of ``config`` processes (None when the row count is unknown)."""
    t = config.train
    if t.max_steps is not None:
        return t.max_steps * t.batch_size * t.grad_accum * t.devices
    if full_train_rows is None:
        return None
    return math.ceil(full_train_rows * t.epochs)


def cost_summary(
    per_study: Mapping[str, Sequence[tuple[float, int]] | None],
    *,
    full_samples: int | None,
    budget_ratio: float = BUDGET_RATIO,
) -> dict[str, Any]:
    """Totals per study, throughput, projection and ratio (pure).

    Args:
        per_study: stage -> [(elapsed_seconds, samples_processed)] of its trials (None: the study does not exist).
        full_samples: samples one full-scale run processes (None: unknown; no projection).
        budget_ratio: flag when scouting seconds exceed this share of the projected full run.

    Example:
        >>> out = cost_summary({"search": [(10.0, 1000), (30.0, 3000)]}, full_samples=100_000)
        >>> out["samples_per_second"], out["projected_full_seconds"], out["ratio"]
        (100.0, 1000.0, 0.04)
    """
    by_study: dict[str, Any] = {}
    total_s, total_n, tp_s, tp_n = 0.0, 0, 0.0, 0
    for stage, rows in per_study.items():
        if rows is None:
            by_study[stage] = {"exists": False, "trials": 0, "seconds": 0.0, "samples": 0}
            continue
        secs = sum(float(s or 0.0) for s, _ in rows)
        samples = sum(int(n or 0) for _, n in rows)
        by_study[stage] = {"exists": True, "trials": len(rows), "seconds": secs, "samples": samples}
        total_s += secs
        total_n += samples
        for s, n in rows:
            if s and n and s > 0 and n > 0:
                tp_s += float(s)
                tp_n += int(n)
    sps = tp_n / tp_s if tp_s > 0 else None
    projected = full_samples / sps if (sps and full_samples) else None
    ratio = total_s / projected if projected else None
    exceeds = None if ratio is None else ratio > budget_ratio
    if ratio is None:
        message = "cannot project a full run: " + (
            "no trial reported both seconds and samples" if sps is None else "the full training size is unknown"
        )
    else:
        message = f"scouting took {ratio:.1%} of one projected full run" + (
            f": more than the {budget_ratio:.0%} a scout should cost" if exceeds else ""
        )
    return {
        "scouting_seconds": total_s,
        "scouting_samples": total_n,
        "by_study": by_study,
        "samples_per_second": sps,
        "full_samples": full_samples,
        "projected_full_seconds": projected,
        "ratio": ratio,
        "budget_ratio": budget_ratio,
        "exceeds_budget": exceeds,
        "method": METHOD,
        "message": message,
    }


def _estimate_full_rows(studies: Mapping[str, Any]) -> int | None:
    guesses = []
    for study in studies.values():
        if study is None:
            continue
        for t in study.get_trials(deepcopy=False):
            rows, frac = t.user_attrs.get("train_samples"), t.user_attrs.get("fraction")
            if rows and frac and float(frac) > 0:
                guesses.append(float(rows) / float(frac))
    return round(statistics.median(guesses)) if guesses else None


def _load_studies(config: ExperimentConfig, storage: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for stage, suffix in STUDY_SUFFIXES.items():
        try:
            out[stage] = load_study(config, storage=storage, suffix=suffix)
        except StorageError as exc:
            if "no study" not in str(exc):
                raise  # an unreachable storage is an error, not a zero cost
            out[stage] = None
    return out


def compute_cost(
    config: ExperimentConfig,
    *,
    storage: str | None = None,
    studies: Mapping[str, Any] | None = None,
    final_config: ExperimentConfig | None = None,
    full_train_rows: int | None = None,
    write: bool = True,
) -> dict[str, Any]:
    """Scouting cost vs one projected full run; writes the ``cost`` section.

    Args:
        config: the experiment config (names the studies).
        storage: study storage URL (default: the search's). Studies that do not exist count as zero.
        studies: stage (``search``/``transfer``/``ablation``) -> Study or None, instead of loading them.
        final_config: the config of the full run (default ``config``); its epochs/max_steps/batch count.
        full_train_rows: rows of the full training set (default: estimated from the trials).
        write: write the section into ``<run_dir>/analysis.json``.

    Example:
        >>> compute_cost(cfg)["ratio"]  # doctest: +SKIP
        0.04
    """
    if studies is None:
        studies = _load_studies(config, storage)
    per_study = {
        stage: None
        if study is None
        else [
            (t.user_attrs.get("elapsed_seconds") or 0.0, t.user_attrs.get("samples_processed") or 0)
            for t in study.get_trials(deepcopy=False)
        ]
        for stage, study in studies.items()
    }
    rows_source = "given"
    if full_train_rows is None:
        full_train_rows = _estimate_full_rows(studies)
        rows_source = "estimated: median of train_samples / fraction over the trials"
    final = final_config or config
    full = full_samples_of(final, full_train_rows)
    section = cost_summary(per_study, full_samples=full)
    section.update(
        {
            "full_train_rows": full_train_rows,
            "full_train_rows_source": rows_source if full_train_rows is not None else "unknown",
            "full_epochs": None if final.train.max_steps is not None else final.train.epochs,
            "full_max_steps": final.train.max_steps,
        }
    )
    if write:
        write_section(config, "cost", section)
    return section


# --------------------------------------------------------------------------- preflight


def _survival(pruner: str, n_rungs: int, eta: int) -> list[float]:
    """The share of trials that reach each rung under ``pruner`` (a planning estimate, not a guarantee)."""
    if pruner in ("successive-halving", "hyperband"):
        return [float(eta) ** -i for i in range(n_rungs)]
    if pruner == "median":
        return [0.5**i for i in range(n_rungs)]
    return [1.0] * n_rungs


def climb_cost(config: ExperimentConfig) -> tuple[float, list[float]]:
    """The worst case of the transfer check in full-data runs (a run at fraction f costs f), and its rungs.

    Every rung runs ``k x seeds`` configs (plus one epsilon re-run when climbing with one
    seed); a climb stops before a rung that would take it over ``transfer.budget``.

    Example:
        >>> from hpscout.config import config_from_dict
        >>> cfg = config_from_dict({"name": "x", "data": {"train": "t.csv"}, "transfer": {"k": 2, "budget": 1.0}})
        >>> climb_cost(cfg)  # 0.1 and 0.2 x (2 configs + 1 epsilon re-run); 0.4 would exceed 1.0
        (0.9, [0.1, 0.2])
    """
    t = config.transfer
    fractions = t.climb_fractions(config.scout.fraction)
    per_rung = t.k * t.seeds + (1 if t.climb and t.seeds == 1 else 0)
    spent = 0.0
    rungs: list[float] = []
    for f in fractions:
        if t.climb and t.budget is not None and rungs and spent + f * per_rung > t.budget + 1e-9:
            break
        spent += f * per_rung
        rungs.append(f)
    return round(spent, 6), rungs


def _ablation_runs(config: ExperimentConfig) -> float:
    """The ablation's cost in full-data runs: (baseline + every level) x seeds at the scouting fraction
    (levels of ``scout.fraction`` at their own fraction); no factors means the default ones."""
    factors = config.ablation.factors or default_factors(config)
    cells = config.scout.fraction
    for key, levels in factors.items():
        for level in levels:
            frac = config.scout.fraction
            if key == FRACTION_KEY:
                text = str(level)
                try:
                    frac = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
                except ValueError:
                    pass
            cells += frac
    return cells * config.ablation.seeds


def preflight(config: ExperimentConfig, ladder: Any, *, trials: int | None = None) -> dict[str, Any]:
    """Projected scouting cost against one full-data run, before anything trains (pure).

    Costs are in full-data runs: a run on fraction f of the data for the config's epochs
    processes f x the samples of one full run (searched epochs and batch sizes are not
    weighed). Search: every trial climbs the ladder, thinned by the pruner (successive
    halving and Hyperband keep 1/eta per rung, the median rule 1/2; ``worst`` assumes no
    pruning); the transfer check at its worst case (:func:`climb_cost`); the ablation.

    Args:
        config: the config with the ladder in force.
        ladder: the :class:`hpscout.search.LadderPlan` (rows and rungs).
        trials: the trial budget (default ``search.trials``; grid: its cell count).
    """
    rungs = [r.fraction for r in ladder.rungs]
    n = budget_of(config, trials)
    eta = ladder_reduction_factor(rungs) if len(rungs) > 1 else 1
    pruner = config.search.pruner if config.search.fidelity == "fraction" else "none"
    survive = _survival(pruner, len(rungs), eta)
    per_trial_worst = sum(rungs)
    per_trial = sum(f * s for f, s in zip(rungs, survive, strict=True))
    climb, climb_rungs = climb_cost(config)
    ablation = _ablation_runs(config)
    search_worst = None if n is None else n * per_trial_worst
    search = None if n is None else n * per_trial
    total = None if search is None else search + climb + ablation
    worst = None if search_worst is None else search_worst + climb + ablation
    rows = ladder.train_rows
    full_samples = full_samples_of(config, rows)
    out: dict[str, Any] = {
        "train_rows": rows,
        "full_run_samples": full_samples,
        "trials": n,
        "pruner": pruner,
        "search_full_runs": search,
        "search_full_runs_worst": search_worst,
        "transfer_full_runs_worst": climb,
        "transfer_rungs_worst": climb_rungs,
        "ablation_full_runs": round(ablation, 6),
        "total_full_runs": total,
        "total_full_runs_worst": worst,
        "budget_ratio": BUDGET_RATIO,
        "exceeds_full_run": None if total is None else total > 1.0,
        "method": "costs in full-data runs (a run on fraction f costs f); search thinned by the pruner's "
        "promotion rate; transfer at its worst case; ablation = (baseline + levels) x seeds at scout.fraction",
    }
    out["message"], out["advice"] = _preflight_words(out, config)
    return out


def _preflight_words(p: Mapping[str, Any], config: ExperimentConfig) -> tuple[str, str | None]:
    total = p["total_full_runs"]
    if total is None:
        return (
            "preflight: the search has no trial limit (search.timeout ends it), so its cost cannot be projected; "
            f"transfer up to {p['transfer_full_runs_worst']:.2f} and ablation {p['ablation_full_runs']:.2f} full-data runs",
            None,
        )
    parts = (
        f"search {p['search_full_runs']:.2f} (no pruning: {p['search_full_runs_worst']:.2f}), transfer up to "
        f"{p['transfer_full_runs_worst']:.2f}, ablation {p['ablation_full_runs']:.2f}"
    )
    head = f"preflight: scouting is projected to process {total:.2f}x the samples of one full run ({parts})"
    if total > 1.0:
        return (
            head.replace("preflight:", "preflight: MORE THAN A FULL RUN:", 1),
            f"with {p['train_rows']} training rows, scouting costs more than training once on all of them: train on the "
            "full data with a few learning rates instead, or cut search.trials, transfer.k / transfer.budget and "
            "ablation.seeds",
        )
    if total > BUDGET_RATIO:
        return (
            head + f"; more than the {BUDGET_RATIO:.0%} a scout should cost",
            f"{p['train_rows']} training rows is too little data for scouting to cost under {BUDGET_RATIO:.0%}: "
            "the floor of scout.min_steps keeps each rung large enough to rank learning rates; fewer trials or a "
            "smaller transfer.k cost less",
        )
    return head, None
