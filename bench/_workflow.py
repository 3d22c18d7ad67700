"""What each method's pick is worth on the fine-tuning table: at a workflow's own end, and against TPE's budget.

Plain data from the harness's runs (``search_efficiency.RunResult``), no plotting:

* a **workflow** method (``hpscout``, ``hpscout-v1``, ``naive-5pct``, ...) runs as ``hpscout
  run`` does: its trial budget (``search.trials``), then its transfer check once. Its
  :class:`Outcome` per replay is the pick of the check made after the last trial (the
  anytime check's pick there is that one check's pick: same top-k, same values) and what
  that workflow costs: the search's own rungs plus that one check (``check_cost``, noted by
  the method), in full-data runs;
* a **budget** method (``tpe``, ``tpe-hyperband``, ...) is a curve: mean regret against budget;
* regret is in accuracy points at the table's reference fraction (best measured cell
  there minus the pick's value there, x100); a pick not run at the reference is scored on
  its imputed value (bench/_table.py) and counted;
* **same regret, less compute**: the smallest budget from which TPE at full fidelity's mean
  regret stays at or below a workflow's mean regret (``search_efficiency.budget_to_reach``);
  the ratio is the workflow's mean cost over that budget.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

#: Accuracy points per unit of the metric.
POINTS = 100.0
#: Issue 14's goals for the default workflow.
GOAL_POINTS = 0.5
GOAL_COMPUTE_RATIO = 1 / 3
#: Climb stops that leave the final config trusted (hpscout.analysis.transfer_trust); the others say UNTRUSTED.
TRUSTED_STOPS = ("agreed", "full data")


@dataclass(frozen=True)
class Outcome:
    """One replay of a workflow method at its trial budget."""

    seed: int
    trials: int
    regret: float  # accuracy points at the reference
    cost: float  # full-data runs: the search's rungs plus one transfer check
    anytime_spent: float  # what the anytime replay had charged by then (every top-k entrant re-run)
    measured: bool | None  # the pick was run at the reference (False: its value there is imputed)
    pick: dict[str, Any]
    stop: str | None = None  # why the climb stopped ("agreed", "budget", ...)
    final_fraction: float | None = None


def outcome(result: Any, trials: int, best: float, maximize: bool = True) -> Outcome:
    """The state of ``result`` after ``trials`` finished trials (or its last trial, if the budget ended first)."""
    points = [p for p in result.trace if p.trials <= trials]
    if not points:
        raise ValueError(f"run {result.method}/{result.seed} finished no trial")
    p = points[-1]
    pick = p.note.get("final_pick", p.note.get("pick", p.incumbent))
    info = result.picks[pick]
    sign = 1.0 if maximize else -1.0
    return Outcome(
        seed=result.seed,
        trials=p.trials,
        regret=round(sign * (best - info["score"]) * POINTS, 9),
        cost=round(p.search_spent + float(p.note.get("check_cost", 0.0)), 9),
        anytime_spent=round(p.spent, 9),
        measured=info["measured"],
        pick=dict(info["params"]),
        stop=p.note.get("stop"),
        final_fraction=p.note.get("final_fraction"),
    )


def regret_curve(results: Sequence[Any], method: str, span: float) -> np.ndarray:
    """Mean regret in accuracy points at each checkpoint over ``method``'s runs (``span`` = best - worst)."""
    curves = [r.regret for r in results if r.method == method]
    if not curves:
        raise ValueError(f"no runs of method {method!r}")
    return np.mean(np.array(curves, dtype=float), axis=0) * span * POINTS


@dataclass(frozen=True)
class WorkflowSummary:
    """A workflow method's outcomes over the replays."""

    method: str
    trials: int
    runs: int
    mean_regret: float
    median_regret: float
    max_regret: float
    share_within_goal: float  # replays whose pick is within GOAL_POINTS of the best
    mean_cost: float  # full-data runs
    mean_samples: float | None  # training samples processed (full-data runs x samples of one full run)
    mean_anytime_spent: float
    measured_share: float | None  # picks run at the reference (tables); None when the scenario cannot tell
    stops: dict[str, int]
    final_fractions: dict[str, int]
    tpe_budget_to_match: float | None  # full-data runs TPE at full fidelity needs for the same mean regret
    ratio_to_tpe: float | None  # mean_cost / tpe_budget_to_match
    tpe_regret_at_same_cost: float | None  # TPE's mean regret at this workflow's mean cost
    # the climb's trust label against the outcome: replays that ended trusted (the two largest rungs
    # agreed, or the climb reached the full data), and their mean regret; None: no climb
    trusted: int | None = None
    trusted_regret: float | None = None
    untrusted_regret: float | None = None
    outcomes: list[dict[str, Any]] = field(default_factory=list)


