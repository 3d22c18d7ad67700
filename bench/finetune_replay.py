"""Rank agreement across data fractions, and the search workflows replayed, on a real fine-tuning grid.

Reads the table bench/finetune_grid.py writes (MiniLM + LoRA on SST-2: every cell of
learning_rate x lora_r x warmup_ratio at 1/2/5/10% of the data with 2 seeds, and the
upward extension: the best and worst cells at 25/50/100% with 1 seed) and reports:

1. **Rank agreement** of each smaller fraction with the reference (the largest complete
   fraction): Spearman's rho over the cells both hold and the top-k overlap (k = 1, 3, 5),
   on the seed-mean and per seed, and the regret of picking the small fraction's winner;
   a Spearman matrix between every pair of complete fractions; seed noise per fraction.
   Ties (many cells sit at chance) are broken at random: the top-k overlap and the pick
   regret are their expectations over tie-breaks.
2. **Replay** of the workflows and baselines (bench/_methods.py) with the harness of
   bench/search_efficiency.py on the table (bench/_table.py: fractions of the full data,
   snapped up to the table's complete fractions; cells the extension did not run read the
   next larger fraction or an imputed value, counted). Workflow methods (``hpscout``,
   ``hpscout-v1``, ``naive-5pct``, ...) run ``search.trials`` trials and their transfer
   check, as ``hpscout run`` does; budget methods (``tpe``, ``tpe-hyperband``) run until
   ``--budget`` full-data runs. Reported (bench/_workflow.py): each workflow's pick regret in
   accuracy points at the reference, its compute (full-data runs and samples), the budget
   TPE at full fidelity needs for the same mean regret, and issue 14's goals.

Only complete (fraction, seed) grids count; a partial CSV (the grid still running) gives
the figures for the fractions finished so far, and the report names what is missing. Run
it again on the finished table: the reference becomes 100% with no change to the code.

Usage (from the repo root; either venv)::

    python bench/finetune_replay.py --csv bench/results/finetune_grid.csv \\
        --out bench/results/finetune_replay.json --plot bench/results/finetune_replay.png
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _methods  # noqa: E402
import _table  # noqa: E402
import _workflow  # noqa: E402
import finetune_grid  # noqa: E402
import search_efficiency as se  # noqa: E402

DEFAULT_CSV = HERE / "results" / "finetune_grid.csv"
#: A cell at or below this accuracy learned nothing (SST-2 dev is balanced: chance is 0.5).
CHANCE = 0.55
TOP_K = (1, 3, 5)
#: Methods that run as a workflow (a trial budget, then their check); the rest run until --budget.
WORKFLOW_METHODS = (
    "hpscout",
    "hpscout-v1",
    "naive-5pct",
    "hpscout-unbounded",
    "hpscout-budget2",
    "hpscout-budget3",
    "hpscout-resolved",
    "hpscout-resolved-unbounded",
    "hpscout-ladder3",
    "hpscout-scout",
)
#: What the replay runs by default.
REPLAY_METHODS = (
    "hpscout", "hpscout-v1", "naive-5pct", "tpe", "tpe-hyperband", "hpscout-unbounded", "hpscout-budget2", "hpscout-budget3",
    "hpscout-resolved", "hpscout-resolved-unbounded",
)
#: The design of the grid (for reporting what is missing).
DESIGN_FRACTIONS = (*finetune_grid.FRACTIONS, *finetune_grid.EXTENSION)

Cell = _table.Cell

# ----------------------------------------------------------------------------- rank agreement


def spearman(small: dict[Cell, float], large: dict[Cell, float]) -> float | None:
    """Spearman's rho over the cells in both (ties get average ranks); None when undefined."""
    from scipy.stats import spearmanr

    cells = [c for c in small if c in large]
    x, y = [small[c] for c in cells], [large[c] for c in cells]
    if len(cells) < 2 or len(set(x)) < 2 or len(set(y)) < 2:
        return None
    return float(spearmanr(x, y).statistic)


