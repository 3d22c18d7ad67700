"""Learning-rate drift between the scouting fraction and more data, on real fine-tuning (issue 10).

Three measurements on MiniLM + LoRA on SST-2 (the embedded 20k-row sample), all from
real runs through hpscout's trial runner:

1. **From the grid** (``bench/finetune_grid.py``, fractions 1/2/5/10%, 2 seeds): the
   best learning rate per fraction, the law ``LR*(x) = B x^-beta`` fitted by hpscout
   (``hpscout.analysis.fit_lr_scaling``) on the rungs up to the scout fraction (5%), and
   a held-out check at 10%: the scouted-best cell against the same cell with the LR the
   law predicts (the nearest grid LR), per seed (each seed is one user's scouting).
2. **At a larger fraction** (``--fraction``, default 25% = 5,000 rows, 5x the scout
   fraction): the scouted-best config trained with its scouted LR and with the LR the
   law (fitted on the seed-mean rungs 1/2/5%) predicts for that size, ``--seeds`` each;
   the paired difference with a 95% t interval.
3. **Step-matched scouting** (``scout.step_matched``): the 1% rung trained for as many
   optimizer steps as the 5% scout fraction takes (10 epochs over 200 rows), every grid
   LR, on the scouted-best cell's rank and warmup (``--sm-seeds`` seeds); its best LR and train/eval loss
   against the epoch-matched grid.

Runs are resumable (bench/_finetune.py). Usage::

    python bench/lr_drift.py --fraction 0.25 --seeds 3 --out bench/results/lr_drift.json
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _finetune import Job, base_config, read_rows, run_jobs  # noqa: E402

HERE = Path(__file__).resolve().parent
GRID = HERE / "results" / "finetune_grid.csv"
RUNS = HERE / "results" / "lr_drift_runs.csv"
SCOUT = 0.05
HELD_OUT = 0.1
#: Accuracy at or below this is chance on balanced SST-2 (a run that learned nothing).
CHANCE = 0.55

Cell = tuple[float, int, float]  # learning_rate, lora_r, warmup_ratio


def _f(x: str) -> float:
    return float(x) if x not in ("", None) else math.nan


def grid_table(rows: Sequence[Mapping[str, str]]) -> dict[float, dict[int, dict[Cell, dict[str, float]]]]:
    """fraction -> seed -> cell -> {acc, steps, rows} from the grid CSV (complete runs only)."""
    out: dict[float, dict[int, dict[Cell, dict[str, float]]]] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        if r["status"] != "complete":
            continue
        cell = (float(r["learning_rate"]), int(r["lora_r"]), float(r["warmup_ratio"]))
        out[float(r["fraction"])][int(r["seed"])][cell] = {
            "acc": _f(r["eval_accuracy"]),
            "steps": float(r["optimizer_steps"]),
            "rows": float(r["train_rows"]),
        }
    return out


def complete_levels(table: Mapping[float, Mapping[int, Mapping[Cell, Any]]], n_cells: int) -> dict[float, list[int]]:
    """fraction -> seeds whose grid at that fraction has every cell."""
    return {f: sorted(s for s, cells in seeds.items() if len(cells) == n_cells) for f, seeds in sorted(table.items())}


def mean_acc(table: Mapping[float, Mapping[int, Mapping[Cell, Mapping[str, float]]]], f: float, seeds: Sequence[int]) -> dict[Cell, float]:
    cells = set.intersection(*(set(table[f][s]) for s in seeds))
    return {c: statistics.fmean(table[f][s][c]["acc"] for s in seeds) for c in cells}


def best_cell(acc: Mapping[Cell, float]) -> Cell:
    """The best cell; ties go to the smaller LR, then rank, then warmup (deterministic)."""
    return max(sorted(acc), key=lambda c: acc[c])


def nearest_lr(lr: float, grid: Sequence[float]) -> float:
    return min(grid, key=lambda g: abs(math.log(g) - math.log(lr)))


def fit_law(
    table: Mapping[float, Mapping[int, Mapping[Cell, Mapping[str, float]]]],
    fractions: Sequence[float],
    seeds: Sequence[int],
    full_rows: float,
    full_steps: float,
) -> dict[str, Any]:
    """hpscout's own fit over the best LR at each fraction (seed-mean accuracy over ``seeds``)."""
    from hpscout.analysis import fit_lr_scaling

    rungs, steps, rows = [], {}, {}
    for f in fractions:
        acc = mean_acc(table, f, seeds)
        cell = best_cell(acc)
        lrs = sorted({c[0] for c in acc})
        at_chance = acc[cell] <= CHANCE
        rungs.append(
            {
                "fraction": f,
                "n_trials": len(acc),
                "best_lr": cell[0],
                "best_value": acc[cell],
                "best_trial": None,
                "usable": not at_chance,
                "note": "every cell at chance" if at_chance else ("the best LR is at the edge of the grid" if cell[0] in (lrs[0], lrs[-1]) else None),
            }
        )
        any_seed = next(iter(table[f][seeds[0]].values()))
        steps[f], rows[f] = int(any_seed["steps"]), int(any_seed["rows"])
    return fit_lr_scaling(
        rungs,
        steps_at=lambda f: steps[f],
        rows_at=lambda f: rows[f],
        full_rows=int(full_rows),
        full_steps=int(full_steps),
    )