def summarise_workflow(
    method: str,
    outcomes: Sequence[Outcome],
    *,
    full_samples: int | None,
    tpe_curve: np.ndarray | None,
    checkpoints: np.ndarray,
) -> WorkflowSummary:
    """Aggregate a workflow's outcomes and compare them with TPE at full fidelity's mean curve."""
    reg = np.array([o.regret for o in outcomes], dtype=float)
    cost = float(np.mean([o.cost for o in outcomes]))
    mean = float(reg.mean())
    to_match = ratio = at_cost = None
    if tpe_curve is not None:
        from search_efficiency import budget_to_reach

        to_match = budget_to_reach(tpe_curve, checkpoints, mean + 1e-9)
        ratio = None if to_match is None else cost / to_match
        idx = int(np.searchsorted(checkpoints, cost, side="right")) - 1
        at_cost = float(tpe_curve[idx]) if idx >= 0 else None
    measured = [o.measured for o in outcomes if o.measured is not None]
    stops: dict[str, int] = {}
    finals: dict[str, int] = {}
    for o in outcomes:
        if o.stop is not None:
            stops[o.stop] = stops.get(o.stop, 0) + 1
        if o.final_fraction is not None:
            key = f"{o.final_fraction:g}"
            finals[key] = finals.get(key, 0) + 1
    labelled = [o for o in outcomes if o.stop is not None]
    trusted = [o.regret for o in labelled if o.stop in TRUSTED_STOPS]
    untrusted = [o.regret for o in labelled if o.stop not in TRUSTED_STOPS]
    return WorkflowSummary(
        method=method,
        trials=max(o.trials for o in outcomes),
        runs=len(outcomes),
        mean_regret=mean,
        median_regret=float(np.median(reg)),
        max_regret=float(reg.max()),
        share_within_goal=float(np.mean(reg <= GOAL_POINTS + 1e-9)),
        mean_cost=cost,
        mean_samples=None if full_samples is None else cost * full_samples,
        mean_anytime_spent=float(np.mean([o.anytime_spent for o in outcomes])),
        measured_share=float(np.mean(measured)) if measured else None,
        stops=stops,
        final_fractions=finals,
        tpe_budget_to_match=to_match,
        ratio_to_tpe=ratio,
        tpe_regret_at_same_cost=at_cost,
        trusted=len(trusted) if labelled else None,
        trusted_regret=float(np.mean(trusted)) if trusted else None,
        untrusted_regret=float(np.mean(untrusted)) if untrusted else None,
        outcomes=[asdict(o) for o in outcomes],
    )


def goals(
    default: WorkflowSummary,
    naive: WorkflowSummary | None,
    reference_fraction: float,
    budget: float,
    ablation_runs: float | None = None,
) -> dict[str, Any]:
    """Issue 14's three goals for the default workflow, in plain words with the figures.

    Goal 2 is judged on what the pick costs (the search and the check); ``ablation_runs``
    (what ``hpscout run``'s default ablation adds, from ``hpscout.analysis.preflight``) gives
    the same ratio with the ablation counted, reported next to it.
    """
    g1 = default.mean_regret <= GOAL_POINTS + 1e-9
    if default.ratio_to_tpe is not None:
        g2 = default.ratio_to_tpe <= GOAL_COMPUTE_RATIO + 1e-9
    else:  # TPE never gets there within B: it needs more than B, so the ratio is below cost / B
        g2 = default.mean_cost / budget <= GOAL_COMPUTE_RATIO + 1e-9
    worse: list[int] = []
    if naive is not None:
        mine = {o["seed"]: o["regret"] for o in default.outcomes}
        worse = sorted(
            o["seed"] for o in naive.outcomes if mine.get(o["seed"], -math.inf) > o["regret"] + 1e-9
        )
    g3 = naive is not None and not worse and default.mean_regret <= naive.mean_regret + 1e-9
    with_ablation = None
    if ablation_runs is not None and default.tpe_budget_to_match:
        with_ablation = (default.mean_cost + ablation_runs) / default.tpe_budget_to_match
    where = f"at {reference_fraction:g} of the data" + (
        "" if reference_fraction >= 1.0 else " (the table has no complete larger fraction yet)"
    )
    ratio = (
        f"TPE at full fidelity needs {default.tpe_budget_to_match:.3g} full-data runs for the same mean regret: "
        f"ratio {default.ratio_to_tpe:.2f}"
        if default.ratio_to_tpe is not None
        else f"TPE at full fidelity does not reach that mean regret within B = {budget:g} "
        f"(ratio < {default.mean_cost / budget:.2f})"
    )
    text = (
        f"goal 1 (pick within {GOAL_POINTS} points of the best {where}): {'MET' if g1 else 'NOT MET'} "
        f"(mean regret {default.mean_regret:.2f} points, {default.share_within_goal:.0%} of replays within); "
        f"goal 2 (at most 1/3 of TPE-full's compute for the same regret): {'MET' if g2 else 'NOT MET'} "
        f"({default.method} spends {default.mean_cost:.2f} full-data runs; {ratio}"
        + (
            f"; with the default ablation hpscout run also makes (+{ablation_runs:.2f} runs): ratio "
            f"{with_ablation:.2f}, {'MET' if with_ablation <= GOAL_COMPUTE_RATIO + 1e-9 else 'NOT MET'}"
            if with_ablation is not None and ablation_runs is not None
            else ""
        )
        + "); "
        + (
            f"goal 3 (never worse than naive-5pct): {'MET' if g3 else 'NOT MET'} (mean {default.mean_regret:.2f} vs "
            f"{naive.mean_regret:.2f}; worse in {len(worse)} of {default.runs} paired replays)"
            if naive is not None
            else "goal 3: no naive-5pct runs"
        )
    )
    return {
        "reference_fraction": reference_fraction,
        "within_points": g1,
        "compute_third": g2,
        "ratio_with_ablation": with_ablation,
        "ablation_runs": ablation_runs,
        "never_worse_than_naive": g3,
        "worse_than_naive_seeds": worse,
        "text": text,
    }


