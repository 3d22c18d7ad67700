"""The trial contract: a resolved config goes in, a :class:`TrialResult` comes out.

Search, ablation and the transfer check all go through :func:`hpscout.runner.run_trial`.
"""

from __future__ import annotations

import abc
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "TrialStatus",
    "TrialResult",
    "Reporter",
    "NullReporter",
    "StepHook",
    "step_hook",
    "Runner",
    "TrialPruned",
    "register_runner",
    "get_runner",
    "RUNNERS",
]


class TrialStatus(str, Enum):
    """How a trial ended. Only ``complete`` (and ``pruned``, at its last rung) carry a usable value."""

    COMPLETE = "complete"
    PRUNED = "pruned"
    DIVERGED = "diverged"
    OOM = "oom"
    FAILED = "failed"


@dataclass
class TrialResult:
    """Everything one trial produced. Round-trips through JSON (``result.json``)."""

    status: TrialStatus
    metrics: dict[str, float] = field(default_factory=dict)
    objective: float | None = None
    steps: int = 0
    elapsed_seconds: float = 0.0
    trainable_params: int | None = None
    total_params: int | None = None
    seed: int = 0
    fraction: float | None = None
    train_samples: int = 0
    samples_processed: int = 0
    message: str | None = None
    diverged_step: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the trial finished and its objective is a finite number."""
        return self.status is TrialStatus.COMPLETE and self.objective is not None and math.isfinite(self.objective)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status.value
        return d

    def to_json(self) -> str:
        from hpscout._io import _finite

        return json.dumps(_finite(self.to_dict()), indent=2, sort_keys=True, default=str)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrialResult:
        known = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in d.items() if k in known}
        kwargs["status"] = TrialStatus(d["status"])
        return cls(**kwargs)

    def save(self, path: str | Path) -> Path:
        """Write atomically as JSON."""
        from hpscout._io import atomic_write_text

        atomic_write_text(path, self.to_json() + "\n")
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> TrialResult:
        from hpscout._io import read_json

        return cls.from_dict(read_json(path))


class TrialPruned(Exception):
    """Raised inside a runner when the reporter says to stop."""


class Reporter(Protocol):
    """Where a runner sends intermediate values (an Optuna trial behind an adapter).

    A reporter may also define ``on_step(step, total, loss)`` to follow training (the
    CLI's progress bar): runners call it after every optimizer step (``loss`` None) and
    at every logged training loss; ``total`` is the planned number of steps, or None.
    """

    def report(self, value: float, step: int) -> None: ...

    def should_prune(self) -> bool: ...


StepHook = Callable[[int, "int | None", "float | None"], None]


def step_hook(reporter: Any) -> StepHook:
    """The reporter's optional ``on_step(step, total, loss)``, or a no-op when it has none."""
    hook = getattr(reporter, "on_step", None)
    return hook if callable(hook) else _no_step


def _no_step(step: int, total: int | None, loss: float | None) -> None:
    return None


class NullReporter:
    """A reporter that records values and never prunes."""

    def __init__(self) -> None:
        self.values: list[tuple[int, float]] = []

    def report(self, value: float, step: int) -> None:
        self.values.append((step, value))

    def should_prune(self) -> bool:
        return False


class Runner(abc.ABC):
    """One way of running a trial (HF Trainer, plain torch, an external command)."""

    #: registry name; equals the config ``task`` values it serves
    tasks: tuple[str, ...] = ()

    @abc.abstractmethod
    def run(
        self,
        config: Any,
        *,
        out_dir: Path,
        fraction: float | None = None,
        reporter: Reporter | None = None,
    ) -> TrialResult:
        """Train ``config`` on the subset at ``fraction`` (default ``config.scout.fraction``).

        Must not raise for training faults: divergence, OOM and exceptions become a status.
        """


RUNNERS: dict[str, str] = {
    # task -> "module:Class", imported lazily so the CLI never pays for torch
    "sequence-classification": "hpscout.runner._hf:HFRunner",
    "causal-lm": "hpscout.runner._hf:HFRunner",
    "seq2seq": "hpscout.runner._hf:HFRunner",
    "torch": "hpscout.runner._torch:TorchRunner",
    "command": "hpscout.runner._command:CommandRunner",
    "llamafactory": "hpscout.runner._llamafactory:LlamaFactoryRunner",
}


def register_runner(task: str, target: str) -> None:
    """Register a runner class (``'module:Class'``) for a task name."""
    RUNNERS[task] = target


def get_runner(task: str) -> Runner:
    """Instantiate the runner registered for ``task``."""
    import importlib

    from hpscout._errors import RunnerError

    if task not in RUNNERS:
        raise RunnerError(f"no runner for task {task!r}; known tasks: {', '.join(sorted(RUNNERS))}")
    module, _, cls = RUNNERS[task].partition(":")
    return getattr(importlib.import_module(module), cls)()