def t_interval(diffs: Sequence[float], confidence: float = 0.95) -> dict[str, Any]:
    """Mean and two-sided t interval of paired differences (None with fewer than 2)."""
    from scipy import stats

    n = len(diffs)
    mean = statistics.fmean(diffs) if diffs else math.nan
    if n < 2:
        return {"n": n, "mean": mean, "ci": None}
    half = float(stats.t.ppf(1 - (1 - confidence) / 2, n - 1)) * statistics.stdev(diffs) / math.sqrt(n)
    return {"n": n, "mean": mean, "ci": [mean - half, mean + half]}


def correct_like_export(law: Mapping[str, Any], scouted: Cell, rows: int, steps: int) -> tuple[float, dict[str, Any]]:
    """The corrected LR as hpscout's export computes it, ``lr * (x_full / x_scout) ** -beta``
    (relative to the scouted LR), and what export would decide (``hpscout.export.lr_correction``,
    which also applies only when beta's 95% interval excludes 0)."""
    from hpscout.export import lr_correction

    config = base_config({"train.learning_rate": scouted[0], "train.lora.r": scouted[1], "train.warmup_ratio": scouted[2]})
    decision = lr_correction(config, dict(law), mode="law", full_total_steps=steps, full_samples=rows, scout_fraction=SCOUT)
    x_scout = next(p["x"] for p in law["points"] if abs(p["fraction"] - SCOUT) < 1e-12)
    x_full = steps if law["x_kind"] == "steps" else rows
    corrected = scouted[0] * (x_full / x_scout) ** (-law["beta"])
    return corrected, {"applied": decision.applied, "reason": decision.reason, "export_lr": decision.corrected_lr}


# ----------------------------------------------------------------------------- 1. the grid


def grid_analysis(table: Any, fractions: Sequence[float], seeds: Sequence[int]) -> dict[str, Any]:
    scout_fracs = [f for f in fractions if f <= SCOUT + 1e-12]
    held = table[HELD_OUT]
    any_row = next(iter(held[seeds[0]].values()))
    per_fraction = {}
    for f in fractions:
        acc = mean_acc(table, f, seeds)
        cell = best_cell(acc)
        per_fraction[f"{f:g}"] = {
            "best_cell": {"learning_rate": cell[0], "lora_r": cell[1], "warmup_ratio": cell[2]},
            "best_accuracy": acc[cell],
            "optimizer_steps": int(next(iter(table[f][seeds[0]].values()))["steps"]),
            "cells_at_chance": sum(a <= CHANCE for a in acc.values()),
            "best_accuracy_by_lr": {f"{lr:g}": max(a for c, a in acc.items() if c[0] == lr) for lr in sorted({c[0] for c in acc})},
        }
    lr_grid = sorted({c[0] for c in mean_acc(table, HELD_OUT, seeds)})
    checks = []
    for s in seeds:  # each seed = one user's scouting run
        scout_acc = {c: v["acc"] for c, v in table[SCOUT][s].items()}
        scouted = best_cell(scout_acc)
        try:
            law = fit_law(table, scout_fracs, [s], any_row["rows"], any_row["steps"])
        except Exception as exc:  # noqa: BLE001 - a refused fit is a result
            checks.append({"seed": s, "scouted": scouted, "law": {"status": "refused", "message": str(exc)}})
            continue
        lr_10, decision = correct_like_export(law, scouted, int(any_row["rows"]), int(any_row["steps"]))
        corrected = (nearest_lr(lr_10, lr_grid), scouted[1], scouted[2])
        at_held = mean_acc(table, HELD_OUT, seeds)
        checks.append(
            {
                "seed": s,
                "scouted_cell": scouted,
                "beta": law["beta"],
                "beta_ci": law["beta_ci"],
                "x_kind": law["x_kind"],
                "per_fraction_best_lr": law["per_fraction_best_lr"],
                "corrected_lr_at_10pct": lr_10,
                "corrected_cell": corrected,
                "accuracy_at_10pct_scouted": at_held[scouted],
                "accuracy_at_10pct_corrected": at_held[corrected],
                "best_at_10pct": max(at_held.values()),
                "export_would_correct": decision["applied"],
                "export_reason": decision["reason"],
            }
        )
    try:
        law_all = fit_law(table, list(fractions), list(seeds), any_row["rows"], any_row["steps"])
        law_all_out = {k: law_all[k] for k in ("beta", "beta_ci", "x_kind", "why", "per_fraction_best_lr")}
    except Exception as exc:  # noqa: BLE001
        law_all_out = {"status": "refused", "message": str(exc)}
    return {"per_fraction": per_fraction, "held_out_check": checks, "law_all_fractions_seed_mean": law_all_out}


