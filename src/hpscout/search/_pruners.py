"""Pruners by name, with the data-fraction ladder as their resource axis."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import optuna

from hpscout._errors import SearchError
from hpscout.search._fidelity import check_ladder, fraction_step

__all__ = ["PRUNER_NAMES", "make_pruner", "ladder_reduction_factor"]

PRUNER_NAMES = ("none", "median", "successive-halving", "hyperband")


def ladder_reduction_factor(ladder: Sequence[float]) -> int:
    """The halving rate a ladder implies: the rounded geometric mean ratio of its rungs, at least 2.

    Successive halving promotes at ``min_resource x eta^k``; with ``eta`` matched to the
    ladder, each rung of the ladder is one promotion round.

    Example:
        >>> ladder_reduction_factor([0.01, 0.02, 0.05]), ladder_reduction_factor([0.01, 0.05, 0.25])
        (2, 5)
    """
    rungs = check_ladder(ladder)
    if len(rungs) < 2:
        return 3
    ratio = (rungs[-1] / rungs[0]) ** (1 / (len(rungs) - 1))
    return max(2, int(round(ratio)))


def make_pruner(
    name: str,
    *,
    ladder: Sequence[float] | None = None,
    fidelity: str = "fraction",
    **kwargs: Any,
) -> optuna.pruners.BasePruner:
    """Build a pruner: ``none`` | ``median`` | ``successive-halving`` | ``hyperband``.

    With ``fidelity="fraction"`` the resource axis is :func:`fraction_step` of the rungs:
    ``min_resource = fraction_step(ladder[0])``, ``max_resource = fraction_step(ladder[-1])``
    and ``reduction_factor`` from :func:`ladder_reduction_factor`. With ``fidelity="eval"``
    the axis is the runner's evaluation steps and the resources are ``"auto"``. ``kwargs``
    override any of these.

    Example:
        >>> p = make_pruner("hyperband", ladder=[0.01, 0.02, 0.05])
        >>> type(p).__name__
        'HyperbandPruner'
    """
    key = (name or "").strip().lower().replace("_", "-")
    if fidelity not in ("fraction", "eval"):
        raise SearchError(f"search.fidelity must be 'fraction' or 'eval', but got {fidelity!r}")
    if key in ("successivehalving", "sha", "asha"):
        key = "successive-halving"
    if key not in PRUNER_NAMES:
        raise SearchError(f"search.pruner must be one of {', '.join(PRUNER_NAMES)}, but got {name!r}")
    rungs = check_ladder(ladder) if ladder is not None else None
    if fidelity == "fraction" and rungs is None and key in ("successive-halving", "hyperband"):
        raise SearchError(f"pruner {key!r} with fidelity 'fraction' needs the ladder (scout.fidelities)")
    try:
        if key == "none":
            return optuna.pruners.NopPruner()
        if key == "median":
            return optuna.pruners.MedianPruner(**{"n_startup_trials": 5, "n_warmup_steps": 0, **kwargs})
        if key == "successive-halving":
            options: dict[str, Any] = {"min_early_stopping_rate": 0}
            if fidelity == "fraction" and rungs is not None:
                options.update(min_resource=fraction_step(rungs[0]), reduction_factor=ladder_reduction_factor(rungs))
            else:
                options.update(min_resource="auto", reduction_factor=3)
            options.update(kwargs)
            return optuna.pruners.SuccessiveHalvingPruner(**options)
        options = {}
        if fidelity == "fraction" and rungs is not None:
            options.update(
                min_resource=fraction_step(rungs[0]),
                max_resource=fraction_step(rungs[-1]),
                reduction_factor=ladder_reduction_factor(rungs),
            )
        else:
            options.update(min_resource=1, max_resource="auto", reduction_factor=3)
        options.update(kwargs)
        return optuna.pruners.HyperbandPruner(**options)
    except (TypeError, ValueError) as exc:
        raise SearchError(f"cannot build pruner {key!r} with search.pruner_kwargs {kwargs}: {exc}") from None


def n_brackets(ladder: Sequence[float]) -> int:
    """How many Hyperband brackets a fraction ladder gives (for messages and docs)."""
    rungs = check_ladder(ladder)
    eta = ladder_reduction_factor(rungs)
    return int(math.floor(math.log(fraction_step(rungs[-1]) / fraction_step(rungs[0]), eta) + 1e-9)) + 1
