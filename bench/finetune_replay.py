"""Rank agreement across data fractions, and the search methods replayed, on a real fine-tuning grid.

Reads the table bench/finetune_grid.py writes (MiniLM + LoRA on SST-2, every cell of
learning_rate x lora_r x warmup_ratio at data fractions 1/2/5/10%, 2 seeds) and reports:

1. **Rank agreement** of each smaller fraction with the largest: Spearman's rho over
   the cells and the top-k overlap (k = 1, 3, 5: |top-k small & top-k large| / k), on the
   seed-mean accuracy and per seed, and the regret of picking the small fraction's winner
   (its accuracy at the largest fraction against the best there). Ties (many cells sit
   at chance) are broken at random: the top-k overlap and the pick regret are their
   expectations over tie-breaks. Plus a per-fraction summary: best cell, best learning
   rate (marginal: the mean over the other factors), mean accuracy, share at chance.
2. **Replay** of the search methods (bench/_methods.py) with the harness of
   bench/search_efficiency.py on the table (bench/_table.py: a requested fraction snaps
   up to the next table fraction and is charged there; replay seed s reads table seed
   s mod n_seeds; regret is scored on the seed-mean at the largest fraction).

Only complete (fraction, seed) grids count; a partial CSV (the grid still running) gives
the figures for the grids finished so far, and the report names the missing ones.

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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _methods  # noqa: E402
import _table  # noqa: E402
import finetune_grid  # noqa: E402
import search_efficiency as se  # noqa: E402

DEFAULT_CSV = HERE / "results" / "finetune_grid.csv"
#: A cell at or below this accuracy learned nothing (SST-2 dev is balanced: chance is 0.5).
CHANCE = 0.55
TOP_K = (1, 3, 5)
#: What the replay runs: the default methods plus the three-rung hpscout workflow.
REPLAY_METHODS = (*_methods.DEFAULT_METHODS, "hpscout-ladder3")

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
        best = max(table.cells, key=lambda c: means[c])  # first in grid order on ties
        by_lr: dict[Any, list[float]] = {}
        for c, v in means.items():
            by_lr.setdefault(c[lr_index], []).append(v)
        lr, lr_mean = max(((k, float(np.mean(v))) for k, v in by_lr.items()), key=lambda kv: kv[1])
        vals = np.array(list(means.values()))
        out.append(
            FractionSummary(
                fraction=f,
                seeds=seeds,
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
    head = f"{'fraction':>8} {'seeds':>5}  {'best cell':<{width}}{'acc':>5}  {'best lr (mean)':<18}{'mean':>6}{'chance':>8}"
    lines = [head, "-" * len(head)]
    for r, cell in zip(rows, cells, strict=True):
        lr = f"{r.best_learning_rate:g} ({r.best_learning_rate_mean:.3f})"
        lines.append(
            f"{r.fraction:>8g} {','.join(map(str, r.seeds)):>5}  {cell:<{width}}{r.best_value:>5.3f}  {lr:<18}"
            f"{r.mean:>6.3f}{r.at_chance:>8.0%}"
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- replay


def replay(
    csv_path: Path,
    name: str,
    methods: Sequence[str],
    seeds: int,
    budget: float,
    jobs: int = 1,
    reps: int = 2000,
) -> dict[str, Any]:
    """Run ``methods`` on the table with the harness (retrain cost model) and summarise.

    Returns the harness's report (``search_efficiency.summarise``) plus what the
    table replay read (levels, seeds, reference).
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
        )
        for s in range(seeds)
        for m in methods
    ]
    results = se._run_all(specs, jobs)
    report = se.summarise(results, list(methods), [_table.INSTANCE], seeds, checkpoints, budget, reps)
    return {
        "scenario": name,
        "seeds": seeds,
        "budget": budget,
        "target": probe.target,
        "direction": probe.direction,
        "cost_model": "retrain",
        "table": probe.describe(),
        "baseline_ladder": list(_methods.geometric_ladder(probe.fidelity.min_fraction)),
        "reference": {"best": ref.best, "worst": ref.worst, "cells": ref.n},
        "regret": "(best - value) / (best - worst) over the seed-mean cells at the largest fraction",
        **report,
    }


