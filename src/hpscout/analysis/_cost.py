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

from hpscout.config import ExperimentConfig

__all__ = ["BUDGET_RATIO", "STUDY_SUFFIXES", "cost_summary", "full_samples_of", "compute_cost"]

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
    from hpscout._errors import StorageError
    from hpscout.search import load_study

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
        from hpscout.analysis._analysis_file import write_section

        write_section(config, "cost", section)
    return section