def format_workflows(rows: Sequence[WorkflowSummary], full_samples: int | None) -> str:
    """A plain-text table of the workflow summaries."""
    w = max([18, *(len(r.method) + 2 for r in rows)])
    head = (
        f"{'method':<{w}}{'trials':>7}{'regret mean':>12}{'median':>8}{'max':>7}{'<=0.5':>7}"
        f"{'cost (runs)':>12}{'samples':>10}{'anytime':>9}{'measured':>9}{'TPE same':>9}{'ratio':>7}"
        f"{'trusted':>9}{'regret T/U':>12}  stops"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        samples = "-" if r.mean_samples is None else f"{r.mean_samples:,.0f}"
        measured = "-" if r.measured_share is None else f"{r.measured_share:.0%}"
        match = "never" if r.tpe_budget_to_match is None else f"{r.tpe_budget_to_match:.3g}"
        ratio = "-" if r.ratio_to_tpe is None else f"{r.ratio_to_tpe:.2f}"
        stops = ", ".join(f"{k} {v}" for k, v in sorted(r.stops.items())) or "-"
        trusted = "-" if r.trusted is None else f"{r.trusted}/{r.runs}"
        split = "-" if r.trusted is None else "/".join(
            "-" if v is None else f"{v:.2f}" for v in (r.trusted_regret, r.untrusted_regret)
        )
        lines.append(
            f"{r.method:<{w}}{r.trials:>7}{r.mean_regret:>12.2f}{r.median_regret:>8.2f}{r.max_regret:>7.2f}"
            f"{r.share_within_goal:>7.0%}{r.mean_cost:>12.2f}{samples:>10}{r.mean_anytime_spent:>9.2f}{measured:>9}"
            f"{match:>9}{ratio:>7}{trusted:>9}{split:>12}  {stops}"
        )
    if full_samples:
        lines.append(f"(one full-data run = {full_samples:,} training samples; regret in accuracy points)")
    if any(r.trusted is not None for r in rows):
        lines.append("(trusted: replays whose climb ended trusted; regret T/U: their mean regret / the untrusted ones')")
    return "\n".join(lines)


def format_curves(curves: dict[str, np.ndarray], checkpoints: np.ndarray, budgets: Sequence[float]) -> str:
    """Mean regret (points) of each method at a few budgets."""
    idx = [int(np.searchsorted(checkpoints, b + 1e-9, side="right")) - 1 for b in budgets]
    head = f"{'method':<18}" + "".join(f"{'B=' + format(b, '.3g'):>9}" for b in budgets)
    lines = [head, "-" * len(head)]
    for m, c in curves.items():
        lines.append(f"{m:<18}" + "".join(f"{c[i]:>9.2f}" if i >= 0 else f"{'-':>9}" for i in idx))
    return "\n".join(lines)
