"""Loss-curve diagnosis: what a trial's training curve says, and what to change.

The guides read a loss curve like this: diverging -> lower the LR; oscillating -> a
longer warmup or a lower LR; too slow -> raise the LR. :func:`diagnose_curve` applies
that reading to one trial's history (``TrialResult.history``: one row per logged
step; the rows with a ``loss`` are the training curve, each value the Trainer's mean
over ``logging_steps`` steps). Pure Python, no torch.

Terms: ``L1..Ln`` are the logged training losses in step order; ``start`` is ``L1``;
``end`` is the median of the last third of the points (at least 2); ``drop`` is
``(start - end) / start``; ``smooth`` is the running median of 3 points.
The rules, checked in this order (the first that holds names the curve):

``diverged``
    the trial's status is ``diverged`` (the runner's guard stopped it), a logged loss
    is NaN or infinite, the loss ends more than :data:`RISE` (10%) above where it
    started, or, with the chance-level loss known (``ln k`` for ``k`` classes), it
    ends above :data:`CHANCE_FACTOR` (1.5) x chance: worse than guessing. Also a
    collapse: ``smooth`` rose more than :data:`COLLAPSE_RISE` (5%) above ``start``
    and ``drop`` stayed below :data:`SLOW_DROP`: the updates made the model worse
    and it never recovered (a too-high LR that sends a classifier to chance).
``too short``
    fewer than :data:`MIN_POINTS` (5) logged losses: too few to say more.
``oscillating``
    the typical move between two logs (the median of ``|L(i+1) - L(i)|``) is at
    least :data:`SWING` (5%) of ``start`` and at least :data:`SWING_PER_DROP` (20%)
    of the whole descent ``start - end``: the curve swings about as much as it
    makes progress.
``too slow to learn``
    ``drop`` is below :data:`SLOW_DROP` (10%): the loss barely moved.
``plateaued early``
    ``smooth`` had made 90% of its whole improvement within the first
    :data:`PLATEAU_AT` (a third) of the logged points, and over everything after
    it improved by less than :data:`PLATEAU_TAIL` (2%) of ``start``: the rest of the
    run bought nothing.
``healthy``
    none of the above: the loss fell and kept falling.

Calibration: real MiniLM + LoRA runs on SST-2 (tests/analysis/data/minilm_sst2_histories.json,
cells of the fine-tuning grid, a loss logged every 5 steps over 126) give: LR 3e-5 and
3e-4 too slow (the loss fell 0% and 2%; 3e-4 stays at chance accuracy), 1.2e-3 and
2.5e-3 healthy (typical move 12-13% of the descent), 1e-2 oscillating (29%; accuracy
0.75 against 0.82 at 2.5e-3), 5e-2 diverged (a collapse: up 8%, back to chance), 10
diverged (stopped by the guard). The thresholds sit between those values.

Example:
    >>> d = diagnose_curve([{"step": s, "loss": 0.69 * 0.97 ** s} for s in range(5, 130, 5)])
    >>> d.label
    'healthy'
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hpscout.runner import TrialResult

__all__ = [
    "CURVE_LABELS",
    "CurveDiagnosis",
    "TrialCurves",
    "curve_points",
    "diagnose_curve",
    "diagnose_trials",
    "search_curve_note",
]

#: every label :func:`diagnose_curve` gives
CURVE_LABELS: tuple[str, ...] = ("healthy", "diverged", "oscillating", "plateaued early", "too slow to learn", "too short")

# the thresholds of the rules (see the module docstring)
MIN_POINTS = 5
RISE = 0.10
CHANCE_FACTOR = 1.5
COLLAPSE_RISE = 0.05
SWING = 0.05
SWING_PER_DROP = 0.20
SLOW_DROP = 0.10
PLATEAU_AT = 1 / 3
PLATEAU_TAIL = 0.02
#: a search says "widen the LR range" when more than this share of its top trials is too slow
SLOW_TOP_SHARE = 0.5

_SUGGESTIONS = {
    "healthy": "",
    "diverged": "lower the learning rate 3-10x (and keep warmup and gradient clipping on)",
    "oscillating": "lower the learning rate 2-3x or lengthen the warmup",
    "too slow to learn": "raise the learning rate 3-10x, or train longer",
    "plateaued early": "stop earlier (fewer steps) or decay the learning rate sooner; if the eval metric still improved, this is fine",
    "too short": "log more often (train.logging_steps) or train longer to see the curve",
}


@dataclass(frozen=True)
class CurveDiagnosis:
    """What one training curve looks like.

    Attributes:
        label: one of :data:`CURVE_LABELS`.
        reason: the numbers that decided it, as a sentence.
        suggestion: what to change ("" for a healthy curve).
    """

    label: str
    reason: str
    suggestion: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def curve_points(history: Iterable[Mapping[str, Any]]) -> list[tuple[int, float]]:
    """``(step, loss)`` of the rows with a training ``loss``, in step order (NaN/inf kept).

    History rows written as CSV text (``"nan"``) are read as numbers.
    """
    points: list[tuple[int, float]] = []
    for row in history:
        value = row.get("loss")
        if value is None or value == "" or "step" not in row:
            continue
        try:
            points.append((int(row["step"]), float(value)))
        except (TypeError, ValueError):
            continue
    return sorted(points)


def _running_median(values: Sequence[float], width: int = 3) -> list[float]:
    half = width // 2
    return [statistics.median(values[max(0, i - half) : i + half + 1]) for i in range(len(values))]


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _make(label: str, reason: str) -> CurveDiagnosis:
    return CurveDiagnosis(label, reason, _SUGGESTIONS[label])


@dataclass(frozen=True)
class _Curve:
    """The figures the rules read (names as in the module docstring)."""

    steps: list[int]
    losses: list[float]
    start: float
    end: float
    tail: int  # how many points ``end`` is the median of
    smooth: list[float]

    @classmethod
    def of(cls, points: Sequence[tuple[int, float]]) -> _Curve:
        losses = [v for _, v in points]
        tail = max(2, len(losses) // 3)
        return cls([s for s, _ in points], losses, losses[0], statistics.median(losses[-tail:]), tail, _running_median(losses))

    @property
    def drop(self) -> float:
        return (self.start - self.end) / self.start

    @property
    def swing(self) -> float:
        """The median move between two logs, as a share of ``start``."""
        return statistics.median(abs(b - a) for a, b in zip(self.losses, self.losses[1:], strict=False)) / self.start


def _diverged(c: _Curve, chance_loss: float | None) -> CurveDiagnosis | None:
    if c.end > c.start * (1 + RISE):
        return _make("diverged", f"The loss rose from {_fmt(c.start)} to {_fmt(c.end)} (median of the last {c.tail} logs).")
    if chance_loss is not None and chance_loss > 0 and c.end > CHANCE_FACTOR * chance_loss:
        return _make(
            "diverged",
            f"The loss ends at {_fmt(c.end)}, above {CHANCE_FACTOR:g} x the chance level {_fmt(chance_loss)}: worse than guessing.",
        )
    peak = max(c.smooth)
    if peak > c.start * (1 + COLLAPSE_RISE) and c.drop < SLOW_DROP:
        return _make(
            "diverged",
            f"The loss rose to {_fmt(peak)} ({peak / c.start - 1:.0%} above its start) and ended at {_fmt(c.end)}, no lower "
            f"than it began ({_fmt(c.start)}): the updates made the model worse.",
        )
    return None


def _oscillating(c: _Curve, chance_loss: float | None) -> CurveDiagnosis | None:
    swing, drop = c.swing, c.drop
    if swing < SWING or swing < SWING_PER_DROP * drop:
        return None
    progress = (
        f", {swing / drop:.0%} of the whole descent ({_fmt(c.start)} to {_fmt(c.end)})."
        if drop > 0
        else f", while the loss made no net progress ({_fmt(c.start)} to {_fmt(c.end)})."
    )
    return _make("oscillating", f"The typical move between two logs is {swing:.0%} of the starting loss" + progress)


def _too_slow(c: _Curve, chance_loss: float | None) -> CurveDiagnosis | None:
    if c.drop >= SLOW_DROP:
        return None
    return _make(
        "too slow to learn",
        f"The loss fell only {max(c.drop, 0.0):.0%} ({_fmt(c.start)} to {_fmt(c.end)}) over {c.steps[-1]} steps.",
    )


def _plateaued(c: _Curve, chance_loss: float | None) -> CurveDiagnosis | None:
    best = min(c.smooth)
    gain = c.smooth[0] - best
    if gain <= 0:
        return None
    at = next(i for i, v in enumerate(c.smooth) if c.smooth[0] - v >= 0.9 * gain)
    later = (c.smooth[at] - best) / c.start
    if at >= PLATEAU_AT * len(c.smooth) or later >= PLATEAU_TAIL:
        return None
    return _make(
        "plateaued early",
        f"The loss made 90% of its improvement by step {c.steps[at]} of {c.steps[-1]} and then improved by only "
        f"{later:.1%} of its start.",
    )


#: the rules after the guard and the point count, in the order they are tried
_RULES = (_diverged, _oscillating, _too_slow, _plateaued)


def diagnose_curve(
    history: Iterable[Mapping[str, Any]],
    *,
    status: str | None = None,
    chance_loss: float | None = None,
) -> CurveDiagnosis:
    """Classify one trial's training curve (rules and thresholds in the module docstring).

    Args:
        history: the trial's history rows (``TrialResult.history`` or ``history.csv`` rows).
        status: the trial's status (``diverged`` short-circuits to ``diverged``).
        chance_loss: the loss of guessing (``ln k`` for ``k`` classes), when known.

    Returns:
        The label, the numbers behind it, and the suggested change.

    Example:
        >>> diagnose_curve([{"step": s, "loss": 0.69} for s in range(5, 60, 5)]).label
        'too slow to learn'
    """
    points = curve_points(history)
    if status == "diverged":
        return _make("diverged", "The runner's divergence guard stopped the trial: its loss exploded.")
    bad = next(((s, v) for s, v in points if not math.isfinite(v)), None)
    if bad is not None:
        return _make("diverged", f"The loss is {bad[1]} at step {bad[0]}.")
    n = len(points)
    if n < MIN_POINTS:
        return _make("too short", f"Only {n} training loss{'es were' if n != 1 else ' was'} logged; {MIN_POINTS} are needed.")
    if points[0][1] <= 0:
        return _make("too short", f"The first loss is {_fmt(points[0][1])}; ratios of a non-positive loss say nothing.")
    c = _Curve.of(points)
    for rule in _RULES:
        found = rule(c, chance_loss)
        if found is not None:
            return found
    return _make("healthy", f"The loss fell {c.drop:.0%} ({_fmt(c.start)} to {_fmt(c.end)}) and kept falling.")


def search_curve_note(
    diagnoses: Sequence[CurveDiagnosis], lr_range: tuple[float, float] | None = None
) -> str | None:
    """A line for a search whose top trials are mostly too slow to learn, else None.

    Args:
        diagnoses: the curve diagnoses of the search's top trials (best first).
        lr_range: the searched ``(low, high)`` learning rate, when the LR is searched.

    Example:
        >>> slow = CurveDiagnosis("too slow to learn", "", "")
        >>> search_curve_note([slow, slow, CurveDiagnosis("healthy", "", "")], (1e-5, 1e-4))
        'Most of the top trials (2 of 3) learn too slowly: widen the learning-rate range upward, e.g. high 1e-4 -> 1e-3.'
    """
    if not diagnoses:
        return None
    slow = sum(d.label == "too slow to learn" for d in diagnoses)
    if slow / len(diagnoses) <= SLOW_TOP_SHARE:
        return None
    note = f"Most of the top trials ({slow} of {len(diagnoses)}) learn too slowly: widen the learning-rate range upward"
    if lr_range is not None:
        note += f", e.g. high {lr_range[1]:.0e} -> {lr_range[1] * 10:.0e}".replace("e-0", "e-").replace("e+0", "e+")
    return note + "."


@dataclass(frozen=True)
class TrialCurves:
    """The curve diagnosis of every trial with a result file, and the search-level note.

    Attributes:
        by_trial: trial number -> diagnosis (trials without a readable ``result.json`` are left out).
        top: the numbers of the top trials the note looked at, best first.
        note: :func:`search_curve_note` of the top trials, or None.
    """

    by_trial: dict[int, CurveDiagnosis] = field(default_factory=dict)
    top: tuple[int, ...] = ()
    note: str | None = None


def diagnose_trials(
    rows: Sequence[Mapping[str, Any]],
    *,
    direction: str,
    top_k: int,
    lr_range: tuple[float, float] | None = None,
) -> TrialCurves:
    """Diagnose the curve of every trial row (``hpscout.search.trials_table`` rows) from its ``result.json``.

    Args:
        rows: trial rows with ``number``, ``state``, ``value`` and ``result_path``.
        direction: ``maximize`` or ``minimize`` (to find the top trials).
        top_k: how many of the best complete trials the search-level note looks at.
        lr_range: the searched learning-rate range, for the note.

    Example:
        >>> curves = diagnose_trials(trials_table(config), direction="maximize", top_k=3)  # doctest: +SKIP
        >>> curves.by_trial[0].label  # doctest: +SKIP
        'healthy'
    """
    by_trial: dict[int, CurveDiagnosis] = {}
    for row in rows:
        path = row.get("result_path")
        if not path or not Path(path).is_file():
            continue
        result = TrialResult.load(path)
        by_trial[int(row["number"])] = diagnose_curve(result.history, status=result.status.value)
    done = [r for r in rows if r.get("state") == "COMPLETE" and r.get("value") is not None and int(r["number"]) in by_trial]
    done.sort(key=lambda r: ((-r["value"] if direction == "maximize" else r["value"]), r["number"]))
    top = tuple(int(r["number"]) for r in done[: max(0, top_k)])
    return TrialCurves(by_trial, top, search_curve_note([by_trial[n] for n in top], lr_range))
