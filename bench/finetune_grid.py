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
and a restart skips the runs already there. Workers are separate processes with one
torch thread each (the fastest setting on a shared CPU box, see docs/benchmarks.md).

Usage::

    python bench/finetune_grid.py --workers 2                   # the whole grid (~3.5 CPU-hours)
    python bench/finetune_grid.py --seeds 1 --fractions 0.01    # a slice
"""

from __future__ import annotations

import argparse
import csv
import fcntl
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "finetune_grid.csv"

#: The grid: 6 learning rates (x2 apart) x 2 LoRA ranks x 2 warmup ratios = 24 cells.
LEARNING_RATES = (3e-4, 6e-4, 1.2e-3, 2.5e-3, 5e-3, 1e-2)
LORA_RANKS = (4, 16)
WARMUP_RATIOS = (0.0, 0.1)
FRACTIONS = (0.01, 0.02, 0.05, 0.1)
SEEDS = (0, 1)
#: The base config: the embedded default example (examples/sst2-minilm-lora.yaml).
TEMPLATE = "sst2-minilm-lora.yaml"

COLUMNS = (
    "seed",
    "fraction",
    "learning_rate",
    "lora_r",
    "warmup_ratio",
    "status",
    "eval_accuracy",
    "eval_f1",
    "eval_loss",
    "train_rows",
    "optimizer_steps",
    "elapsed_seconds",
)


def jobs(seeds: tuple[int, ...], fractions: tuple[float, ...]) -> list[tuple[int, float, float, int, float]]:
    """Every (seed, fraction, lr, r, warmup), seed-major so a partial run holds whole grids."""
    return [
        (seed, fraction, lr, r, warmup)
        for seed, fraction in itertools.product(seeds, fractions)
        for lr, r, warmup in itertools.product(LEARNING_RATES, LORA_RANKS, WARMUP_RATIOS)
    ]


def job_key(seed: object, fraction: object, lr: object, r: object, warmup: object) -> tuple[int, str, str, int, str]:
    return (int(seed), f"{float(fraction):.6g}", f"{float(lr):.6g}", int(r), f"{float(warmup):.6g}")  # type: ignore[arg-type]


def done_keys(path: Path) -> set[tuple[int, str, str, int, str]]:
    if not path.exists():
        return set()
    with path.open(newline="") as fh:
        return {
            job_key(row["seed"], row["fraction"], row["learning_rate"], row["lora_r"], row["warmup_ratio"])
            for row in csv.DictReader(fh)
        }


def append_row(path: Path, row: dict[str, object]) -> None:
    """Append one row under an exclusive lock (several workers share the file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", newline="") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            fh.seek(0, os.SEEK_END)
            writer = csv.DictWriter(fh, fieldnames=COLUMNS)
            if fh.tell() == 0:
                writer.writeheader()
            writer.writerow(row)
            fh.flush()
            os.fsync(fh.fileno())
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def base_config() -> object:
    from importlib.resources import files

    from hpscout.config import load_config

    return load_config(str(files("hpscout") / "templates" / TEMPLATE))


def run_one(base: object, job: tuple[int, float, float, int, float], out: Path) -> dict[str, object]:
    from hpscout.config import apply_updates
    from hpscout.runner import run_trial

    seed, fraction, lr, r, warmup = job
    config = apply_updates(
        base,  # type: ignore[arg-type]
        {"seed": seed, "train.learning_rate": lr, "train.lora.r": r, "train.warmup_ratio": warmup},
    )
    with tempfile.TemporaryDirectory(prefix="hpscout-grid-") as tmp:
        result = run_trial(config, out_dir=tmp, fraction=fraction)
    metrics = result.metrics
    return {
        "seed": seed,
        "fraction": fraction,
        "learning_rate": lr,
        "lora_r": r,
        "warmup_ratio": warmup,
        "status": result.status.value,
        "eval_accuracy": metrics.get("eval_accuracy", ""),
        "eval_f1": metrics.get("eval_f1", ""),
        "eval_loss": metrics.get("eval_loss", ""),
        "train_rows": result.train_samples,
        "optimizer_steps": result.steps,
        "elapsed_seconds": round(result.elapsed_seconds, 2),
    }


def worker(index: int, count: int, seeds: tuple[int, ...], fractions: tuple[float, ...], out: Path) -> None:
    import torch

    torch.set_num_threads(1)
    base = base_config()
    todo = [job for n, job in enumerate(jobs(seeds, fractions)) if n % count == index]
    for job in todo:
        if job_key(*job) in done_keys(out):
            continue
        start = time.perf_counter()
        row = run_one(base, job, out)
        append_row(out, row)
        print(
            f"[worker {index}] seed={job[0]} f={job[1]} lr={job[2]:g} r={job[3]} warmup={job[4]}: "
            f"{row['status']} acc={row['eval_accuracy']} ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--workers", type=int, default=2, help="processes, one torch thread each")
    parser.add_argument("--seeds", type=int, default=len(SEEDS), help="seeds 0..N-1")
    parser.add_argument("--fractions", default=",".join(str(f) for f in FRACTIONS))
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # "i/n", set for child processes
    args = parser.parse_args(argv)
    seeds = tuple(range(args.seeds))
    fractions = tuple(float(f) for f in args.fractions.split(","))
    if args.worker:
        index, count = (int(x) for x in args.worker.split("/"))
        worker(index, count, seeds, fractions, args.out)
        return 0
    total = len(jobs(seeds, fractions))
    print(f"{total} runs, {total - len(done_keys(args.out))} to go, {args.workers} workers -> {args.out}", flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    children = [
        subprocess.Popen(
            [sys.executable, __file__, "--out", str(args.out), "--seeds", str(args.seeds), "--fractions", args.fractions,
             "--worker", f"{i}/{args.workers}"],
            env=env,
        )
        for i in range(args.workers)
    ]
    codes = [child.wait() for child in children]
    print(f"done: {len(done_keys(args.out))}/{total} runs in {args.out}", flush=True)
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
