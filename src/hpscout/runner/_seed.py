"""One seed for everything random in a trial: python, numpy, torch (CPU and CUDA).

The Trainer also gets the seed (``seed`` and ``data_seed``) so the data order
follows it; the plain-torch runner hands it to the task's loader.
"""

from __future__ import annotations

import os
import random

import numpy as np

__all__ = ["seed_everything"]


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
