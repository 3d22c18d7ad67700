"""The transfer check: do the configs that ranked best on a small fraction still rank best on more data?

:func:`run_transfer` re-runs the top-k search trials (COMPLETE, measured at
``scout.fraction``) at larger fractions, resumably, in the study ``<name>-transfer``;
:func:`compare_transfer` (pure) scores the agreement of two rungs and
:func:`soft_agreement` (pure) decides whether a climb may stop.

The climb (``transfer.climb``, the default; progressive resource allocation after
PASHA, Bohdal et al., ICLR 2023, with data fractions as the resource): the top-k
are re-run one rung at a time (``TransferConfig.climb_fractions``: ~2x per rung up
to ``transfer.max_fraction``); after each rung the order of the configs at the two
largest rungs is compared with differences below epsilon counted as ties, and the
climb stops when they agree, at ``max_fraction``, or before a rung that would push
the climb's cost over ``transfer.budget`` (counted in full-data runs: a run at
fraction f costs f). Epsilon is seed noise: with ``transfer.seeds`` >= 2,
sqrt(2) x the pooled seed sd at the rung; else the top config of the rung is re-run
with one more seed and epsilon = |difference| (the spread of two single runs).
The pick is the best config at the highest rung reached. A climb that stopped
without agreement (below the full data) leaves the pick *untrusted* and names the
fraction it would have needed next. ``transfer.climb: false`` keeps the one-shot
check: one rung at ``transfer.fraction`` (default 4 x scout.fraction).

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

__all__ = [
    "HELD_SPEARMAN",
    "FAILED_SPEARMAN",
    "NOISE_FACTOR",
    "topk_size",
    "compare_transfer",
    "soft_agreement",
    "transfer_fraction",
    "transfer_trust",
    "run_transfer",
]

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
    "climb": (
        "re-run the top-k one rung at a time (~2x the fraction); stop when the two largest rungs agree (the "
        "smaller rung's best is within epsilon of the larger rung's best, and no pair of the top configs is in "
        "opposite order by more than epsilon at both rungs), at transfer.max_fraction, or before a rung that would "
        "take the climb over transfer.budget full-data runs; epsilon = sqrt(2) x pooled seed sd with >= 2 seeds, "
        "else |difference| of the rung's top config re-run with one more seed; the pick is the best config at the "
        "highest rung reached"
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


def soft_agreement(
    small: Sequence[float | None],
    large: Sequence[float | None],
    *,
    direction: str,
    epsilon: float | None,
) -> dict[str, Any]:
    """Do two rungs order the same configs alike, counting differences within ``epsilon`` as ties? (pure)

    ``top1_agree``: the smaller rung's best is within ``epsilon`` of the larger rung's best
    there. ``discordant``: pairs among the top configs (top-m of either rung, m =
    :func:`topk_size`) that the two rungs order oppositely by more than ``epsilon`` at
    both. They agree when ``top1_agree`` and no pair is discordant. A failed run (None)
    ranks below every finished one by more than ``epsilon``.

    Example:
        >>> soft_agreement([0.80, 0.79, 0.70], [0.851, 0.853, 0.80], direction="maximize", epsilon=0.01)["agree"]
        True
        >>> soft_agreement([0.80, 0.79, 0.70], [0.80, 0.85, 0.70], direction="maximize", epsilon=0.01)["agree"]
        False
    """
    if direction not in ("maximize", "minimize"):
        raise ValueError(f"direction must be 'maximize' or 'minimize', but got {direction!r}")
    if len(small) != len(large):
        raise ValueError(f"small and large must have the same length, but got {len(small)} and {len(large)}")
    eps = max(0.0, float(epsilon)) if epsilon is not None and math.isfinite(epsilon) else 0.0
    sign = 1.0 if direction == "maximize" else -1.0
    gs, gl = _oriented(small, sign, eps), _oriented(large, sign, eps)
    n = len(gs)
    if n == 0 or all(v is None for v in large):
        return {"top1_agree": False, "discordant": [], "agree": False, "epsilon": eps}
    best_small = max(range(n), key=lambda i: gs[i])
    top1 = large[best_small] is not None and gl[best_small] >= max(gl) - eps
    m = topk_size(n)
    top = set(sorted(range(n), key=lambda i: -gs[i])[:m]) | set(sorted(range(n), key=lambda i: -gl[i])[:m])
    discordant = [
        [i, j]
        for i in sorted(top)
        for j in sorted(top)
        if i < j and abs(gs[i] - gs[j]) > eps and abs(gl[i] - gl[j]) > eps and (gs[i] - gs[j]) * (gl[i] - gl[j]) < 0
    ]
    return {"top1_agree": bool(top1), "discordant": discordant, "agree": bool(top1 and not discordant), "epsilon": eps}


def _oriented(values: Sequence[float | None], sign: float, eps: float) -> list[float]:
    """Values with higher = better; a failed run (None) sits below every finished one by more than ``eps``."""
    finite = [sign * float(v) for v in values if v is not None and math.isfinite(v)]
    floor = (min(finite) if finite else 0.0) - 2 * eps - 1.0
    return [sign * float(v) if v is not None and math.isfinite(v) else floor for v in values]


def transfer_fraction(config: ExperimentConfig, fraction: float | None = None) -> float:
    """The (first) larger fraction: ``fraction``, else ``transfer.fraction``, else the default
    (2 x scout.fraction when climbing, 4 x one-shot; capped at 1)."""
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


def _mean(values: Sequence[float]) -> float | None:
    return (sum(values) / len(values)) if values else None


class _Cells:
    """Runs (or reuses) transfer cells, one config x seed x fraction each, recorded in the transfer study."""

    def __init__(self, config: ExperimentConfig, study: Any, run_cell: Any, say: Callable[[str], None]) -> None:
        from hpscout.store import RunLayout

        self.config, self.study, self.run_cell, self.say = config, study, run_cell, say
        self.root = RunLayout.of(config).root / "transfer"
        self.done = done_cells(study)
        self.counts = {"cells": 0, "ran": 0, "reused": 0}

    def _record(self, trial: Any, seed: int, fraction: float) -> Any:
        trial_cfg = config_for_trial(self.config, trial)
        fp = fingerprint(trial_cfg)
        key = f"trial{trial.number}|f{fraction!r}|s{seed}"
        rec = self.done.get((key, fp))
        if rec is not None:
            self.counts["reused"] += 1
            return rec
        name = f"t{trial.number}_f{slug(fraction)}_s{seed}"
        self.say(f"transfer: running {name}")
        rec = run_and_record(
            self.study,
            key=key,
            fp=fp,
            config=trial_cfg.model_copy(update={"seed": seed}),
            out_dir=self.root / name,
            fraction=fraction,
            run_cell=self.run_cell,
            attrs={"kind": "transfer", "source_trial": trial.number},
        )
        self.done[(key, fp)] = rec
        self.counts["ran"] += 1
        return rec

    def value(self, trial: Any, seed: int, fraction: float) -> float | None:
        """The objective of ``trial``'s config with ``seed`` at ``fraction`` (None: the run failed)."""
        self.counts["cells"] += 1
        rec = self._record(trial, seed, fraction)
        if rec.state.name == "COMPLETE" and rec.value is not None and math.isfinite(rec.value):
            return float(rec.value)
        return None

    def steps(self, trial: Any, seed: int, fraction: float) -> int | None:
        """Optimizer steps the cell's run took (None when it did not record them)."""
        rec = self.done.get((f"trial{trial.number}|f{fraction!r}|s{seed}", fingerprint(config_for_trial(self.config, trial))))
        steps = rec.user_attrs.get("steps") if rec is not None else None
        return int(steps) if steps else None


