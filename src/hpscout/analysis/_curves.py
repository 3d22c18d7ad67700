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
    ends above :data:`CHANCE_FACTOR` (1.5) x chance: worse than guessing.
``too short``
    fewer than :data:`MIN_POINTS` (5) logged losses: too few to say more.
``oscillating``
    the loss jumps up by more than :data:`SWING` (15%) of ``start`` between two
    logs in at least :data:`SWING_SHARE` (25%, and at least twice) of the
    intervals: swings that size are not the noise of a mean over a logging window.
``too slow to learn``
    ``drop`` is below :data:`SLOW_DROP` (10%): the loss barely moved.
``plateaued early``
    ``smooth`` had made 90% of its whole improvement within the first
    :data:`PLATEAU_AT` (a third) of the logged points, and over everything after
    it improved by less than :data:`PLATEAU_TAIL` (2%) of ``start``: the rest of the
    run bought nothing.
``healthy``
    none of the above: the loss fell and kept falling.

Real MiniLM + LoRA curves on SST-2 (tests/analysis/data/minilm_sst2_histories.json,
cells of the fine-tuning grid) are classified in the tests next to synthetic ones.

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
SWING = 0.15
SWING_SHARE = 0.25
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
    losses = [v for _, v in points]
    if status == "diverged":
        return _make("diverged", "The runner's divergence guard stopped the trial: its loss exploded.")
    bad = next(((s, v) for s, v in points if not math.isfinite(v)), None)
    if bad is not None:
        return _make("diverged", f"The loss is {bad[1]} at step {bad[0]}.")
    n = len(losses)
    if n < MIN_POINTS:
        return _make("too short", f"Only {n} training loss{'es were' if n != 1 else ' was'} logged; {MIN_POINTS} are needed.")
    start = losses[0]
    tail = losses[-max(2, n // 3) :]
    end = statistics.median(tail)
    if start <= 0:
        return _make("too short", f"The first loss is {_fmt(start)}; ratios of a non-positive loss say nothing.")
    if end > start * (1 + RISE):
        return _make("diverged", f"The loss rose from {_fmt(start)} to {_fmt(end)} (median of the last {len(tail)} logs).")
    if chance_loss is not None and chance_loss > 0 and end > CHANCE_FACTOR * chance_loss:
        return _make(
            "diverged",
            f"The loss ends at {_fmt(end)}, above {CHANCE_FACTOR:g} x the chance level {_fmt(chance_loss)}: worse than guessing.",
        )
    swings = sum(1 for a, b in zip(losses, losses[1:], strict=False) if b - a > SWING * start)
    if swings >= max(2, math.ceil(SWING_SHARE * (n - 1))):
        return _make(
            "oscillating",
            f"The loss jumped up by more than {SWING:.0%} of its start ({_fmt(SWING * start)}) in {swings} of {n - 1} "
            "intervals between logs.",
        )
    drop = (start - end) / start
    if drop < SLOW_DROP:
        return _make(
            "too slow to learn",
            f"The loss fell only {drop:.0%} ({_fmt(start)} to {_fmt(end)}) over {points[-1][0]} steps.",
        )
    plateau = _plateau(_running_median(losses), start)
    if plateau is not None:
        at, tail_gain = plateau
        return _make(
            "plateaued early",
            f"The loss made 90% of its improvement by step {points[at][0]} of {points[-1][0]} and then improved by only "
            f"{tail_gain:.1%} of its start.",
        )
    return _make("healthy", f"The loss fell {drop:.0%} ({_fmt(start)} to {_fmt(end)}) and kept falling.")


def _plateau(smooth: Sequence[float], start: float) -> tuple[int, float] | None:
    """``(index where 90% of the improvement was made, later improvement / start)`` for an early plateau, else None."""
    best = min(smooth)
    gain = smooth[0] - best
    if gain <= 0:
        return None
    at = next(i for i, v in enumerate(smooth) if smooth[0] - v >= 0.9 * gain)
    if at >= PLATEAU_AT * len(smooth):
        return None
    later = (smooth[at] - best) / start
    return (at, later) if later < PLATEAU_TAIL else None


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