# ----------------------------------------------------------------------------- 2 + 3. new runs


def plan_runs(
    table: Any, seeds_grid: Sequence[int], fraction: float, n_seeds: int, full_rows: int, sm_seeds: int = 1
) -> tuple[list[Job], dict[str, Any]]:
    """The larger-fraction comparison and the step-matched rung, as jobs."""
    from hpscout.plan import plan_steps

    scout_fracs = sorted(f for f in table if f <= SCOUT + 1e-12)
    scouted = best_cell(mean_acc(table, SCOUT, seeds_grid))
    rows = round(fraction * full_rows)
    steps = plan_steps(rows, 16, 1, 1, epochs=2).total_steps
    law = fit_law(table, scout_fracs, list(seeds_grid), rows, steps)
    corrected, product = correct_like_export(law, scouted, rows, steps)
    arms = {"scouted": scouted[0], "corrected": float(f"{corrected:.3g}")}
    base = {"train.lora.r": scouted[1], "train.warmup_ratio": scouted[2]}
    jobs = [
        Job(
            key={"experiment": "larger", "arm": arm, "seed": seed, "fraction": fraction, "learning_rate": lr},
            updates={**base, "seed": seed, "train.learning_rate": lr},
            fraction=fraction,
        )
        for seed in range(n_seeds)
        for arm, lr in arms.items()
    ]
    lrs = sorted({c[0] for c in mean_acc(table, SCOUT, seeds_grid)})
    jobs += [
        Job(
            key={"experiment": "step_matched", "arm": "step_matched", "seed": seed, "fraction": 0.01, "learning_rate": lr},
            updates={**base, "seed": seed, "train.learning_rate": lr, "scout.step_matched": True},
            fraction=0.01,
        )
        for seed in list(seeds_grid)[:sm_seeds]
        for lr in lrs
    ]
    plan = {
        "scouted_cell": {"learning_rate": scouted[0], "lora_r": scouted[1], "warmup_ratio": scouted[2]},
        "law": {k: law[k] for k in ("beta", "beta_ci", "x_kind", "why", "per_fraction_best_lr", "note")},
        "export_decision": product,
        "larger_fraction": fraction,
        "larger_rows": rows,
        "larger_steps": steps,
        "arms": arms,
    }
    return jobs, plan