def top_k_chances(values: dict[Cell, float], k: int, maximize: bool = True) -> dict[Cell, float]:
    """Each cell's chance of being in the top ``k`` when ties are broken at random.

    Cells strictly better than the k-th value are in; of the cells tied with it,
    as many as there are places left are drawn uniformly.
    """
    sign = 1.0 if maximize else -1.0
    ordered = sorted(values, key=lambda c: -sign * values[c])
    k = min(k, len(ordered))
    if k == 0:
        return {}
    cut = values[ordered[k - 1]]
    above = [c for c in ordered if sign * values[c] > sign * cut]
    tied = [c for c in ordered if values[c] == cut]
    share = (k - len(above)) / len(tied)
    return {**dict.fromkeys(above, 1.0), **dict.fromkeys(tied, share)}


def top_k_overlap(small: dict[Cell, float], large: dict[Cell, float], k: int, maximize: bool = True) -> float:
    """Expected |top-k small & top-k large| / k over the cells in both (ties broken at random)."""
    cells = [c for c in small if c in large]
    k = min(k, len(cells))
    p = top_k_chances({c: small[c] for c in cells}, k, maximize)
    q = top_k_chances({c: large[c] for c in cells}, k, maximize)
    return sum(p[c] * q.get(c, 0.0) for c in p) / k


def pick_regret(
    small: dict[Cell, float], large: dict[Cell, float], maximize: bool = True
) -> tuple[float, float | None]:
    """(raw, normalised) regret at the large fraction of the cell that wins at the small one.

    Raw: best large value minus the winner's large value (the mean over tied winners);
    normalised: divided by the large fraction's best - worst (None when all are equal).
    """
    cells = [c for c in small if c in large]
    sign = 1.0 if maximize else -1.0
    top = max(sign * small[c] for c in cells)
    winners = [c for c in cells if sign * small[c] == top]
    picked = float(np.mean([large[c] for c in winners]))
    big = [large[c] for c in cells]
    best, worst = (max(big), min(big)) if maximize else (min(big), max(big))
    raw = sign * (best - picked)
    return raw, (raw / abs(best - worst) if best != worst else None)


@dataclass(frozen=True)
class Agreement:
    """How a smaller fraction ranks the cells against the reference (largest) fraction."""

    fraction: float
    reference: float
    seeds: tuple[int, ...]
    #: "mean": the seed-mean over ``seeds``; "seed": one seed.
    kind: str
    cells: int
    spearman: float | None
    top_k: dict[int, float]
    pick_regret: float
    pick_regret_normalised: float | None


def agreement(table: _table.Table, reference: float | None = None, maximize: bool = True) -> list[Agreement]:
    """Rank agreement of every smaller fraction with ``reference`` (default: the largest complete).

    Seed-mean rows average the seeds complete at both fractions (paired); per-seed rows
    compare one seed's grid at both.
    """
    fractions = table.fractions
    if not fractions:
        return []
    reference = fractions[-1] if reference is None else reference
    rows = []
    for f in fractions:
        if f >= reference:
            continue
        seeds = [s for s in table.seeds_at(f) if s in table.seeds_at(reference)]
        if not seeds:
            continue
        pairs = [("mean", tuple(seeds))] + [("seed", (s,)) for s in seeds]
        for kind, use in pairs:
            small, large = table.seed_mean(f, use), table.seed_mean(reference, use)
            raw, norm = pick_regret(small, large, maximize)
            rows.append(
                Agreement(
                    fraction=f,
                    reference=reference,
                    seeds=use,
                    kind=kind,
                    cells=len([c for c in small if c in large]),
                    spearman=spearman(small, large),
                    top_k={k: top_k_overlap(small, large, k, maximize) for k in TOP_K},
                    pick_regret=raw,
                    pick_regret_normalised=norm,
                )
            )
    return rows


@dataclass(frozen=True)
class FractionSummary:
    """One fraction's seed-mean table in a few numbers."""

    fraction: float
    seeds: tuple[int, ...]
    #: cells run at this fraction (the extension runs only some: the figures below are over those)
    cells: int
    best_cell: dict[str, Any]
    best_value: float
    #: The learning rate with the best mean over the other factors, and that mean.
    best_learning_rate: Any
    best_learning_rate_mean: float
    mean: float
    #: Share of cells whose seed-mean is at chance (<= CHANCE).
    at_chance: float


