"""Local worker processes, one per GPU when GPUs exist.

``--workers N`` starts N processes (multiprocessing "spawn": a fresh interpreter each, so
CUDA is never forked). Each opens its own storage connection and runs
:func:`hpscout.search.run_worker`; the parent only watches the study and prints progress.
With GPUs, worker ``i`` sees only GPU ``i mod n_gpus`` through ``CUDA_VISIBLE_DEVICES``
(:mod:`hpscout.search._devices`).

Workers never outlive the run. SIGTERM to the parent is passed on to every worker at once,
and a worker whose parent dies (even by SIGKILL) stops itself the same way: its running
trial is re-queued with the same parameters and nothing keeps training into the study.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
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
    _stop_with_parent()
    try:
        run_worker(config, storage=storage, trials=trials, objective=objective, progress=False, seed_offset=index)
    except HpscoutError as exc:
        print(f"error: worker {index}: {exc}", file=sys.stderr, flush=True)
        sys.exit(exc.exit_code)
    except Terminated:
        sys.exit(143)
    except KeyboardInterrupt:
        sys.exit(130)


def _stop_with_parent() -> None:
    """Send this worker SIGTERM when its parent process ends, however it ended."""
    parent = multiprocessing.parent_process()
    if parent is None or parent.sentinel is None:
        return

    def watch(sentinel: int) -> None:
        multiprocessing.connection.wait([sentinel])
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, args=(parent.sentinel,), name="hpscout-parent-watch", daemon=True).start()


def _wind_down(procs: list[Any], *, grace: float) -> None:
    """Wait ``grace`` seconds for stopping workers, then SIGTERM the rest, then SIGKILL what still runs."""
    for p in procs:
        p.join(timeout=grace)
    for p in procs:
        if p.is_alive():
            p.terminate()
            p.join(timeout=10)
        if p.is_alive():
            p.kill()
            p.join(timeout=5)


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
    except KeyboardInterrupt as exc:
        # Ctrl-C reached the workers too; SIGTERM reached only this process: pass it on.
        # Either way each worker re-queues its trial and exits.
        if isinstance(exc, Terminated):
            for p in procs:
                if p.is_alive():
                    p.terminate()
        _wind_down(procs, grace=30.0)
        raise
    if study is not None:
        show_trials(progress, study)
    errors = []
    for i, p in enumerate(procs):
        if p.exitcode not in (0, None):
            how = f"signal {-p.exitcode}" if p.exitcode < 0 else f"exit code {p.exitcode}"
            errors.append(f"worker {i} ended with {how}")
    return errors
