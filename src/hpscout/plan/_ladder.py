"""The scouting ladder planned in optimizer steps: a floor (``scout.min_steps``) on every rung (pure).

Why a floor: with a fixed epoch count, a small fraction means few optimizer steps,
and below roughly 100 steps a rung ranks learning rates by how fast they move, not
by where they end (docs/benchmarks.md: on SST-2 the 26- and 50-step rungs rank the
space backwards against 10%, Spearman -0.66 and -0.29; the 126-step rung +0.62).

Rules (:func:`plan_ladder`, pure):

* a rung's steps are counted as the Trainer counts them (:func:`hpscout.plan.plan_steps`)
  on its rows (``subset_size(fraction, train_rows)``), in the *worst case the search
  space allows*: the largest batch, accumulation and devices and the fewest epochs
  (``train.max_steps``, fixed or searched, gives its smallest value at every rung;
  ``scout.step_matched`` gives every rung the steps of ``scout.fraction``);
* a rung under ``min_steps`` is dropped;
* when even ``scout.fraction`` is under it, the fraction is raised to the smallest one
  (on a 1/10,000 grid, the fidelity resolution) that meets it, and the ladder becomes
  that one rung; when 1.0 does not meet it, :class:`~hpscout.ConfigError`;
* ``min_steps = 0`` keeps the ladder as written.

:func:`hpscout.search.resolve_scout` applies the plan to a config (reading the training
rows from the data, and the worst case from the search space); every command that
trains goes through it, so a study's trials all run on the same ladder.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from hpscout._errors import ConfigError
from hpscout.plan._steps import plan_steps

__all__ = ["Rung", "LadderPlan", "WorstCase", "plan_ladder", "rung_steps"]

#: fractions are planned on this grid (the pruner's resource axis, hpscout.search.FRACTION_STEPS)
_GRID = 10_000


@dataclass(frozen=True)
class WorstCase:
    """The run settings that give a rung the fewest optimizer steps the search space allows."""

    batch_size: int
    grad_accum: int
    devices: int
    epochs: float | None
    max_steps: int | None
    searched: tuple[str, ...] = ()

    @property
    def effective_batch_size(self) -> int:
        return self.batch_size * self.grad_accum * self.devices

    def describe(self) -> str:
        length = f"max_steps {self.max_steps}" if self.max_steps is not None else f"{self.epochs:g} epochs"
        return f"effective batch {self.effective_batch_size} ({self.batch_size} x {self.grad_accum} x {self.devices}), {length}"


@dataclass(frozen=True)
class Rung:
    """One fraction of the ladder with its training rows and worst-case optimizer steps."""

    fraction: float
    rows: int
    steps: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LadderPlan:
    """What the floor did to a ladder.

    Attributes:
        rungs: the ladder the search runs on (ascending; the last is the scouting fraction).
        dropped: rungs of the written ladder under the floor.
        min_steps: the floor (0 = off).
        requested_fraction: ``scout.fraction`` as written.
        fraction: the scouting fraction in force (raised when the written one was under the floor).
        train_rows: rows available for training at fraction 1.0.
        worst: the settings the steps were counted with.
    """

    rungs: tuple[Rung, ...]
    dropped: tuple[Rung, ...]
    min_steps: int
    requested_fraction: float
    fraction: float
    train_rows: int
    worst: WorstCase
    notes: tuple[str, ...] = field(default=())

    @property
    def raised(self) -> bool:
        return self.fraction > self.requested_fraction + 1e-12

    @property
    def fidelities(self) -> list[float]:
        return [r.fraction for r in self.rungs]

    @property
    def changed(self) -> bool:
        return bool(self.dropped) or self.raised

    def message(self) -> str:
        """One line: the ladder in force and what the floor changed."""
        ladder = ", ".join(f"{r.fraction:g} ({r.rows} rows, {r.steps} steps)" for r in self.rungs)
        if self.min_steps == 0:
            return f"ladder: {ladder}; no step floor (scout.min_steps = 0)"
        head = f"ladder: {ladder}; floor {self.min_steps} optimizer steps ({self.worst.describe()})"
        if self.raised:
            return (
                f"{head}; scout.fraction {self.requested_fraction:g} gave {self.dropped[-1].steps} steps, "
                f"so it was raised to {self.fraction:g}"
                + (f" and rungs {', '.join(f'{r.fraction:g}' for r in self.dropped[:-1])} dropped" if len(self.dropped) > 1 else "")
            )
        if self.dropped:
            return f"{head}; dropped " + ", ".join(f"{r.fraction:g} ({r.steps} steps)" for r in self.dropped)
        return f"{head}; every rung meets it"

    def to_dict(self) -> dict[str, Any]:
        return {
            "rungs": [r.to_dict() for r in self.rungs],
            "dropped": [r.to_dict() for r in self.dropped],
            "min_steps": self.min_steps,
            "requested_fraction": self.requested_fraction,
            "fraction": self.fraction,
            "raised": self.raised,
            "train_rows": self.train_rows,
            "worst_case": {**asdict(self.worst), "effective_batch_size": self.worst.effective_batch_size},
            "message": self.message(),
        }


def rung_steps(rows: int, worst: WorstCase) -> int:
    """Optimizer steps a run on ``rows`` training rows takes with ``worst``'s settings (the Trainer's rounding)."""
    return plan_steps(
        max(rows, 1),
        worst.batch_size,
        grad_accum=worst.grad_accum,
        devices=worst.devices,
        epochs=worst.epochs,
        max_steps=worst.max_steps,
    ).total_steps


def _rung(fraction: float, train_rows: int, worst: WorstCase, matched_rows: int | None) -> Rung:
    from hpscout.data import subset_size

    rows = subset_size(fraction, train_rows)
    # step-matched rungs train for the steps the scouting fraction takes
    return Rung(fraction=fraction, rows=rows, steps=rung_steps(matched_rows if matched_rows else rows, worst))


def _smallest_fraction_meeting(floor: int, train_rows: int, worst: WorstCase, above: float) -> float | None:
    """The smallest fraction on the 1/10,000 grid above ``above`` whose rung meets ``floor`` (None: not even 1.0)."""
    from hpscout.data import subset_size

    if rung_steps(subset_size(1.0, train_rows), worst) < floor:
        return None
    lo, hi = math.floor(above * _GRID), _GRID  # steps grow with the fraction: bisect on the grid
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if rung_steps(subset_size(mid / _GRID, train_rows), worst) >= floor:
            hi = mid
        else:
            lo = mid
    return hi / _GRID


def plan_ladder(
    fidelities: Sequence[float],
    fraction: float,
    train_rows: int,
    worst: WorstCase,
    *,
    min_steps: int,
    step_matched: bool = False,
) -> LadderPlan:
    """Apply the step floor to a written ladder (pure; see the module rules).

    Args:
        fidelities: the written ladder (ascending, ending at ``fraction``).
        fraction: ``scout.fraction``.
        train_rows: training rows at fraction 1.0 (after the eval hold-out).
        worst: the settings to count steps with (:func:`hpscout.search.worst_case`).
        min_steps: the floor; 0 keeps every rung.
        step_matched: every rung trains the steps of ``fraction``.

    Example:
        >>> w = WorstCase(batch_size=16, grad_accum=1, devices=1, epochs=2.0, max_steps=None)
        >>> p = plan_ladder([0.01, 0.02, 0.05], 0.05, 20_000, w, min_steps=100)
        >>> [(r.fraction, r.rows, r.steps) for r in p.rungs], [r.fraction for r in p.dropped]
        ([(0.05, 1000, 126)], [0.01, 0.02])
    """
    from hpscout.data import subset_size

    if isinstance(min_steps, bool) or not isinstance(min_steps, int) or min_steps < 0:
        raise ConfigError(f"scout.min_steps must be an integer >= 0, but got {min_steps!r}")
    if train_rows < 1:
        raise ConfigError(f"the training data has no rows, so no ladder can be planned (got {train_rows})")
    matched = subset_size(fraction, train_rows) if step_matched else None
    written = [_rung(f, train_rows, worst, matched) for f in fidelities]
    if min_steps == 0:
        return LadderPlan(tuple(written), (), 0, fraction, fraction, train_rows, worst)
    kept = tuple(r for r in written if r.steps >= min_steps)
    dropped = tuple(r for r in written if r.steps < min_steps)
    if kept and kept[-1].fraction == written[-1].fraction:
        return LadderPlan(kept, dropped, min_steps, fraction, fraction, train_rows, worst)
    # even the scouting fraction is under the floor: raise it (a step-matched ladder is one rung anyway)
    raised = _smallest_fraction_meeting(min_steps, train_rows, worst, fraction)
    if raised is None and worst.max_steps is not None:
        raise ConfigError(
            f"scout.min_steps = {min_steps} cannot be met: train.max_steps = {worst.max_steps} (the smallest the "
            f"search space allows) makes every rung train {worst.max_steps} optimizer steps, whatever its fraction; "
            "raise train.max_steps or lower scout.min_steps (0 turns the floor off)"
        )
    if raised is None:
        full = rung_steps(subset_size(1.0, train_rows), worst)
        raise ConfigError(
            f"scout.min_steps = {min_steps} cannot be met: even all {train_rows} training rows give {full} optimizer "
            f"steps with {worst.describe()}; lower scout.min_steps (0 turns the floor off), the batch size or "
            "accumulation, or raise the epochs"
        )
    rung = Rung(raised, subset_size(raised, train_rows), rung_steps(subset_size(raised, train_rows), worst))
    return LadderPlan((rung,), tuple(written), min_steps, fraction, raised, train_rows, worst)
