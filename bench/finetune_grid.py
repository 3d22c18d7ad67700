"""Real fine-tuning grid: MiniLM + LoRA on SST-2, every cell at every fraction (issue 8, item 2).

An exhaustive grid over a small space (learning rate x LoRA rank x warmup) at the
nested data fractions 1/2/5/10% of the embedded 20k-row SST-2 sample, with 2 seeds.
Each run goes through hpscout's own trial runner (``hpscout.runner.run_trial``) with
the embedded default example's settings (batch 16, 2 epochs, linear schedule, LoRA
on query/value, alpha 16, eval on the fixed 300-row stratified slice of SST-2 dev).

The table it writes (``bench/results/finetune_grid.csv``) is what no surrogate
replaces: ``bench/finetune_replay.py`` measures rank agreement across fractions and
replays the search methods on it.

Resumable: every finished run is appended to the CSV at once (under a file lock),
and a restart skips the runs already there (bench/_finetune.py). Workers are
processes with one torch thread each (the fastest setting on a shared CPU box).

Usage::

    python bench/finetune_grid.py --workers 2                   # the whole grid (~3.5 CPU-hours)
    python bench/finetune_grid.py --seeds 1 --fractions 0.01    # a slice
    # the upward extension (issue 14): 8 best + 4 worst at 10%, then 6 best + 2 worst at 50%
    python bench/finetune_grid.py --workers 1 --seeds 1 --fractions 0.25,0.5 --select best=8,worst=4,at=0.1
    python bench/finetune_grid.py --workers 1 --seeds 1 --fractions 1.0 --select best=6,worst=2,at=0.5
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _finetune import Job, read_rows, run_jobs  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "finetune_grid.csv"

#: The grid: 6 learning rates (x2 apart) x 2 LoRA ranks x 2 warmup ratios = 24 cells.
LEARNING_RATES = (3e-4, 6e-4, 1.2e-3, 2.5e-3, 5e-3, 1e-2)
LORA_RANKS = (4, 16)
WARMUP_RATIOS = (0.0, 0.1)
FRACTIONS = (0.01, 0.02, 0.05, 0.1)
SEEDS = (0, 1)
#: The upward extension (issue 14): fraction -> (--select spec, seeds). Its cells are chosen from the
#: table itself (the best and worst at a smaller fraction), so they are known once that fraction is.
EXTENSION: dict[float, tuple[str, int]] = {
    0.25: ("best=8,worst=4,at=0.1", 1),
    0.5: ("best=8,worst=4,at=0.1", 1),
    1.0: ("best=6,worst=2,at=0.5", 1),
}


def jobs(
    seeds: tuple[int, ...],
    fractions: tuple[float, ...],
    cells: list[tuple[float, int, float]] | None = None,
) -> list[Job]:
    """Every (fraction, seed, lr, r, warmup), smallest fraction first, then seed: a partial
    run holds whole grids (every cell, every seed) of the smaller fractions."""
    return [
        Job(
            key={"seed": seed, "fraction": fraction, "learning_rate": lr, "lora_r": r, "warmup_ratio": warmup},
            updates={"seed": seed, "train.learning_rate": lr, "train.lora.r": r, "train.warmup_ratio": warmup},
            fraction=fraction,
        )
        for fraction, seed in itertools.product(sorted(fractions), seeds)
        for lr, r, warmup in (cells or list(itertools.product(LEARNING_RATES, LORA_RANKS, WARMUP_RATIOS)))
    ]


def ranked_cells(rows: list[dict[str, str]], fraction: float) -> list[tuple[float, int, float]]:
    """The grid's cells ordered best first by their seed-mean accuracy at ``fraction``."""
    acc: dict[tuple[float, int, float], list[float]] = {}
    for row in rows:
        if abs(float(row["fraction"]) - fraction) > 1e-9 or row["status"] != "complete":
            continue
        cell = (float(row["learning_rate"]), int(row["lora_r"]), float(row["warmup_ratio"]))
        acc.setdefault(cell, []).append(float(row["eval_accuracy"]))
    return sorted(acc, key=lambda c: (-sum(acc[c]) / len(acc[c]), c))