def _rung_epsilon(
    cells: _Cells, ranked: Sequence[Any], values: list[list[float]], seed_list: list[int], fraction: float, sign: int
) -> tuple[float | None, str]:
    """Seed noise at a rung, as the spread expected between two single runs of one config."""
    if len(seed_list) > 1:
        sd = pooled_sd(values)
        if sd is not None:
            return math.sqrt(2) * sd, f"sqrt(2) x pooled sd of {len(seed_list)} seeds per config"
    means = [_mean(v) for v in values]
    finite = [i for i, m in enumerate(means) if m is not None]
    if not finite:
        return None, "unknown: every run at this rung failed"
    top = max(finite, key=lambda i: sign * float(means[i]))  # type: ignore[arg-type]
    extra_seed = seed_list[-1] + 1
    other = cells.value(ranked[top], extra_seed, fraction)
    if other is None:
        return None, f"unknown: the re-run of trial {ranked[top].number} with seed {extra_seed} failed"
    return abs(other - values[top][0]), f"|difference| of trial {ranked[top].number} with seeds {seed_list[0]} and {extra_seed}"


def _decide(
    climbing: bool, agreed: bool, all_failed: bool, fraction: float, next_fraction: float | None, over_budget: bool
) -> tuple[str, str | None]:
    """(decision, stop reason or None to climb on) after a rung."""
    if all_failed:
        return "every run at this rung failed: the check could not run here; keep the smaller rung's pick", "failed"
    if agreed:
        return "agreed: stop", "agreed"
    if not climbing:
        return "one-shot check: stop", "one-shot"
    if fraction >= 1.0 - 1e-12:
        return "disagreed at the full data: the pick is measured on all of it", "full data"
    if next_fraction is None:
        return "disagreed: stop at transfer.max_fraction", "max_fraction"
    if over_budget:
        return f"disagreed: stop, climbing to {next_fraction:g} would exceed transfer.budget", "budget"
    return f"disagreed: climb to {next_fraction:g}", None


