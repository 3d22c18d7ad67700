"""Real MiniLM + LoRA fine-tuning runs for the benchmarks, resumable and in parallel.

Every run goes through hpscout's own trial runner (``hpscout.runner.run_trial``)
on the embedded default example, frozen in bench/finetune_base.yaml, with dotted
config updates. Finished runs are appended to a CSV at once, under a file lock,
so a killed benchmark resumes where it stopped: :func:`run_jobs` skips the keys
already in the file. Workers are processes with one torch thread each, the
fastest setting on a shared CPU box (docs/benchmarks.md, runner throughput).
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import fcntl
import math
import multiprocessing
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The base config of every run: the embedded default example, frozen as the grid began (see the file's header).
BASE = Path(__file__).resolve().parent / "finetune_base.yaml"
#: Columns every run row has (benchmarks add their own key columns in front).
RESULT_COLUMNS = (
    "status",
    "eval_accuracy",
    "eval_f1",
    "eval_loss",
    "train_loss",
    "train_rows",
    "optimizer_steps",
    "elapsed_seconds",
)


@dataclass(frozen=True)
class Job:
    """One run: its key columns (what identifies it in the CSV), config updates and fraction."""

    key: Mapping[str, Any]
    updates: Mapping[str, Any]
    fraction: float


def canonical(value: Any) -> str:
    """A CSV cell as a comparable string (``0.001`` and ``1e-3`` are the same run)."""
    if isinstance(value, bool):
        return str(value)
    try:
        return f"{float(value):.6g}"
    except (TypeError, ValueError):
        return str(value)


def key_of(row: Mapping[str, Any], columns: Sequence[str]) -> tuple[str, ...]:
    return tuple(canonical(row[c]) for c in columns)


def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def append_row(path: Path, row: Mapping[str, Any], columns: Sequence[str]) -> None:
    """Append one row under an exclusive lock (several processes may share the file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", newline="") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            fh.seek(0)
            header = next(csv.reader(fh), None)  # an existing file keeps its own columns
            fh.seek(0, os.SEEK_END)
            writer = csv.DictWriter(fh, fieldnames=header or list(columns), extrasaction="ignore", restval="")
            if not header:
                writer.writeheader()
            writer.writerow(row)
            fh.flush()
            os.fsync(fh.fileno())
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def base_config(updates: Mapping[str, Any] | None = None) -> Any:
    """The benchmarks' frozen base config (:data:`BASE`), with ``updates`` applied."""
    from hpscout.config import apply_updates, load_config

    config = load_config(BASE)
    return apply_updates(config, dict(updates)) if updates else config


def _last_train_loss(history: Iterable[Mapping[str, Any]]) -> float | None:
    losses = [h["loss"] for h in history if isinstance(h.get("loss"), (int, float)) and math.isfinite(h["loss"])]
    return float(losses[-1]) if losses else None


def run_one(updates: Mapping[str, Any], fraction: float) -> dict[str, Any]:
    """Train and evaluate one config at ``fraction``; the result columns of its row."""
    from hpscout.runner import run_trial

    config = base_config(updates)
    with tempfile.TemporaryDirectory(prefix="hpscout-bench-") as tmp:
        result = run_trial(config, out_dir=tmp, fraction=fraction)
    metrics = result.metrics
    train_loss = _last_train_loss(result.history)
    return {
        "status": result.status.value,
        "eval_accuracy": metrics.get("eval_accuracy", ""),
        "eval_f1": metrics.get("eval_f1", ""),
        "eval_loss": metrics.get("eval_loss", ""),
        "train_loss": "" if train_loss is None else train_loss,
        "train_rows": result.train_samples,
        "optimizer_steps": result.steps,
        "elapsed_seconds": round(result.elapsed_seconds, 2),
    }


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def run_jobs(
    jobs: Sequence[Job],
    out: Path,
    *,
    workers: int = 2,
    log: Callable[[str], None] = print,
) -> int:
    """Run the jobs whose key is not in ``out`` yet, ``workers`` at a time; returns how many ran."""
    key_columns = list(jobs[0].key) if jobs else []
    columns = [*key_columns, *RESULT_COLUMNS]
    done = {key_of(r, key_columns) for r in read_rows(out)}
    todo = [j for j in jobs if key_of(j.key, key_columns) not in done]
    log(f"{len(jobs)} runs, {len(todo)} to go, {workers} workers -> {out}")
    if not todo:
        return 0
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    context = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_one_thread) as pool:
        started = {pool.submit(run_one, dict(j.updates), j.fraction): j for j in todo}
        for n, future in enumerate(cf.as_completed(started), start=1):
            job = started[future]
            row = {**job.key, **future.result()}
            append_row(out, row, columns)
            log(
                f"[{n}/{len(todo)}] " + " ".join(f"{k}={canonical(v)}" for k, v in job.key.items())
                + f": {row['status']} acc={canonical(row['eval_accuracy'])} (trained {row['elapsed_seconds']} s)"
            )
    return len(todo)
