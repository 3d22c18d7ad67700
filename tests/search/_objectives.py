"""Cheap module-level objectives for search tests (worker processes import them by name).

Each takes ``(trial, config)``: ``config`` already holds the trial's sampled parameters.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

from hpscout.search import run_rungs


def quadratic(trial, config):
    """Best at learning_rate = 1e-3; larger fractions lower the value a little (like more data)."""
    lr = config.train.learning_rate
    return run_rungs(trial, lambda f: (math.log10(lr) + 3) ** 2 + 0.01 / f, config.scout.fidelities)


def noop(trial, config):
    """Record which GPU the worker was pinned to, return a number."""
    trial.set_user_attr("cuda", os.environ.get("CUDA_VISIBLE_DEVICES"))
    trial.set_user_attr("pid", os.getpid())
    trial.set_user_attr("omp_threads", os.environ.get("OMP_NUM_THREADS"))
    return float(config.train.learning_rate)


def torch_threads(trial, config):
    """Record the worker's torch intra-op thread count."""
    import torch

    trial.set_user_attr("torch_threads", torch.get_num_threads())
    return float(config.train.learning_rate)


def sleepy(trial, config):
    """Sleep HPSCOUT_TEST_SLEEP seconds; while HPSCOUT_TEST_BLOCK exists, announce the trial (number, params,
    pid in ``<block>.started`` and ``<block>.started.<number>``) and hang."""
    block = os.environ.get("HPSCOUT_TEST_BLOCK")
    if block and Path(block).exists():
        info = json.dumps({"number": trial.number, "params": trial.params, "pid": os.getpid()})
        Path(block + ".started").write_text(info)
        Path(f"{block}.started.{trial.number}").write_text(info)  # one per trial, for several workers
        time.sleep(600)
    time.sleep(float(os.environ.get("HPSCOUT_TEST_SLEEP", "0.02")))
    return float(config.train.learning_rate)


LR_SPACE = {"train.learning_rate": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True}}


def search_config_dict(
    tmp_path: Path, name: str, trials: int, *, out: str | None = None, space: dict | None = None, **search
) -> dict:
    """A config (as a plain mapping) whose search runs one 5% rung over ``space`` (default: the LR),
    with random sampling and no pruning unless ``search`` says otherwise; outputs under
    ``tmp_path / (out or name)``."""
    return {
        "name": name,
        "output_dir": str(tmp_path / (out or name)),
        "data": {"train": "train.csv"},
        "scout": {"fraction": 0.05, "fidelities": [0.05], "min_steps": 0},  # no data file: no step floor
        "search": {"trials": trials, "sampler": "random", "pruner": "none", "space": space or LR_SPACE, **search},
    }
