"""Running the transfer check: re-run the top-k search configs at larger fractions, rung by rung.

:func:`run_transfer` re-runs the top-k search trials (COMPLETE, measured at
``scout.fraction``) at larger fractions, resumably, in the study ``<name>-transfer``,
and scores each rung with :mod:`hpscout.analysis._transfer` (the rules are there).

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
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hpscout._checks import check_fraction
from hpscout._errors import ConfigError, SearchError
from hpscout.analysis._analysis_file import read_analysis, write_section
from hpscout.analysis._cells import CellLedger, RunCell, config_for_trial, fingerprint, slug
from hpscout.analysis._importance import best_first
from hpscout.analysis._stats import pooled_sd, spearman
from hpscout.analysis._transfer import RULES, compare_transfer, oriented, soft_agreement
from hpscout.config import ExperimentConfig
from hpscout.search import load_study

__all__ = ["run_transfer", "transfer_fraction"]

#: a rung that reached values: (fraction, mean per config or None, finished values per config)
_Reached = tuple[float, list[float | None], list[list[float]]]


def transfer_fraction(config: ExperimentConfig, fraction: float | None = None) -> float:
    """The (first) larger fraction: ``fraction``, else ``transfer.fraction``, else the default
    (2 x scout.fraction when climbing, 4 x one-shot; capped at 1)."""
    large = fraction if fraction is not None else config.transfer.resolve_fraction(config.scout.fraction)
    check_fraction(large, "--fraction", error=ConfigError)
    if large <= config.scout.fraction:
        raise ConfigError(
            f"the transfer fraction must be larger than scout.fraction ({config.scout.fraction}), but got {large}"
        )
    return float(large)


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
    k, n_seeds = _checked_sizes(config, k, seeds)
    climbing = config.transfer.climb if climb is None else bool(climb)
    first = transfer_fraction(config, fraction)
    fractions = config.transfer.model_copy(update={"fraction": first, "climb": climbing}).climb_fractions(
        config.scout.fraction
    ) or [first]
    ranked = _top_k(config, search_study, storage, k)
    ledger = CellLedger(config, "transfer", study=study, storage=storage, run_cell=run_cell, progress=progress)
    cells = _Cells(config, ledger)
    seed_list = [config.seed + i for i in range(n_seeds)]
    climbed = _climb(config, cells, ranked, fractions, seed_list, climbing)
    section = _section(config, ranked, climbed, climbing=climbing, k=k, seed_list=seed_list)
    section.update({"study": getattr(ledger.study, "study_name", None), "runs": ledger.counts})
    if write:
        write_section(config, "transfer", section)
    return section


def _checked_sizes(config: ExperimentConfig, k: int | None, seeds: int | None) -> tuple[int, int]:
    """``(k, seeds)``: the arguments, else the config's, checked."""
    k = k if k is not None else config.transfer.k
    n_seeds = seeds if seeds is not None else config.transfer.seeds
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ConfigError(f"--k must be an integer >= 2, but got {k!r}")
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, int) or not 1 <= n_seeds <= 20:
        raise ConfigError(f"--seeds must be an integer from 1 to 20, but got {n_seeds!r}")
    return k, n_seeds


def _top_k(config: ExperimentConfig, search_study: Any, storage: str | None, k: int) -> list[Any]:
    """The ``k`` best COMPLETE search trials at ``scout.fraction``, best first (at least 2)."""
    if search_study is None:
        search_study = load_study(config, storage=storage)
    ranked = best_first(search_study, config)[:k]
    if len(ranked) < 2:
        raise SearchError(
            f"the transfer check needs >= 2 COMPLETE search trials at fraction {config.scout.fraction} in study "
            f"{search_study.study_name!r}, but found {len(ranked)}; run `hpscout search` first"
        )
    return ranked


