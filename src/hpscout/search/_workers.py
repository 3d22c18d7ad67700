"""Local worker processes, one per GPU when GPUs exist.

``--workers N`` starts N processes (multiprocessing "spawn": a fresh interpreter each, so
CUDA is never forked). Each opens its own storage connection and runs
:func:`hpscout.search.run_worker`; the parent only watches the study and prints progress.
With GPUs, worker ``i`` sees only GPU ``i mod n_gpus`` through ``CUDA_VISIBLE_DEVICES``.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

from hpscout._errors import HpscoutError
from hpscout.config import ExperimentConfig

__all__ = ["visible_gpus", "gpu_count", "assign_gpus", "threads_per_worker", "apply_threads", "run_local_workers"]


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as ``CUDA_VISIBLE_DEVICES`` entries.

    Reads ``CUDA_VISIBLE_DEVICES`` when set (``""`` or ``-1`` mean none), else asks
    ``nvidia-smi -L``, else ``torch.cuda.device_count()`` (torch imported only here).
    """
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        ids = [x.strip() for x in env.split(",") if x.strip()]
        out = []
        for x in ids:
            if x.startswith("-"):
                break  # CUDA ignores everything from the first invalid id
            out.append(x)
        return out
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            text = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10, check=False).stdout
        except (OSError, subprocess.SubprocessError):
            text = ""
        n = sum(1 for line in text.splitlines() if line.startswith("GPU "))
        if n:
            return [str(i) for i in range(n)]
    try:
        import torch  # noqa: PLC0415 - only to count devices when nothing else could

        return [str(i) for i in range(torch.cuda.device_count())]
    except Exception:  # noqa: BLE001 - no torch or no CUDA: no GPUs
        return []


def gpu_count() -> int:
    """How many GPUs :func:`visible_gpus` finds."""
    return len(visible_gpus())


def assign_gpus(n_workers: int, gpus: Sequence[str] | int) -> list[str | None]:
    """The ``CUDA_VISIBLE_DEVICES`` value for each worker: round-robin over ``gpus``, ``None`` without GPUs.

    ``gpus`` may be a count (ids ``0..n-1``) or explicit ids.

    Example:
        >>> assign_gpus(4, 2)
        ['0', '1', '0', '1']
        >>> assign_gpus(2, 0)
        [None, None]
    """
    ids = [str(i) for i in range(gpus)] if isinstance(gpus, int) else [str(g) for g in gpus]
    if not ids:
        return [None] * n_workers
    return [ids[i % len(ids)] for i in range(n_workers)]


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def threads_per_worker(n_workers: int, configured: int | None = None, cores: int | None = None) -> int | None:
    """``search.threads`` when set; else, for several workers, the cores divided among them; else None.

    Example:
        >>> threads_per_worker(4, cores=16), threads_per_worker(4, cores=2), threads_per_worker(1, cores=16)
        (4, 1, None)
        >>> threads_per_worker(4, configured=2, cores=16)
        2
    """
    if configured is not None:
        return int(configured)
    if n_workers <= 1:
        return None
    return max(1, (cores if cores is not None else available_cores()) // n_workers)


def apply_threads(threads: int | None) -> None:
    """Cap this process's CPU threads: OpenMP/MKL variables (read when torch loads, inherited
    by command-runner scripts) and, when torch is already loaded, ``torch.set_num_threads``."""
    if threads is None:
        return
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


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
    from hpscout._signals import Terminated, install_sigterm_handler
    from hpscout.search._study import run_worker

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
    progress: Any = None,
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
            if study is not None and progress is not None:
                _poll(study, progress)
            alive[0].join(timeout=poll)
    except KeyboardInterrupt:
        # the workers got the same SIGINT: they re-queue their trials and exit
        for p in procs:
            p.join(timeout=30)
        for p in procs:
            if p.is_alive():
                p.terminate()
        raise
    if study is not None and progress is not None:
        _poll(study, progress)
    errors = []
    for i, p in enumerate(procs):
        if p.exitcode not in (0, None):
            how = f"signal {-p.exitcode}" if p.exitcode < 0 else f"exit code {p.exitcode}"
            errors.append(f"worker {i} ended with {how}")
    return errors


def _poll(study: Any, progress: Any) -> None:
    from hpscout.search._storage import is_storage_outage

    try:
        progress.update(study.get_trials(deepcopy=False))
    except Exception as exc:
        if not is_storage_outage(exc):
            raise