def run_transfer(
    config: ExperimentConfig,
    *,
    k: int | None = None,
    fraction: float | None = None,
    seeds: int | None = None,
    climb: bool | None = None,
    storage: str | None = None,
    run_cell: RunCell | Callable[..., Any] | None = None,
    study: Any = None,
    search_study: Any = None,
    write: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Re-run the top-k search configs at larger fractions (resumable) and write the ``transfer`` section.

    Args:
        config: the experiment config (with the ladder in force: :func:`hpscout.search.resolve_scout`).
        k: how many top configs (default ``transfer.k``).
        fraction: the first larger fraction (see :func:`transfer_fraction`); 1.0 is the full data.
        seeds: seeds per config (default ``transfer.seeds``); seed i = ``config.seed + i``.
        climb: climb rung by rung (default ``transfer.climb``; see the module docstring).
        storage: study storage URL (default: the search's).
        run_cell: ``(config, out_dir, fraction) -> TrialResult``; default the real runner.
        study: the transfer study (default ``<name>-transfer``).
        search_study: the search study (default ``<name>``).
        write: write the section into ``<run_dir>/analysis.json``.
        progress: called with one line per run and per rung decision.

    Returns:
        The section: the one-shot fields (scout fraction vs the final rung), plus ``rungs``
        (``fraction, steps, values, spearman, top1_agree, epsilon, decision`` per rung),
        ``final_fraction``, ``pick``, ``trusted``, ``needed_fraction`` and ``stop_reason``.

    Example:
        >>> run_transfer(cfg)["final_fraction"]  # doctest: +SKIP
        0.2
    """
    k = k if k is not None else config.transfer.k
    n_seeds = seeds if seeds is not None else config.transfer.seeds
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ConfigError(f"--k must be an integer >= 2, but got {k!r}")
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, int) or not 1 <= n_seeds <= 20:
        raise ConfigError(f"--seeds must be an integer from 1 to 20, but got {n_seeds!r}")
    climbing = config.transfer.climb if climb is None else bool(climb)
    first = transfer_fraction(config, fraction)
    fractions = config.transfer.model_copy(update={"fraction": first, "climb": climbing}).climb_fractions(
        config.scout.fraction
    ) or [first]
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
    say = progress or (lambda _msg: None)
    cells = _Cells(config, study, run_cell or default_run_cell, say)
    seed_list = [config.seed + i for i in range(n_seeds)]
    budget = config.transfer.budget if climbing else None
    per_rung_runs = len(ranked) * n_seeds + (1 if climbing and n_seeds == 1 else 0)  # + the epsilon re-run

    prev: list[float | None] = [float(t.value) for t in ranked]
    prev_eps: float | None = None
    reached: list[tuple[float, list[float | None], list[list[float]]]] = []  # rungs with a finished run
    rungs: list[dict[str, Any]] = []
    spent, stop_reason, needed = 0.0, "", None
    for i, frac in enumerate(fractions):
        values = [[v for s in seed_list if (v := cells.value(t, s, frac)) is not None] for t in ranked]
        means = [_mean(v) for v in values]
        eps, eps_source = None, "not measured (one-shot check)"
        if climbing:
            eps, eps_source = _rung_epsilon(cells, ranked, values, seed_list, frac, sign)
        spent += frac * per_rung_runs
        both_eps = max((e for e in (eps, prev_eps) if e is not None), default=None)
        soft = soft_agreement(prev, means, direction=config.search.direction, epsilon=both_eps)
        nxt = fractions[i + 1] if i + 1 < len(fractions) else None
        over = budget is not None and nxt is not None and spent + nxt * per_rung_runs > budget + 1e-9
        all_failed = all(m is None for m in means)
        decision, stop = _decide(climbing, soft["agree"], all_failed, frac, nxt, over)
        rungs.append(
            {
                "fraction": frac,
                "steps": max((s for t in ranked if (s := cells.steps(t, seed_list[0], frac))), default=None),
                "trials": [t.number for t in ranked],
                "values": means,
                "spearman": spearman(_oriented(prev, sign, 0.0), _oriented(means, sign, 0.0)),
                "top1_agree": soft["top1_agree"],
                "discordant": soft["discordant"],
                "epsilon": soft["epsilon"] if both_eps is not None else None,
                "epsilon_source": eps_source,
                "agree": soft["agree"],
                "decision": decision,
                "spent_full_runs": round(spent, 6),
            }
        )
        say(f"transfer: rung {frac:g}: {decision}")
        if not all_failed:
            reached.append((frac, means, values))
        if stop is not None:
            stop_reason = stop
            if stop in ("max_fraction", "budget"):
                needed = nxt if nxt is not None else min(1.0, 2 * frac)
            break
        prev, prev_eps = means, eps
    section = _section(config, ranked, reached, rungs, stop_reason, needed, climbing=climbing, k=k, seed_list=seed_list)
    section.update({"study": getattr(study, "study_name", None), "runs": cells.counts})
    if write:
        from hpscout.analysis._analysis_file import write_section

        write_section(config, "transfer", section)
    return section


_WHY = {
    "agreed": "the two largest rungs agreed",
    "one-shot": "one-shot check",
    "full data": "measured on the full data",
    "max_fraction": "stopped at transfer.max_fraction without agreement",
    "budget": "stopped by transfer.budget without agreement",
    "failed": "every run at the next rung failed",
}


def _section(
    config: ExperimentConfig,
    ranked: Sequence[Any],
    reached: list[tuple[float, list[float | None], list[list[float]]]],
    rungs: list[dict[str, Any]],
    stop_reason: str,
    needed: float | None,
    *,
    climbing: bool,
    k: int,
    seed_list: list[int],
) -> dict[str, Any]:
    """The ``transfer`` section: the pick at the highest rung with values, and the scout-vs-final scores."""
    sign = 1 if config.greater_is_better else -1
    small = config.scout.fraction
    if reached:
        final_fraction, final_means, per_seed = reached[-1]
    else:  # every larger run failed: keep the small-scale pick
        final_fraction, final_means, per_seed = small, [float(t.value) for t in ranked], [[] for _ in ranked]
    best = max((i for i, m in enumerate(final_means) if m is not None), key=lambda i: sign * float(final_means[i]))  # type: ignore[arg-type]
    trusted = bool(reached) and stop_reason in ("agreed", "one-shot", "full data")
    if not reached:
        why = f"trial {ranked[best].number}: the search's best at {small:g}; the transfer check could not run (every larger run failed)"
    else:
        why = (
            f"trial {ranked[best].number}: best {config.search.metric} {final_means[best]:.4g} at fraction "
            f"{final_fraction:g}, the highest rung the transfer check reached ({_WHY.get(stop_reason, stop_reason)})"
        )
    rows = [
        {
            "trial": t.number,
            "params": dict(t.params),
            "small_value": float(t.value),
            "large_value": final_means[i] if reached else None,
            "large_values": per_seed[i],
            "n_failed": (len(seed_list) - len(per_seed[i])) if reached else len(seed_list),
            "values_by_rung": {f"{f:g}": means[i] for f, means, _ in reached},
        }
        for i, t in enumerate(ranked)
    ]
    noise_sd, source = _ablation_noise(config), "ablation baseline seeds"
    if noise_sd is None and len(seed_list) > 1:
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
    return {
        "metric": config.search.metric,
        "direction": config.search.direction,
        "small_fraction": small,
        "large_fraction": final_fraction,
        "final_fraction": final_fraction,
        "climb": climbing,
        "k": k,
        "seeds": len(seed_list),
        "seed_list": seed_list,
        "configs": rows,
        "rungs": rungs,
        "pick": {
            "trial": ranked[best].number,
            "params": dict(ranked[best].params),
            "value": final_means[best],
            "fraction": final_fraction,
            "why": why,
        },
        "trusted": trusted,
        "stop_reason": stop_reason,
        "needed_fraction": needed,
        "budget": config.transfer.budget if climbing else None,
        "max_fraction": config.transfer.max_fraction if climbing else None,
        "rules": RULES,
        **scores,
    }


def transfer_trust(transfer: dict[str, Any]) -> tuple[bool, str | None]:
    """(trusted, warning) of a transfer section: a climb that stopped without agreement below
    the full data is untrusted, and the warning names the fraction it would have needed next."""
    if not transfer or transfer.get("trusted") is None:
        return True, None
    if transfer["trusted"]:
        return True, None
    needed = transfer.get("needed_fraction")
    if transfer.get("stop_reason") == "failed" or not transfer.get("rungs"):
        return False, "UNTRUSTED: the transfer check could not run (every larger run failed); this is the small-scale pick"
    return False, (
        f"UNTRUSTED: the transfer climb stopped at fraction {transfer.get('final_fraction')} without the two largest "
        f"rungs agreeing ({transfer.get('stop_reason')})"
        + (f"; it would have needed fraction {needed:g} next (raise transfer.budget or transfer.max_fraction)" if needed else "")
    )