def _ablation_noise(config: ExperimentConfig) -> float | None:
    base = (read_analysis(config).get("ablation") or {}).get("baseline") or {}
    frac = base.get("fraction")
    if base.get("sd") is None or (base.get("n") or 0) < 2 or frac is None:
        return None
    return float(base["sd"]) if math.isclose(float(frac), config.scout.fraction, rel_tol=1e-9) else None


def _mean(values: Sequence[float]) -> float | None:
    return (sum(values) / len(values)) if values else None


class _Cells:
    """Transfer cells, one config x seed x fraction each, run or reused through the ledger of the transfer study."""

    def __init__(self, config: ExperimentConfig, ledger: CellLedger) -> None:
        self.config, self.ledger = config, ledger

    def _cell(self, trial: Any, seed: int, fraction: float) -> tuple[str, str, ExperimentConfig]:
        """``(key, fingerprint, config)`` of the cell ``trial`` x ``seed`` x ``fraction``."""
        trial_cfg = config_for_trial(self.config, trial)
        return f"trial{trial.number}|f{fraction!r}|s{seed}", fingerprint(trial_cfg), trial_cfg

    def value(self, trial: Any, seed: int, fraction: float) -> float | None:
        """The objective of ``trial``'s config with ``seed`` at ``fraction`` (None: the run failed)."""
        key, fp, trial_cfg = self._cell(trial, seed, fraction)
        rec = self.ledger.record(
            key=key,
            fp=fp,
            name=f"t{trial.number}_f{slug(fraction)}_s{seed}",
            config=trial_cfg.model_copy(update={"seed": seed}),
            fraction=fraction,
            attrs={"source_trial": trial.number},
        )
        if rec.state.name == "COMPLETE" and rec.value is not None and math.isfinite(rec.value):
            return float(rec.value)
        return None

    def steps(self, trial: Any, seed: int, fraction: float) -> int | None:
        """Optimizer steps the cell's run took (None when it did not record them)."""
        key, fp, _ = self._cell(trial, seed, fraction)
        rec = self.ledger.done.get((key, fp))
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
    climbing: bool, agreed: bool, all_failed: bool, fraction: float, next_fraction: float | None, over_budget: bool,
    tied: bool = False,
) -> tuple[str, str | None]:
    """(decision, stop reason or None to climb on) after a rung."""
    if all_failed:
        return "every run at this rung failed: the check could not run here; keep the smaller rung's pick", "failed"
    if agreed:
        return "agreed: stop", "agreed"
    if not climbing:
        return "one-shot check: stop", "one-shot"
    what = "tied (every config scored the same here: no ranking signal)" if tied else "disagreed"
    if fraction >= 1.0 - 1e-12:
        return f"{what} at the full data: the pick is measured on all of it", "full data"
    if next_fraction is None:
        return f"{what}: stop at transfer.max_fraction", "max_fraction"
    if over_budget:
        return f"{what}: stop, climbing to {next_fraction:g} would exceed transfer.budget", "budget"
    return f"{what}: climb to {next_fraction:g}", None


# --------------------------------------------------------------------------- the climb


@dataclass
class _Climb:
    """What the climb found: the rungs that reached values, one row per rung run, and why it stopped."""

    reached: list[_Reached] = field(default_factory=list)
    rungs: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str = ""
    needed: float | None = None