def fraction_summaries(table: _table.Table, lr_param: str = "learning_rate") -> list[FractionSummary]:
    """Per fraction (complete seeds only): best cell, best learning rate (marginal), mean, share at chance."""
    out = []
    lr_index = table.params.index(lr_param) if lr_param in table.params else 0
    for f in table.fractions:
        seeds = tuple(table.seeds_at(f))
        means = table.seed_mean(f, seeds)
        best = max(
            sorted(means, key=table.cells.index), key=lambda c: means[c]
        )  # first in grid order on ties
        by_lr: dict[Any, list[float]] = {}
        for c, v in means.items():
            by_lr.setdefault(c[lr_index], []).append(v)
        lr, lr_mean = max(((k, float(np.mean(v))) for k, v in by_lr.items()), key=lambda kv: kv[1])
        vals = np.array(list(means.values()))
        out.append(
            FractionSummary(
                fraction=f,
                seeds=seeds,
                cells=len(means),
                best_cell=dict(zip(table.params, best, strict=True)),
                best_value=means[best],
                best_learning_rate=lr,
                best_learning_rate_mean=lr_mean,
                mean=float(vals.mean()),
                at_chance=float(np.mean(vals <= CHANCE)),
            )
        )
    return out


def format_agreement(rows: Sequence[Agreement]) -> str:
    head = (
        f"{'fraction':>8} {'vs':>5} {'seeds':>9} {'cells':>5} {'spearman':>9}"
        + "".join(f"{'top' + str(k):>7}" for k in TOP_K)
        + f"{'pick_regret':>12}{'(norm)':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        seeds = ("mean " if r.kind == "mean" else "seed ") + ",".join(map(str, r.seeds))
        rho = "-" if r.spearman is None else f"{r.spearman:.3f}"
        norm = "-" if r.pick_regret_normalised is None else f"{r.pick_regret_normalised:.3f}"
        lines.append(
            f"{r.fraction:>8g} {r.reference:>5g} {seeds:>9} {r.cells:>5} {rho:>9}"
            + "".join(f"{r.top_k[k]:>7.3f}" for k in TOP_K)
            + f"{r.pick_regret:>12.4f}{norm:>8}"
        )
    return "\n".join(lines)


def format_summaries(rows: Sequence[FractionSummary]) -> str:
    cells = [", ".join(f"{k}={v:g}" for k, v in r.best_cell.items()) for r in rows]
    width = max([len("best cell"), *map(len, cells)]) + 2
    head = (
        f"{'fraction':>8} {'seeds':>5} {'cells':>5}  {'best cell':<{width}}{'acc':>5}  {'best lr (mean)':<18}"
        f"{'mean':>6}{'chance':>8}"
    )
    lines = [head, "-" * len(head)]
    for r, cell in zip(rows, cells, strict=True):
        lr = f"{r.best_learning_rate:g} ({r.best_learning_rate_mean:.3f})"
        lines.append(
            f"{r.fraction:>8g} {','.join(map(str, r.seeds)):>5} {r.cells:>5}  {cell:<{width}}{r.best_value:>5.3f}  {lr:<18}"
            f"{r.mean:>6.3f}{r.at_chance:>8.0%}"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class PairRho:
    """Spearman's rho between two complete fractions over the cells both ran (seed-mean, common seeds)."""

    small: float
    large: float
    seeds: tuple[int, ...]
    cells: int
    spearman: float | None


def spearman_matrix(table: _table.Table) -> list[PairRho]:
    """Spearman's rho for every pair of complete fractions (small < large)."""
    out = []
    fracs = table.fractions
    for i, f in enumerate(fracs):
        for g in fracs[i + 1 :]:
            seeds = tuple(s for s in table.seeds_at(f) if s in table.seeds_at(g))
            if not seeds:
                continue
            small, large = table.seed_mean(f, seeds), table.seed_mean(g, seeds)
            common = [c for c in small if c in large]
            out.append(PairRho(f, g, seeds, len(common), spearman(small, large)))
    return out


def format_matrix(rows: Sequence[PairRho], fractions: Sequence[float]) -> str:
    """The pairs as a lower-triangular matrix: rho (cells)."""
    cell = {(r.small, r.large): r for r in rows}
    head = f"{'':>8}" + "".join(f"{f:>13g}" for f in fractions)
    lines = [head]
    for g in fractions:
        parts = []
        for f in fractions:
            r = cell.get((f, g))
            parts.append(
                f"{'-' if r.spearman is None else format(r.spearman, '.2f'):>8} ({r.cells:>2})"
                if r
                else f"{'':>13}"
            )
        lines.append(f"{g:>8g}" + "".join(parts))
    return "\n".join(lines)


@dataclass(frozen=True)
class SeedNoise:
    """How much two seeds of the same cell differ at a fraction (the noise floor of any pick regret)."""

    fraction: float
    cells: int
    #: sd of one run, pooled over cells: sqrt(mean((a - b)^2) / 2), in accuracy points
    sd_points: float
    mean_abs_diff_points: float
    #: robust to the cells that learn with one seed and stay at chance with the other
    median_abs_diff_points: float


def seed_noise(table: _table.Table) -> list[SeedNoise]:
    """Per fraction with two complete seeds: the pooled seed sd and the mean |seed 0 - seed 1| of its cells."""
    out = []
    for f in table.fractions:
        seeds = table.seeds_at(f)
        if len(seeds) < 2:
            continue
        a, b = (table.values[(f, s)] for s in seeds[:2])
        d = np.array([a[c] - b[c] for c in table.cells_at(f)]) * _workflow.POINTS
        sd = float(np.sqrt(np.mean(d**2) / 2))
        out.append(SeedNoise(f, len(d), sd, float(np.mean(np.abs(d))), float(np.median(np.abs(d)))))
    return out


# ----------------------------------------------------------------------------- replay


def replay(
    csv_path: Path,
    name: str,
    methods: Sequence[str],
    seeds: int,
    budget: float,
    trials: int,
    jobs: int = 1,
    reps: int = 2000,
) -> dict[str, Any]:
    """Run ``methods`` on the table with the harness and summarise.

    Workflow methods stop after ``trials`` trials (their check runs after the last one);
    the others run until ``budget`` full-data runs. Returns the harness's report (regret
    against budget, normalised), the workflows' outcomes in accuracy points and the goals.
    """
    probe = _table.TableScenario(csv_path, name)
    ref = probe.reference()
    checkpoints = se.make_checkpoints(budget)
    specs = [
        se.RunSpec(
            str(csv_path),
            name,
            _table.INSTANCE,
            None,
            None,
            m,
            s,
            budget,
            False,  # retrain: a larger fraction is a new training run
            tuple(checkpoints.tolist()),
            (ref.best, ref.worst),
            trials if m in WORKFLOW_METHODS else None,
        )
        for s in range(seeds)
        for m in methods
    ]
    results = se._run_all(specs, jobs)
    report = se.summarise(results, list(methods), [_table.INSTANCE], seeds, checkpoints, budget, reps)
    for entry in report["methods"].values():
        entry.pop("per_run_regret", None)  # the table is re-playable in seconds: keep the JSON small
    span = ref.best - ref.worst
    curves = {m: _workflow.regret_curve(results, m, span) for m in methods}
    tpe = curves.get(_methods.REFERENCE_METHOD)
    full_samples = _full_samples(probe)
    workflows = []
    for m in methods:
        if m not in WORKFLOW_METHODS:
            continue
        picks = [_workflow.outcome(r, trials, ref.best, probe.maximize) for r in results if r.method == m]
        rows = [(m, picks)]
        if m in HANDOFF_METHODS and probe.train_rows:
            # the row is what the user trains at full scale (the export's LR); the pick as scouted beside it
            rows = [(m, handoff(probe, picks, ref.best)), (m + SCOUTED, picks)]
        workflows += [
            _workflow.summarise_workflow(
                name, outs, full_samples=full_samples, tpe_curve=tpe, checkpoints=checkpoints
            )
            for name, outs in rows
        ]
    by_name = {w.method: w for w in workflows}
    projection = _preflight(probe, trials)
    goals = (
        _workflow.goals(
            by_name[_methods.CANDIDATE_METHOD],
            by_name.get("naive-5pct"),
            probe.reference_fraction,
            budget,
            ablation_runs=None if projection is None else projection["ablation_full_runs"],
        )
        if _methods.CANDIDATE_METHOD in by_name
        else {"text": f"no goals: needs method {_methods.CANDIDATE_METHOD!r}"}
    )
    infos = {r.method: r.info for r in results if r.seed == 0}
    return {
        "scenario": name,
        "seeds": seeds,
        "budget": budget,
        "trials": trials,
        "target": probe.target,
        "direction": probe.direction,
        "cost_model": "retrain",
        "table": probe.describe(),
        "baseline_ladder": list(_methods.geometric_ladder(probe.fidelity.min_fraction)),
        "reference": {
            "fraction": probe.reference_fraction,
            "best": ref.best,
            "worst": ref.worst,
            "cells": ref.n,
        },
        "full_run_samples": full_samples,
        "preflight": projection,
        "regret": "accuracy points at the reference fraction: best measured cell minus the pick (seed-mean)",
        "methods_info": infos,
        "workflows": [asdict(w) for w in workflows],
        "curves_points": {m: np.round(c, 4).tolist() for m, c in curves.items()},
        "goals": goals,
        "harness": report,
    }


#: Workflows whose hand-off is today's export: the pick's LR lowered for the full run's horizon
#: (``hpscout export``'s default ``--lr-correction horizon``, :func:`hpscout.analysis.horizon_lr`).
HANDOFF_METHODS = (
    "hpscout",
    "hpscout-unbounded",
    "hpscout-budget2",
    "hpscout-budget3",
    "hpscout-resolved",
    "hpscout-resolved-unbounded",
)
#: The suffix of a workflow's row scored on its pick as scouted (the export's ``--lr-correction off``).
SCOUTED = " (scouted LR)"


def handoff(
    scenario: _table.TableScenario, outcomes: Sequence[_workflow.Outcome], best: float
) -> list[_workflow.Outcome]:
    """The outcomes as the user trains them at full scale: each pick's learning rate moved by the export's
    horizon rule from the optimizer steps of the rung it was chosen at (the climb's last rung) to those of a
    full-data run (both counted by ``hpscout.plan.plan_steps`` with the table's config), then snapped to
    the grid's nearest learning rate in log space (the table has no other), and scored at the reference."""
    from hpscout.analysis import horizon_lr
    from hpscout.plan import plan_steps

    t = scenario.bench_config().train
    rows = scenario.train_rows

    def steps(fraction: float) -> int:
        plan = plan_steps(max(1, round(fraction * rows)), t.batch_size, t.grad_accum, t.devices, epochs=t.epochs)
        return int(plan.total_steps or 0)

    lr_at = scenario.table.params.index("learning_rate")
    rates = sorted({float(cell[lr_at]) for cell in scenario.table.cells})
    sign = 1.0 if scenario.maximize else -1.0
    out = []
    for o in outcomes:
        cfg = dict(o.pick)
        chosen_at = o.final_fraction if o.final_fraction is not None else _methods.NAIVE_FRACTION
        corrected, _ = horizon_lr(float(cfg["learning_rate"]), steps(chosen_at), steps(1.0))
        cfg["learning_rate"] = min(rates, key=lambda r: abs(math.log(r / corrected)))
        score = float(scenario.score([cfg])[0])
        out.append(replace(o, regret=round(sign * (best - score) * _workflow.POINTS, 9), pick=cfg,
                           measured=scenario.measured(cfg)))
    return out


def _preflight(scenario: _table.TableScenario, trials: int) -> dict[str, Any] | None:
    """``hpscout.analysis.preflight`` of the default workflow on the table's config (``trials`` trials,
    ``AblationConfig()``): what a whole ``hpscout run`` is projected to cost, the ablation included.
    None when the CSV does not say how many rows the runs trained on."""
    from hpscout.analysis import preflight
    from hpscout.config import AblationConfig
    from hpscout.search import resolve_scout

    if scenario.train_rows is None:
        return None
    facts = se.scenario_facts(scenario)
    config = _methods.bench_config(facts)
    config = config.model_copy(
        update={"search": config.search.model_copy(update={"trials": trials}), "ablation": AblationConfig()}
    )
    config, plan = resolve_scout(config, train_rows=scenario.train_rows)
    return preflight(config, plan, trials=trials)


def _full_samples(scenario: _table.TableScenario) -> int | None:
    """Training samples one full-data run of the table's config processes (hpscout's own rule)."""
    from hpscout.analysis import full_samples_of

    return full_samples_of(scenario.bench_config(), scenario.train_rows)


def plot(rep: dict[str, Any], title: str, path: Path) -> None:
    """Mean regret (points) against budget; each workflow's mean outcome as a marker at its cost."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cps = np.array(rep["harness"]["checkpoints"])
    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=110)
    colors = iter(f"C{i}" for i in range(10))
    for m, c in rep["curves_points"].items():
        if m in WORKFLOW_METHODS:
            continue
        ax.plot(cps, np.maximum(c, 1e-2), label=f"{m} (mean)", lw=1.4, color=next(colors))
    for w, marker in zip(rep["workflows"], "oDsv^<>", strict=False):
        ax.scatter([w["mean_cost"]], [max(w["mean_regret"], 1e-2)], s=70 if w["method"] == "hpscout" else 40, zorder=3,
                   marker=marker, color=next(colors), label=f"{w['method']} ({w['trials']} trials + check)")  # fmt: skip
    ax.axhline(
        _workflow.GOAL_POINTS, color="grey", ls=":", lw=1, label=f"goal: {_workflow.GOAL_POINTS} points"
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("compute (full-data runs)")
    ax.set_ylabel(f"pick regret at {rep['reference']['fraction']:g} of the data (accuracy points)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    import os

    os.replace(tmp, path)


# ----------------------------------------------------------------------------- CLI


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from hpscout.config import SearchConfig

    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--csv", default=str(DEFAULT_CSV), help="the grid CSV (bench/finetune_grid.py)")
    p.add_argument("--out", required=True, help="JSON report to write")
    p.add_argument("--plot", default=None, help="PNG of regret against compute")
    p.add_argument("--scenario", default="sst2-minilm-lora", help="a label for the table in reports")
    p.add_argument("--seeds", type=int, default=20, help="replay seeds per method (paired)")
    p.add_argument(
        "--budget",
        type=float,
        default=24.0,
        help="budget of the budget methods, in full-data runs (default 24)",
    )
    p.add_argument(
        "--trials",
        type=int,
        default=SearchConfig().trials,
        help=f"the workflows' trial budget (default search.trials = {SearchConfig().trials})",
    )
    p.add_argument(
        "--methods",
        default=",".join(REPLAY_METHODS),
        help=f"comma-separated subset of {','.join(_methods.METHODS)} (default: {','.join(REPLAY_METHODS)})",
    )
    p.add_argument("--jobs", type=int, default=1, help="worker processes for the replay (default 1)")
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples for the 95%% intervals")
    args = p.parse_args(argv)
    se.check_run_args(p, args)
    if args.trials < 1:
        p.error(f"--trials must be >= 1, but got {args.trials}")
    return args


def describe_table(table: _table.Table, csv_path: Path) -> list[str]:
    """What the CSV holds: complete grids, what is missing, the reference."""
    lines = [
        f"{csv_path}: {len(table.cells)} cells; complete (fraction, seed) grids: "
        + (", ".join(f"({f:g}, {s}: {len(table.cells_at(f))} cells)" for f, s in table.complete) or "none")
    ]
    if table.missing:
        lines.append(
            "missing or partial: "
            + ", ".join(
                f"({f:g}, {s}: {n}/{len(table.planned[f]) if f in table.planned else '?'})"
                for f, s, n in table.missing
            )
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    methods = se.parse_methods(args.methods)
    if methods is None:
        return 2
    csv_path = Path(args.csv)
    try:
        table = _table.load_table(
            csv_path, expected_fractions=DESIGN_FRACTIONS, expected_seeds=finetune_grid.SEEDS
        )
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print("\n".join(describe_table(table, csv_path)))
    design_max = max(DESIGN_FRACTIONS)
    reference = table.fractions[-1] if table.fractions else None
    if reference is not None and reference < design_max:
        print(
            f"note: no complete grid at {design_max:g} yet; everything below is against {reference:g} (provisional)"
        )

    rows = agreement(table, reference)
    summaries = fraction_summaries(table)
    matrix = spearman_matrix(table)
    noise = seed_noise(table)
    print(f"\nper fraction (seed-mean {table.target}; chance <= {CHANCE}; steps from the CSV):")
    print(format_summaries(summaries))
    print("\nseed noise (two seeds per cell): " + "; ".join(
        f"{n.fraction:g}: sd {n.sd_points:.2f} points, |seed 0 - seed 1| mean {n.mean_abs_diff_points:.2f}, "
        f"median {n.median_abs_diff_points:.2f}"
        for n in noise
    ))  # fmt: skip
    print(f"\nrank agreement with fraction {reference}:")
    print(format_agreement(rows) if rows else "(needs complete grids at two fractions for a common seed)")
    print("\nSpearman between complete fractions (rows: larger; cells both ran in brackets):")
    print(format_matrix(matrix, table.fractions))

    report: dict[str, Any] = {
        "csv": str(csv_path),
        "target": table.target,
        "design": {
            "fractions": list(finetune_grid.FRACTIONS),
            "seeds": list(finetune_grid.SEEDS),
            "extension": {
                f"{f:g}": {"select": spec, "seeds": n} for f, (spec, n) in finetune_grid.EXTENSION.items()
            },
        },
        "complete_grids": [list(k) for k in table.complete],
        "missing_grids": [{"fraction": f, "seed": s, "cells_present": n} for f, s, n in table.missing],
        "cells": len(table.cells),
        "cells_by_fraction": {f"{f:g}": len(table.cells_at(f)) for f in table.fractions},
        "steps_by_fraction": {f"{f:g}": n for f, n in sorted(table.steps.items())},
        "train_rows": table.train_rows,
        "chance_threshold": CHANCE,
        "reference_fraction": reference,
        "reference_is_design_max": reference == design_max,
        "per_fraction": [asdict(r) for r in summaries],
        "rank_agreement": [asdict(r) for r in rows],
        "spearman_matrix": [asdict(r) for r in matrix],
        "seed_noise": [asdict(n) for n in noise],
    }
    try:
        _table.TableScenario(csv_path, args.scenario)
        can_replay = True
    except ValueError as err:
        print(f"\nno replay: {err}")
        can_replay = False
    if can_replay:
        rep = replay(
            csv_path, args.scenario, methods, args.seeds, args.budget, args.trials, args.jobs, args.bootstrap
        )
        t = rep["table"]
        print(
            f"\nreplay: {len(methods)} methods x {args.seeds} seeds; workflows {args.trials} trials + their check, "
            f"budget methods B = {args.budget:g} full-data runs; levels {t['levels']} (reference "
            f"{t['reference_fraction']:g}), seeds by level {t['seeds_by_level']}, cells by level {t['cells_by_level']}"
        )
        for m, info in rep["methods_info"].items():
            if info.get("floor") or info.get("transfer"):
                print(f"  {m}: {info.get('floor')}; transfer {info.get('transfer')}")
        print(
            f"\nworkflows at {args.trials} trials (pick regret at {t['reference_fraction']:g}, accuracy points; cost in "
            "full-data runs: the search's rungs + one check; 'anytime' = what the anytime replay charged; "
            "'TPE same' = full-data runs TPE at full fidelity needs for the same mean regret):"
        )
        w_rows = [_workflow.WorkflowSummary(**w) for w in rep["workflows"]]
        print(_workflow.format_workflows(w_rows, rep["full_run_samples"]))
        cps = np.array(rep["harness"]["checkpoints"])
        budgets = [0.5, 1, 2, 4, 8, args.budget]
        print("\nbudget methods: mean pick regret (points) against budget (full-data runs):")
        curves = {m: np.array(c) for m, c in rep["curves_points"].items() if m not in WORKFLOW_METHODS}
        print(_workflow.format_curves(curves, cps, budgets))
        if rep["preflight"]:
            print(f"\n{rep['preflight']['message']}")
        print(f"\nGOALS {args.scenario}: {rep['goals']['text']}")
        report["replay"] = rep
        if args.plot:
            plot(
                rep,
                f"{args.scenario}: {args.seeds} replays, reference {t['reference_fraction']:g}",
                Path(args.plot),
            )
    report["versions"] = se._versions()
    report["command"] = " ".join(
        [Path(sys.argv[0]).as_posix(), *(argv if argv is not None else sys.argv[1:])]
    )
    report["seconds"] = round(time.perf_counter() - t0, 1)
    se._yahpo._write_json(Path(args.out), _jsonable(report))
    print(
        f"wrote {args.out}{' and ' + args.plot if args.plot and can_replay else ''} in {report['seconds']:.0f} s"
    )
    return 0


def _jsonable(x: Any) -> Any:
    """Dict keys to str, numpy scalars to Python and non-finite floats to None, so the JSON is strict."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return _jsonable(x.item())
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


if __name__ == "__main__":
    raise SystemExit(main())