# ----------------------------------------------------------------------------- CLI


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--csv", default=str(DEFAULT_CSV), help="the grid CSV (bench/finetune_grid.py)")
    p.add_argument("--out", required=True, help="JSON report to write")
    p.add_argument("--plot", default=None, help="PNG of the replay's IQM regret against budget")
    p.add_argument("--scenario", default="sst2-minilm-lora", help="a label for the table in reports")
    p.add_argument("--seeds", type=int, default=20, help="replay seeds per method (paired)")
    p.add_argument(
        "--budget", type=float, default=12.0, help="budget per replay, in runs at the largest fraction"
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
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    methods = se.parse_methods(args.methods)
    if methods is None:
        return 2
    csv_path = Path(args.csv)
    try:
        table = _table.load_table(
            csv_path, expected_fractions=finetune_grid.FRACTIONS, expected_seeds=finetune_grid.SEEDS
        )
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    design_max = max(finetune_grid.FRACTIONS)
    print(
        f"{csv_path}: {len(table.cells)} cells; complete (fraction, seed) grids: "
        f"{', '.join(f'({f:g}, {s})' for f, s in table.complete) or 'none'}"
    )
    if table.missing:
        print(
            "missing or partial: "
            + ", ".join(f"({f:g}, {s}: {n}/{len(table.cells)})" for f, s, n in table.missing)
        )
    reference = table.fractions[-1] if table.fractions else None
    if reference is not None and reference < design_max:
        print(
            f"note: no complete grid at {design_max:g} yet; rank agreement is against {reference:g} (provisional)"
        )

    rows = agreement(table, reference)
    summaries = fraction_summaries(table)
    print(f"\nper fraction (seed-mean {table.target}; chance <= {CHANCE}):")
    print(format_summaries(summaries))
    print(f"\nrank agreement with fraction {reference}:")
    print(format_agreement(rows) if rows else "(needs complete grids at two fractions for a common seed)")

    report: dict[str, Any] = {
        "csv": str(csv_path),
        "target": table.target,
        "design": {"fractions": list(finetune_grid.FRACTIONS), "seeds": list(finetune_grid.SEEDS)},
        "complete_grids": [list(k) for k in table.complete],
        "missing_grids": [{"fraction": f, "seed": s, "cells_present": n} for f, s, n in table.missing],
        "cells": len(table.cells),
        "chance_threshold": CHANCE,
        "reference_fraction": reference,
        "reference_is_design_max": reference == design_max,
        "per_fraction": [asdict(r) for r in summaries],
        "rank_agreement": [asdict(r) for r in rows],
    }
    try:
        _table.TableScenario(csv_path, args.scenario)
        can_replay = True
    except ValueError as err:
        print(f"\nno replay: {err}")
        can_replay = False
    if can_replay:
        rep = replay(csv_path, args.scenario, methods, args.seeds, args.budget, args.jobs, args.bootstrap)
        t = rep["table"]
        print(
            f"\nreplay: {len(methods)} methods x {args.seeds} seeds, budget {args.budget:g}; fractions "
            f"{t['levels']} (of the max: {t['levels_relative']}), table seeds {t['seeds']}, cost model retrain"
        )
        print(se.format_table(rep))
        print(f"VERDICT {args.scenario} (replay): {rep['verdict']['text']}")
        report["replay"] = rep
        if args.plot:
            se.plot(
                rep,
                f"{args.scenario} table replay: {args.seeds} replay seeds on table seeds {t['seeds']}",
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
    """Dict keys to str and non-finite floats to None, so the JSON is strict."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


if __name__ == "__main__":
    raise SystemExit(main())
