"""The transfer check: do the configs that ranked best on a small fraction still rank best on more data?

:func:`run_transfer` re-runs the top-k search trials (COMPLETE, measured at
``scout.fraction``) at a larger fraction, resumably, in the study
``<name>-transfer``; :func:`compare_transfer` (pure) scores the agreement.

Rules (also written into the output's ``rules``):

* small value = the search trial's objective at ``scout.fraction``; large value = the
  mean over the seeds that finished at the larger fraction;
* a config whose large-scale runs all failed ranks last at the large scale (tied
  with other such configs); it still counts in the correlations;
* ``spearman``/``kendall``: scipy's rank correlations of small vs large values
  (1 = same order; null when a side is constant);
* ``top1_agree``: the small-scale best is also the large-scale best;
* ``topk_overlap``: with ``m = min(3, n - 1)`` (so it is never trivially 1),
  ``|top-m small ∩ top-m large| / m``;
* verdict: ``held`` when top-1 agrees and Spearman >= 0.6 (or is undefined);
  ``did not hold`` when Spearman < 0.2, or the small-scale best falls outside the
  large-scale top-m; else ``partly held``;
* noise: the small-scale values of the re-run configs are *too close to separate*
  when their spread (best minus worst) is below 2 x the seed standard deviation.
  The seed sd comes from the ablation's baseline seeds (same fraction as the
  small values) when analysis.json has them, else from the transfer's own seeds
  (pooled within-config sd at the larger fraction, when seeds > 1), else it is unknown.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from hpscout._errors import ConfigError, SearchError
from hpscout.analysis._cells import (
    RunCell,
    config_for_trial,
    default_run_cell,
    done_cells,
    fingerprint,
    open_analysis_study,
    run_and_record,
    slug,
)
from hpscout.analysis._importance import top_fraction_trials
from hpscout.analysis._stats import kendall, pooled_sd, spearman
from hpscout.config import ExperimentConfig

__all__ = ["HELD_SPEARMAN", "FAILED_SPEARMAN", "NOISE_FACTOR", "topk_size", "compare_transfer", "transfer_fraction", "run_transfer"]

HELD_SPEARMAN = 0.6
FAILED_SPEARMAN = 0.2
NOISE_FACTOR = 2.0

RULES = {
    "topk_overlap": "m = min(3, n - 1); |top-m at the small fraction ∩ top-m at the large fraction| / m",
    "verdict": (
        f"held: top-1 agrees and Spearman >= {HELD_SPEARMAN} (or undefined); did not hold: Spearman < "
        f"{FAILED_SPEARMAN} or the small-scale best is outside the large-scale top-m; otherwise partly held"
    ),
    "failures": "a config whose large-scale runs all failed ranks last at the large scale (ties among such configs)",
    "noise": (
        f"too small to separate when the spread of the re-run configs' small-scale values < {NOISE_FACTOR} x seed sd; "
        "seed sd from the ablation baseline seeds, else the transfer seeds (pooled), else unknown"
    ),
}


def topk_size(n: int) -> int:
    """How many top configs ``topk_overlap`` compares: ``min(3, n - 1)``, at least 1."""
    return max(1, min(3, n - 1))


def _ranks(oriented: Sequence[float]) -> list[int]:
    """1 = best; ties share the better rank."""
    return [1 + sum(o > v for o in oriented) for v in oriented]


def compare_transfer(
    small: Sequence[float],
    large: Sequence[float | None],
    *,
    direction: str,
    noise_sd: float | None = None,
    noise_source: str = "unknown",
) -> dict[str, Any]:
    """Score how well a small-scale ranking carried over to a larger scale (pure; see the module rules).

    Args:
        small: small-scale values of the configs, in any order.
        large: large-scale values of the same configs (None: every large run failed).
        direction: ``maximize`` or ``minimize``.
        noise_sd: seed standard deviation of the metric at the small fraction, if known.
        noise_source: where ``noise_sd`` came from.

    Returns:
        ``{"spearman", "kendall", "top1_agree", "topk", "topk_overlap", "rank_small", "rank_large",
        "verdict", "trust", "noise": {...}}``.

    Example:
        >>> compare_transfer([0.1, 0.2, 0.3], [0.15, 0.25, 0.35], direction="minimize")["verdict"]
        'held'
    """
    if direction not in ("maximize", "minimize"):
        raise ValueError(f"direction must be 'maximize' or 'minimize', but got {direction!r}")
    n = len(small)
    if n != len(large):
        raise ValueError(f"small and large must have the same length, but got {n} and {len(large)}")
    if n < 2:
        raise SearchError(f"the transfer check compares >= 2 configs, but got {n}")
    sign = 1.0 if direction == "maximize" else -1.0
    gs = [sign * float(v) for v in small]
    finite_large = [sign * float(v) for v in large if v is not None and math.isfinite(v)]
    worst = (min(finite_large) - 1.0) if finite_large else 0.0
    gl = [sign * float(v) if v is not None and math.isfinite(v) else worst for v in large]

    rho = spearman(gs, gl)
    tau = kendall(gs, gl)
    rank_small, rank_large = _ranks(gs), _ranks(gl)
    best_small = max(range(n), key=lambda i: gs[i])
    top1 = bool(finite_large) and rank_large[best_small] == 1 and large[best_small] is not None
    m = topk_size(n)
    top_small = set(sorted(range(n), key=lambda i: -gs[i])[:m])
    top_large = set(sorted(range(n), key=lambda i: -gl[i])[:m]) if finite_large else set()
    overlap = len(top_small & top_large) / m

    best_in_large_topm = best_small in top_large
    if top1 and (rho is None or rho >= HELD_SPEARMAN):
        verdict = "held"
    elif (rho is not None and rho < FAILED_SPEARMAN) or not best_in_large_topm:
        verdict = "did not hold"
    else:
        verdict = "partly held"

    spread = max(gs) - min(gs)
    if noise_sd is None:
        too_small = None
        noise_msg = "seed noise unknown (no ablation baseline seeds, transfer seeds = 1): cannot tell ranking from noise"
    else:
        too_small = spread < NOISE_FACTOR * noise_sd
        noise_msg = (
            f"the top configs' small-scale values span {spread:.4g}, less than {NOISE_FACTOR:g} x seed sd "
            f"({noise_sd:.4g}): this subset is too small to separate them from noise"
            if too_small
            else f"the top configs' small-scale values span {spread:.4g}, more than {NOISE_FACTOR:g} x seed sd ({noise_sd:.4g})"
        )
    trust = {
        "held": "the small-scale choice held at the larger fraction: use the scouted best",
        "partly held": f"the ranking only roughly held: choose among the top-{m} by their large-scale values",
        "did not hold": "the small-scale ranking did not survive: do not trust it; scout at a larger fraction "
        "or choose by the large-scale values",
    }[verdict]
    if too_small:
        trust += "; the top configs are within seed noise at the small fraction, so their order there means little"
    return {
        "spearman": rho,
        "kendall": tau,
        "top1_agree": top1,
        "topk": m,
        "topk_overlap": overlap,
        "rank_small": rank_small,
        "rank_large": rank_large,
        "verdict": verdict,
        "trust": trust,
        "noise": {
            "sd": noise_sd,
            "source": noise_source if noise_sd is not None else "unknown",
            "top_spread": abs(spread),
            "too_small_to_separate": too_small,
            "rule": RULES["noise"],
            "message": noise_msg,
        },
    }


def transfer_fraction(config: ExperimentConfig, fraction: float | None = None) -> float:
    """The larger fraction: ``fraction``, else ``transfer.fraction``, else ``4 x scout.fraction`` capped at 1."""
    large = fraction if fraction is not None else config.transfer.resolve_fraction(config.scout.fraction)
    if not 0 < large <= 1:
        raise ConfigError(f"--fraction must be in (0, 1], but got {large}")
    if large <= config.scout.fraction:
        raise ConfigError(
            f"the transfer fraction must be larger than scout.fraction ({config.scout.fraction}), but got {large}"
        )
    return float(large)


def _ablation_noise(config: ExperimentConfig) -> float | None:
    from hpscout.analysis._analysis_file import read_analysis

    base = (read_analysis(config).get("ablation") or {}).get("baseline") or {}
    frac = base.get("fraction")
    if base.get("sd") is None or (base.get("n") or 0) < 2 or frac is None:
        return None
    return float(base["sd"]) if math.isclose(float(frac), config.scout.fraction, rel_tol=1e-9) else None


def run_transfer(
    config: ExperimentConfig,
    *,
    k: int | None = None,
    fraction: float | None = None,
    seeds: int | None = None,
    storage: str | None = None,
    run_cell: RunCell | Callable[..., Any] | None = None,
    study: Any = None,
    search_study: Any = None,
    write: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Re-run the top-k search configs at a larger fraction (resumable) and write the ``transfer`` section.

    Args:
        config: the experiment config.
        k: how many top configs (default ``transfer.k``).
        fraction: the larger fraction (see :func:`transfer_fraction`); 1.0 is the full data.
        seeds: seeds per config (default ``transfer.seeds``); seed i = ``config.seed + i``.
        storage: study storage URL (default: the search's).
        run_cell: ``(config, out_dir, fraction) -> TrialResult``; default the real runner.
        study: the transfer study (default ``<name>-transfer``).
        search_study: the search study (default ``<name>``).
        write: write the section into ``<run_dir>/analysis.json``.
        progress: called with one line per run.

    Example:
        >>> run_transfer(cfg, k=5, fraction=1.0)["verdict"]  # doctest: +SKIP
        'held'
    """
    from hpscout.store import RunLayout

    k = k if k is not None else config.transfer.k
    n_seeds = seeds if seeds is not None else config.transfer.seeds
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ConfigError(f"--k must be an integer >= 2, but got {k!r}")
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, int) or not 1 <= n_seeds <= 20:
        raise ConfigError(f"--seeds must be an integer from 1 to 20, but got {n_seeds!r}")
    large = transfer_fraction(config, fraction)
    small = config.scout.fraction
    if search_study is None:
        from hpscout.search import load_study

        search_study = load_study(config, storage=storage)
    sign = 1 if config.greater_is_better else -1
    ranked = sorted(top_fraction_trials(search_study, small), key=lambda t: -sign * t.value)[:k]
    if len(ranked) < 2:
        raise SearchError(
            f"the transfer check needs >= 2 COMPLETE search trials at fraction {small} in study "
            f"{search_study.study_name!r}, but found {len(ranked)}; run `hpscout search` first"
        )
    if study is None:
        study = open_analysis_study(config, "-transfer", storage)
    run_cell = run_cell or default_run_cell
    say = progress or (lambda _msg: None)
    root = RunLayout.of(config).root / "transfer"
    done = done_cells(study)
    seed_list = [config.seed + i for i in range(n_seeds)]
    counts = {"cells": 0, "ran": 0, "reused": 0}

    rows = []
    for t in ranked:
        trial_cfg = config_for_trial(config, t)
        fp = fingerprint(trial_cfg)
        values, failed = [], 0
        for seed in seed_list:
            key = f"trial{t.number}|f{large!r}|s{seed}"
            counts["cells"] += 1
            rec = done.get((key, fp))
            if rec is None:
                name = f"t{t.number}_f{slug(large)}_s{seed}"
                say(f"transfer: running {name}")
                rec = run_and_record(
                    study,
                    key=key,
                    fp=fp,
                    config=trial_cfg.model_copy(update={"seed": seed}),
                    out_dir=root / name,
                    fraction=large,
                    run_cell=run_cell,
                    attrs={"kind": "transfer", "source_trial": t.number},
                )
                done[(key, fp)] = rec
                counts["ran"] += 1
            else:
                counts["reused"] += 1
            if rec.state.name == "COMPLETE" and rec.value is not None and math.isfinite(rec.value):
                values.append(float(rec.value))
            else:
                failed += 1
        rows.append(
            {
                "trial": t.number,
                "params": dict(t.params),
                "small_value": float(t.value),
                "large_value": (sum(values) / len(values)) if values else None,
                "large_values": values,
                "n_failed": failed,
            }
        )

    noise_sd, source = _ablation_noise(config), "ablation baseline seeds"
    if noise_sd is None and n_seeds > 1:
        noise_sd, source = pooled_sd([r["large_values"] for r in rows]), "transfer seeds (pooled, at the larger fraction)"
    scores = compare_transfer(
        [r["small_value"] for r in rows],
        [r["large_value"] for r in rows],
        direction=config.search.direction,
        noise_sd=noise_sd,
        noise_source=source,
    )
    for r, rs, rl in zip(rows, scores.pop("rank_small"), scores.pop("rank_large"), strict=True):
        r["rank_small"], r["rank_large"] = rs, rl
    section = {
        "metric": config.search.metric,
        "direction": config.search.direction,
        "study": getattr(study, "study_name", None),
        "small_fraction": small,
        "large_fraction": large,
        "k": k,
        "seeds": n_seeds,
        "seed_list": seed_list,
        "configs": rows,
        "rules": RULES,
        "runs": counts,
        **scores,
    }
    if write:
        from hpscout.analysis._analysis_file import write_section

        write_section(config, "transfer", section)
    return section
