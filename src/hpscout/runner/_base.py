"""The trial contract: a resolved config goes in, a :class:`TrialResult` comes out.

Search, ablation and the transfer check all go through :func:`hpscout.runner.run_trial`.
"""

from __future__ import annotations

import abc
import importlib
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from hpscout._errors import RunnerError
from hpscout._io import _finite, atomic_write_text, read_json

__all__ = [
    "TrialStatus",
    "TrialResult",
    "Reporter",
    "NullReporter",
    "StepHook",
    "step_hook",
    "Runner",
    "TrialPruned",
    "TrialStart",
    "start_trial",
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
        return json.dumps(_finite(self.to_dict()), indent=2, sort_keys=True, default=str)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrialResult:
        known = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in d.items() if k in known}
        kwargs["status"] = TrialStatus(d["status"])
        return cls(**kwargs)

    def save(self, path: str | Path) -> Path:
        """Write atomically as JSON."""
        atomic_write_text(path, self.to_json() + "\n")
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> TrialResult:
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
        self, config: Any, *, out_dir: Path, fraction: float | None = None, reporter: Reporter | None = None
    ) -> TrialResult:
        """Train ``config`` on the subset at ``fraction`` (default ``config.scout.fraction``).

        Must not raise for training faults: divergence, OOM and exceptions become a status.
        Start with :func:`start_trial`.
        """


class TrialStart(NamedTuple):
    """Where a runner's ``run`` starts: the trial folder (created), the fraction and the reporter."""

    out_dir: Path
    fraction: float
    reporter: Reporter


def start_trial(
    config: Any, out_dir: Path, fraction: float | None, reporter: Reporter | None, *, absolute: bool = False
) -> TrialStart:
    """The preamble of every :meth:`Runner.run`: create ``out_dir``, default the fraction and the reporter.

    Args:
        config: the resolved config.
        out_dir: the trial folder; created with its parents.
        fraction: the data fraction; None means ``config.scout.fraction``.
        reporter: None means a :class:`NullReporter`.
        absolute: resolve ``out_dir`` to an absolute path (runners that hand paths to a subprocess).

    Example:
        >>> out_dir, fraction, reporter = start_trial(cfg, Path("t"), None, None)  # doctest: +SKIP
    """
    folder = Path(out_dir).resolve() if absolute else Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    return TrialStart(
        out_dir=folder,
        fraction=config.scout.fraction if fraction is None else fraction,
        reporter=reporter if reporter is not None else NullReporter(),
    )


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
    if task not in RUNNERS:
        raise RunnerError(f"no runner for task {task!r}; known tasks: {', '.join(sorted(RUNNERS))}")
    module, _, cls = RUNNERS[task].partition(":")
    return getattr(importlib.import_module(module), cls)()