def select_cells(rows: list[dict[str, str]], spec: str) -> list[tuple[float, int, float]]:
    """Cells chosen by ``best=N,worst=M,at=F``: the N best and M worst by seed-mean accuracy at F."""
    opts = dict(part.split("=", 1) for part in spec.split(","))
    ranked = ranked_cells(rows, float(opts["at"]))
    if not ranked:
        raise SystemExit(f"--select {spec}: the CSV has no complete run at fraction {opts['at']} yet")
    best, worst = int(opts.get("best", 0)), int(opts.get("worst", 0))
    chosen = ranked[:best] + [c for c in ranked[len(ranked) - worst:] if c not in ranked[:best]]
    return chosen


def parse_cells(spec: str | None) -> list[tuple[float, int, float]] | None:
    """Cells named ``LR:R:WARMUP,...`` (None: every cell); each must be a cell of the grid.

    Example:
        >>> parse_cells("0.0012:16:0.0,2.5e-3:4:0.1")
        [(0.0012, 16, 0.0), (0.0025, 4, 0.1)]
    """
    if spec is None:
        return None
    grid = set(itertools.product(LEARNING_RATES, LORA_RANKS, WARMUP_RATIOS))
    cells = []
    for part in spec.split(","):
        try:
            lr, r, warmup = part.split(":")
            cell = (float(lr), int(r), float(warmup))
        except ValueError:
            raise SystemExit(f"--cells: {part!r} is not LR:R:WARMUP (e.g. 0.0012:16:0.0)") from None
        if cell not in grid:
            raise SystemExit(
                f"--cells: {part!r} is not a grid cell (learning rates {LEARNING_RATES}, ranks {LORA_RANKS}, "
                f"warmup ratios {WARMUP_RATIOS})"
            )
        cells.append(cell)
    return cells


def select_at(spec: str) -> float:
    """The fraction a ``best=N,worst=M,at=F`` spec ranks cells at."""
    return float(dict(part.split("=", 1) for part in spec.split(","))["at"])


def planned_cells(
    rows: list[dict[str, str]], spec: str, ready: Callable[[float], bool]
) -> list[tuple[float, int, float]] | None:
    """The cells a ``--select`` spec (an :data:`EXTENSION` entry) chooses from ``rows``; None while the
    fraction they are chosen at is not ``ready`` (complete), since the choice is not known yet."""
    if not ready(select_at(spec)):
        return None
    return select_cells(rows, spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--workers", type=int, default=2, help="processes, one torch thread each")
    parser.add_argument("--seeds", type=int, default=len(SEEDS), help="seeds 0..N-1")
    parser.add_argument("--fractions", default=",".join(str(f) for f in FRACTIONS))
    parser.add_argument(
        "--select",
        default=None,
        help="only some cells: 'best=N,worst=M,at=F' = the N best and M worst by seed-mean accuracy at fraction F "
        "(the upward extension: --fractions 0.25,0.5 --select best=8,worst=4,at=0.1 --seeds 1)",
    )
    parser.add_argument(
        "--cells",
        default=None,
        help="only these cells, 'LR:R:WARMUP,...' (e.g. a second seed at 100%%: --seeds 2 --fractions 1.0 "
        "--cells 0.0012:16:0.0,0.0025:16:0.0); the CSV's runs are skipped, so --seeds 2 runs seed 1 only",
    )
    args = parser.parse_args(argv)
    if args.select and args.cells:
        parser.error("--select and --cells choose cells two ways: give one")
    cells = select_cells(read_rows(args.out), args.select) if args.select else parse_cells(args.cells)
    todo = jobs(tuple(range(args.seeds)), tuple(float(f) for f in args.fractions.split(",")), cells)
    run_jobs(todo, args.out, workers=args.workers, log=lambda m: print(m, flush=True))
    print(f"done: {len(read_rows(args.out))} rows in {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
