"""Rules checked in more than one layer, stated once.

Every layer that takes a data fraction (config, subsets, fidelity ladders, the trial
runner, the CLI flags, ablation levels) calls :func:`check_fraction`, passing the
error type of its layer so that the exception tree stays as it is.
"""

from __future__ import annotations

import math

from hpscout._errors import ConfigError

__all__ = ["check_fraction"]


def check_fraction(value: object, what: str = "fraction", *, error: type[Exception] = ConfigError) -> float:
    """``value`` as a float in (0, 1], or ``error`` naming ``what``, the rule and the value.

    Booleans, strings, NaN and infinities are refused (``True`` is not 100%).

    Example:
        >>> check_fraction(0.05)
        0.05
        >>> check_fraction(1)
        1.0
        >>> check_fraction(0, "scout.fraction")
        Traceback (most recent call last):
        ...
        hpscout._errors.ConfigError: scout.fraction must be in (0, 1], but got 0
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise error(f"{what} must be a number in (0, 1], but got {value!r}")
    f = float(value)
    if not (math.isfinite(f) and 0 < f <= 1):
        raise error(f"{what} must be in (0, 1], but got {value!r}")
    return f

