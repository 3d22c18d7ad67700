"""What a worker process may use: the GPUs it sees and the CPU threads it runs.

With GPUs, local worker ``i`` sees only GPU ``i mod n_gpus`` through
``CUDA_VISIBLE_DEVICES``; several workers on one machine divide its cores between them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence

__all__ = ["visible_gpus", "gpu_count", "assign_gpus", "available_cores", "threads_per_worker", "apply_threads"]


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
