"""Local worker processes, one per GPU when GPUs exist.

``--workers N`` starts N processes (multiprocessing "spawn": a fresh interpreter each, so
CUDA is never forked). Each opens its own storage connection and runs
:func:`hpscout.search.run_worker`; the parent only watches the study and prints progress.
With GPUs, worker ``i`` sees only GPU ``i mod n_gpus`` through ``CUDA_VISIBLE_DEVICES``
(:mod:`hpscout.search._devices`).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable
from typing import Any

from hpscout._errors import HpscoutError
from hpscout._signals import Terminated, install_sigterm_handler
from hpscout.config import ExperimentConfig
from hpscout.search._claim import run_worker
from hpscout.search._devices import apply_threads, assign_gpus, threads_per_worker, visible_gpus
from hpscout.search._progress import Progress, show_trials

__all__ = ["run_local_workers"]


def _worker_main(
    config: ExperimentConfig,
    storage: str | None,
    trials: int | None,
    objective: Callable[..., Any] | str | None,
    index: int,
    gpu: str | None,
    threads: int | None = None,
) -> None:
    """Entry point of one spawned worker."""
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    apply_threads(threads)
    os.environ["HPSCOUT_WORKER"] = str(index)
    install_sigterm_handler()
    try:
        run_worker(config, storage=storage, trials=trials, objective=objective, progress=False, seed_offset=index)
    except HpscoutError as exc:
        print(f"error: worker {index}: {exc}", file=sys.stderr, flush=True)
        sys.exit(exc.exit_code)
    except Terminated:
        sys.exit(143)
    except KeyboardInterrupt:
        sys.exit(130)


def run_local_workers(
    config: ExperimentConfig,
    *,
    storage: str | None,
    trials: int | None,
    objective: Callable[..., Any] | str | None,
    n: int,
    progress: Progress | None = None,
    study: Any = None,
    poll: float = 1.0,
) -> list[str]:
    """Run ``n`` worker processes on the study until they are done; return one line per failed worker."""
    gpus = visible_gpus()
    assignment = assign_gpus(n, gpus)
    if gpus and n > len(gpus) and progress is not None and progress.enabled:
        print(f"[search] {n} workers share {len(gpus)} GPUs (round-robin)", file=sys.stderr, flush=True)
    threads = threads_per_worker(n, config.search.threads)
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(
            target=_worker_main,
            args=(config, storage, trials, objective, i, assignment[i], threads),
            name=f"hpscout-worker-{i}",
        )
        for i in range(n)
    ]
    for p in procs:
        p.start()
    try:
        while True:
            alive = [p for p in procs if p.is_alive()]
            if not alive:
                break
            if study is not None:
                show_trials(progress, study)
            alive[0].join(timeout=poll)
    except KeyboardInterrupt:
        # the workers got the same SIGINT: they re-queue their trials and exit
        for p in procs:
            p.join(timeout=30)
        for p in procs:
            if p.is_alive():
                p.terminate()
        raise
    if study is not None:
        show_trials(progress, study)
    errors = []
    for i, p in enumerate(procs):
        if p.exitcode not in (0, None):
            how = f"signal {-p.exitcode}" if p.exitcode < 0 else f"exit code {p.exitcode}"
            errors.append(f"worker {i} ended with {how}")
    return errors
