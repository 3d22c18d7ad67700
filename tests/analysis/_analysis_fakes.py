"""Cheap deterministic objectives with known effects, standing in for training in analysis tests."""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hpscout.config import ExperimentConfig, config_from_dict
from hpscout.runner import TrialResult, TrialStatus

BEST_LR = 3e-4


def make_config(tmp_path: Path, **extra: Any) -> ExperimentConfig:
    data: dict[str, Any] = {
        "name": "demo",
        "data": {"train": str(tmp_path / "train.csv")},
        "output_dir": str(tmp_path / "run"),
        "scout": {"fraction": 0.05, "fidelities": [0.01, 0.02, 0.05]},
        "train": {"learning_rate": 1e-4},
        "search": {
            "metric": "eval_loss",
            "direction": "minimize",
            "space": {"train.learning_rate": {"type": "float", "low": 1e-5, "high": 1e-2, "log": True}},
        },
    }
    for key, value in extra.items():
        node = data
        parts = key.split("__")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return config_from_dict(data)


class LrOnlyObjective:
    """eval_loss = (log10 lr - log10 3e-4)^2 + N(0, noise); nothing else matters.

    The noise is drawn from a generator seeded by the whole cell (seed and every
    setting), so each cell x seed gets independent, reproducible noise. Runs with a
    learning rate above ``diverge_above`` diverge.
    """

    def __init__(self, noise: float = 0.01, diverge_above: float | None = None, seconds: float = 2.0) -> None:
        self.noise = noise
        self.diverge_above = diverge_above
        self.seconds = seconds
        self.calls: list[tuple[int, float, float]] = []

    def value(self, config: ExperimentConfig, fraction: float) -> float:
        t = config.train
        key = json.dumps(
            [config.seed, t.learning_rate, t.lora.r, t.lora.target, t.weight_decay, t.warmup_ratio, t.lr_scheduler, fraction]
        )
        rng = np.random.default_rng(zlib.crc32(key.encode()))
        return (math.log10(t.learning_rate) - math.log10(BEST_LR)) ** 2 + float(rng.normal(0.0, self.noise))

    def __call__(self, config: ExperimentConfig, out_dir: Path, fraction: float) -> TrialResult:
        self.calls.append((config.seed, config.train.learning_rate, fraction))
        common = {
            "elapsed_seconds": self.seconds,
            "samples_processed": int(1000 * fraction * 2),
            "train_samples": int(1000 * fraction),
            "seed": config.seed,
            "fraction": fraction,
            "trainable_params": 1000 * config.train.lora.r,
        }
        if self.diverge_above is not None and config.train.learning_rate > self.diverge_above:
            return TrialResult(status=TrialStatus.DIVERGED, message="loss exploded", **common)
        v = self.value(config, fraction)
        return TrialResult(status=TrialStatus.COMPLETE, objective=v, metrics={"eval_loss": v}, **common)


def failing(status: TrialStatus, when: Callable[[ExperimentConfig], bool], inner: Callable[..., TrialResult]):
    """Wrap a run_cell so that cells matching ``when`` end with ``status``."""

    def run(config: ExperimentConfig, out_dir: Path, fraction: float) -> TrialResult:
        if when(config):
            return TrialResult(status=status, seed=config.seed, fraction=fraction, message=status.value)
        return inner(config, out_dir, fraction)

    return run


def search_study(config: ExperimentConfig, values: list[tuple[float, float]], name: str = "demo") -> Any:
    """An in-memory search study of COMPLETE trials with (learning_rate, value) at scout.fraction."""
    import optuna

    dist = optuna.distributions.FloatDistribution(1e-5, 1e-2, log=True)
    study = optuna.create_study(study_name=name, direction=config.search.direction)
    for lr, value in values:
        study.add_trial(
            optuna.trial.create_trial(
                params={"train.learning_rate": lr},
                distributions={"train.learning_rate": dist},
                value=value,
                user_attrs={"fraction": config.scout.fraction, "elapsed_seconds": 10.0, "samples_processed": 100,
                            "train_samples": 50},
            )
        )
    return study


def need_search() -> None:
    """The search package's public API these tests drive (a missing name fails the test, never skips it)."""
    import hpscout.search as search

    missing = [n for n in ("open_study", "resolve_storage", "config_for_params", "fraction_step") if not hasattr(search, n)]
    assert not missing, f"hpscout.search does not export {', '.join(missing)}"
