"""Data fraction as a fidelity: a trial climbs the nested rungs of ``scout.fidelities``.

A trial trains on the smallest nested subset (e.g. 1 % of the data), reports its
objective at step ``fraction_step(0.01) = 100``, and the pruner decides whether it may
go on. A promoted trial trains again, from scratch, on the next subset (2 %), which is a
superset of what it saw (the data module guarantees nesting), and so on up to
``scout.fraction``.

Why retrain from scratch rather than continue training: a rung's value must mean the
same thing for every trial that reaches it ("this config trained on this subset"), so
rungs stay comparable to each other and to a plain run at that fraction (``hpscout
train``); continued training would mix schedules (warmup and decay already spent on the
smaller subset) and the trial's optimiser state into the value. The price is a trial
cost of ``sum(rungs)`` instead of ``max(rungs)``: with a ladder that grows geometrically
(0.01, 0.02, 0.05) that is at most ~1.6x the top rung, and most trials stop early.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import optuna

from hpscout._checks import check_fraction
from hpscout._errors import SearchError

__all__ = ["FRACTION_STEPS", "fraction_step", "step_fraction", "check_ladder", "run_rungs", "TrialReporter"]

#: steps per whole dataset on the pruner's resource axis (a rung at fraction f reports at f x 10,000)
FRACTION_STEPS = 10_000


def fraction_step(fraction: float) -> int:
    """The step a rung at ``fraction`` reports at: ``round(fraction * 10_000)``.

    Example:
        >>> [fraction_step(f) for f in (0.01, 0.02, 0.05, 1.0)]
        [100, 200, 500, 10000]
    """
    f = check_fraction(fraction, "a fidelity fraction", error=SearchError)
    return max(1, round(f * FRACTION_STEPS))


def step_fraction(step: int) -> float:
    """The fraction a reported step stands for (inverse of :func:`fraction_step`)."""
    return step / FRACTION_STEPS


def check_ladder(ladder: Sequence[float]) -> list[float]:
    """A validated fidelity ladder: non-empty, in (0, 1], strictly ascending, distinct steps."""
    rungs = [float(f) for f in ladder]
    if not rungs:
        raise SearchError("the fidelity ladder (scout.fidelities) must hold at least one fraction")
    steps = [fraction_step(f) for f in rungs]
    if any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
        raise SearchError(
            f"the fidelity ladder must be strictly ascending with rungs at least 1/{FRACTION_STEPS} apart, but got {rungs}"
        )
    return rungs


def run_rungs(trial: optuna.Trial, evaluate: Callable[[float], float], ladder: Sequence[float]) -> float:
    """Evaluate a trial on each rung of the ladder, letting the pruner stop it between rungs.

    For each fraction ``f`` (ascending): ``value = evaluate(f)``; ``trial.report(value,
    fraction_step(f))``; the user attribute ``fraction`` is set to ``f``; then, unless this
    is the last rung, ``optuna.TrialPruned`` is raised when ``trial.should_prune()``.

    Returns:
        The value at the last rung.

    Example:
        >>> def objective(trial):  # doctest: +SKIP
        ...     lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
        ...     return run_rungs(trial, lambda f: train_and_eval(lr, f), [0.01, 0.02, 0.05])
    """
    rungs = check_ladder(ladder)
    value = math.nan
    for i, f in enumerate(rungs):
        value = float(evaluate(f))
        trial.report(value, fraction_step(f))
        trial.set_user_attr("fraction", f)
        if i < len(rungs) - 1 and trial.should_prune():
            raise optuna.TrialPruned(f"pruned at fraction {f:g} with value {value:.6g}")
    return value


class TrialReporter:
    """hpscout's :class:`~hpscout.runner.Reporter` over an Optuna trial (``fidelity: eval``).

    A storage outage while reporting must not look like a training fault, so errors are
    kept in :attr:`error` (the study loop handles them) and the run is told to stop.
    """

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial
        self.error: BaseException | None = None
        self.last_step: int | None = None

    def report(self, value: float, step: int) -> None:
        if self.error is not None:
            return
        try:
            self.trial.report(float(value), int(step))
            self.last_step = int(step)
        except Exception as exc:  # noqa: BLE001 - kept and re-raised by the study loop
            self.error = exc

    def should_prune(self) -> bool:
        if self.error is not None:
            return True
        try:
            return self.trial.should_prune()
        except Exception as exc:  # noqa: BLE001 - kept and re-raised by the study loop
            self.error = exc
            return True