def _climb(
    config: ExperimentConfig,
    cells: _Cells,
    ranked: Sequence[Any],
    fractions: Sequence[float],
    seed_list: list[int],
    climbing: bool,
) -> _Climb:
    """Run the rungs in order until two agree, the fractions or the budget run out, or a rung fails."""
    sign = 1 if config.greater_is_better else -1
    budget = config.transfer.budget if climbing else None
    per_rung_runs = len(ranked) * len(seed_list) + (1 if climbing and len(seed_list) == 1 else 0)  # + the epsilon re-run
    out = _Climb()
    prev: list[float | None] = [float(t.value) for t in ranked]
    prev_eps: float | None = None
    spent = 0.0
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
        decision, stop = _decide(climbing, soft["agree"], all_failed, frac, nxt, over, tied=soft["tied"])
        out.rungs.append(
            {
                "fraction": frac,
                "steps": max((s for t in ranked if (s := cells.steps(t, seed_list[0], frac))), default=None),
                "trials": [t.number for t in ranked],
                "values": means,
                "spearman": spearman(oriented(prev, sign, 0.0), oriented(means, sign, 0.0)),
                "top1_agree": soft["top1_agree"],
                "discordant": soft["discordant"],
                "epsilon": soft["epsilon"] if both_eps is not None else None,
                "epsilon_source": eps_source,
                "agree": soft["agree"],
                "tied": soft["tied"],
                "decision": decision,
                "spent_full_runs": round(spent, 6),
            }
        )
        cells.ledger.say(f"transfer: rung {frac:g}: {decision}")
        if not all_failed:
            out.reached.append((frac, means, values))
        if stop is not None:
            out.stop_reason = stop
            if stop in ("max_fraction", "budget"):
                out.needed = nxt if nxt is not None else min(1.0, 2 * frac)
            break
        prev, prev_eps = means, eps
    return out


# --------------------------------------------------------------------------- the section

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
    climbed: _Climb,
    *,
    climbing: bool,
    k: int,
    seed_list: list[int],
) -> dict[str, Any]:
    """The ``transfer`` section: the pick at the highest rung with values, and the scout-vs-final scores."""
    small = config.scout.fraction
    reached = climbed.reached
    if reached:
        final_fraction, final_means, per_seed = reached[-1]
    else:  # every larger run failed: keep the small-scale pick
        final_fraction, final_means, per_seed = small, [float(t.value) for t in ranked], [[] for _ in ranked]
    rows = _config_rows(ranked, reached, final_means, per_seed, seed_list)
    scores = _scores(config, rows, seed_list)
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
        "rungs": climbed.rungs,
        "pick": _pick(config, ranked, climbed, final_fraction, final_means),
        "trusted": bool(reached) and climbed.stop_reason in ("agreed", "one-shot", "full data"),
        "stop_reason": climbed.stop_reason,
        "needed_fraction": climbed.needed,
        "budget": config.transfer.budget if climbing else None,
        "max_fraction": config.transfer.max_fraction if climbing else None,
        "rules": RULES,
        **scores,
    }


def _config_rows(
    ranked: Sequence[Any],
    reached: list[_Reached],
    final_means: list[float | None],
    per_seed: list[list[float]],
    seed_list: list[int],
) -> list[dict[str, Any]]:
    """One row per re-run config: its small-scale value, its values at the final rung and at every rung."""
    return [
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


def _scores(config: ExperimentConfig, rows: list[dict[str, Any]], seed_list: list[int]) -> dict[str, Any]:
    """:func:`compare_transfer` of the scout fraction vs the final rung; each row gets its two ranks."""
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
    return scores


def _pick(
    config: ExperimentConfig,
    ranked: Sequence[Any],
    climbed: _Climb,
    final_fraction: float,
    final_means: list[float | None],
) -> dict[str, Any]:
    """The best config at the highest rung reached (the search's best when no rung reached values), and why."""
    sign = 1 if config.greater_is_better else -1
    best = max((i for i, m in enumerate(final_means) if m is not None), key=lambda i: sign * float(final_means[i]))  # type: ignore[arg-type]
    if not climbed.reached:
        why = (
            f"trial {ranked[best].number}: the search's best at {config.scout.fraction:g}; "
            "the transfer check could not run (every larger run failed)"
        )
    else:
        why = (
            f"trial {ranked[best].number}: best {config.search.metric} {final_means[best]:.4g} at fraction "
            f"{final_fraction:g}, the highest rung the transfer check reached "
            f"({_WHY.get(climbed.stop_reason, climbed.stop_reason)})"
        )
    return {
        "trial": ranked[best].number,
        "params": dict(ranked[best].params),
        "value": final_means[best],
        "fraction": final_fraction,
        "why": why,
    }
