"""One seed for everything random in a trial: python, numpy, torch (CPU and CUDA).

The Trainer also gets the seed (``seed`` and ``data_seed``) so the data order
follows it; the plain-torch runner hands it to the task's loader. Evaluations run
inside :func:`rng_kept`, so how often a trial evaluates does not change its training.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

__all__ = ["rng_kept", "seed_everything"]


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy and torch (every CUDA device included).

    Example:
        >>> seed_everything(42)
    """
    random.seed(seed)
    # child processes (dataloader workers, commands) inherit a fixed hash seed
    os.environ["PYTHONHASHSEED"] = str(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:  # the command runner works without torch
        return
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


@contextmanager
def rng_kept() -> Iterator[None]:
    """Run the block, then put python's, numpy's and torch's (CPU and CUDA) random states back.

    An evaluation draws from the global generators (each new DataLoader iterator takes a seed
    from torch's), so without this the data order and dropout after an evaluation would depend
    on whether it ran: a trial evaluated per epoch would train differently from one evaluated
    once at the end.

    Example:
        >>> with rng_kept():
        ...     _ = random.random()
    """
    import torch

    py_state, np_state = random.getstate(), np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