def runs_analysis(rows: Sequence[Mapping[str, str]], table: Any, plan: Mapping[str, Any], seeds_grid: Sequence[int]) -> dict[str, Any]:
    larger = [r for r in rows if r["experiment"] == "larger" and abs(float(r["fraction"]) - plan["larger_fraction"]) < 1e-9]
    by_seed: dict[int, dict[str, float]] = defaultdict(dict)
    for r in larger:
        by_seed[int(r["seed"])][r["arm"]] = _f(r["eval_accuracy"]) if r["status"] == "complete" else math.nan
    paired = [v["corrected"] - v["scouted"] for v in by_seed.values() if {"corrected", "scouted"} <= set(v)]
    arms = {
        arm: [by_seed[s][arm] for s in sorted(by_seed) if arm in by_seed[s]] for arm in ("scouted", "corrected")
    }
    sm = [r for r in rows if r["experiment"] == "step_matched"]
    cell = plan["scouted_cell"]
    sm_acc: dict[float, list[float]] = defaultdict(list)
    sm_loss: dict[float, list[tuple[float, float]]] = defaultdict(list)
    for r in sm:
        lr = float(r["learning_rate"])
        sm_acc[lr].append(_f(r["eval_accuracy"]))
        sm_loss[lr].append((_f(r["train_loss"]), _f(r["eval_loss"])))
    key = lambda lr: (lr, int(cell["lora_r"]), float(cell["warmup_ratio"]))  # noqa: E731
    epoch = {f: mean_acc(table, f, seeds_grid) for f in sorted(table)}
    step_matched = {
        f"{lr:g}": {
            "accuracy_step_matched_1pct": statistics.fmean(v),
            "train_loss": statistics.fmean(t for t, _ in sm_loss[lr]),
            "eval_loss": statistics.fmean(e for _, e in sm_loss[lr]),
            **{f"accuracy_epochs_{f:g}": epoch[f].get(key(lr)) for f in epoch},
        }
        for lr, v in sorted(sm_acc.items())
    }
    best_sm = max(step_matched, key=lambda lr: step_matched[lr]["accuracy_step_matched_1pct"]) if step_matched else None
    return {
        "larger": {
            "accuracy": {arm: {"per_seed": v, "mean": statistics.fmean(v) if v else None} for arm, v in arms.items()},
            "corrected_minus_scouted": t_interval(paired),
        },
        "step_matched": {"by_lr": step_matched, "best_lr_step_matched_1pct": best_sm},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--grid", type=Path, default=GRID)
    parser.add_argument("--runs", type=Path, default=RUNS, help="CSV of this benchmark's own runs (resumable)")
    parser.add_argument("--fraction", type=float, default=0.25, help="the larger fraction of the comparison")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per arm at the larger fraction")
    parser.add_argument("--sm-seeds", type=int, default=1, help="seeds of the step-matched 1%% rung (grid seeds 0..N-1)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-run", action="store_true", help="analyse what is there, train nothing")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "lr_drift.json")
    args = parser.parse_args(argv)

    from hpscout.config import load_config  # noqa: F401 - fail early without hpscout

    table = grid_table(read_rows(args.grid))
    n_cells = max((len(c) for seeds in table.values() for c in seeds.values()), default=0)
    levels = {f: s for f, s in complete_levels(table, n_cells).items() if s}  # fractions with a whole grid
    # the plan uses the fractions up to the scout fraction and the seeds whole at all of them;
    # the held-out check at 10% only the seeds whole at every fraction
    scout_levels = [set(s) for f, s in levels.items() if f <= SCOUT + 1e-12]
    seeds = sorted(set.intersection(*scout_levels)) if scout_levels else []
    fractions = [f for f, s in levels.items() if f <= SCOUT + 1e-12 and set(seeds) <= set(s)]
    print(f"grid: complete (fraction: seeds) {levels}", flush=True)
    if not seeds or SCOUT not in fractions:
        print("the grid has no complete 1/2/5% levels yet", file=sys.stderr)
        return 1
    full_rows = round(next(iter(table[SCOUT][seeds[0]].values()))["rows"] / SCOUT)
    jobs, plan = plan_runs(table, seeds, args.fraction, args.seeds, full_rows, args.sm_seeds)
    print(json.dumps(plan, indent=1, default=str), flush=True)
    if not args.no_run:
        run_jobs(jobs, args.runs, workers=args.workers, log=lambda m: print(m, flush=True))
    report: dict[str, Any] = {
        "command": "python " + " ".join(sys.argv),
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "grid_levels": {f"{f:g}": s for f, s in levels.items()},
        "plan": plan,
        "runs": runs_analysis(read_rows(args.runs), table, plan, seeds),
    }
    seeds_all = sorted(set(seeds) & set(levels.get(HELD_OUT, [])))
    if seeds_all:
        report["grid"] = grid_analysis(table, [*fractions, HELD_OUT], seeds_all)
    from hpscout._io import atomic_write_text

    atomic_write_text(args.out, json.dumps(report, indent=1, default=str) + "\n")
    print(json.dumps({k: report[k] for k in ("runs", "grid") if k in report}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
