"""Small, plain statistics used by every analysis: means with t intervals, Welch's test, ranks.

Pure numpy/scipy; nothing here knows about configs, studies or runners, so each
function can be checked against a hand computation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

__all__ = [
    "MeanCI",
    "mean_ci",
    "welch_test",
    "holm",
    "bonferroni",
    "spearman",
    "kendall",
    "sample_sd",
    "pooled_sd",
]


@dataclass(frozen=True)
class MeanCI:
    """A sample mean with its two-sided t interval.

    Attributes:
        mean: sample mean (None without values).
        ci_low: lower end of the interval (None with fewer than 2 values).
        ci_high: upper end of the interval (None with fewer than 2 values).
        sd: sample standard deviation, ddof=1 (None with fewer than 2 values).
        n: number of values.
        confidence: interval coverage, e.g. 0.95.
    """

    mean: float | None
    ci_low: float | None
    ci_high: float | None
    sd: float | None
    n: int
    confidence: float = 0.95

    @property
    def half_width(self) -> float | None:
        """Half the interval width (None when there is no interval)."""
        if self.ci_low is None or self.ci_high is None:
            return None
        return (self.ci_high - self.ci_low) / 2

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _clean(values: Sequence[float]) -> np.ndarray:
    arr = np.asarray([float(v) for v in values], dtype=float)
    if arr.size and not np.all(np.isfinite(arr)):
        raise ValueError(f"values must be finite numbers, but got {list(values)}")
    return arr


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> MeanCI:
    """Mean and two-sided t interval: ``mean ± t(1-(1-c)/2, n-1) · sd / sqrt(n)``.

    With one value the interval is unknown (None), not zero.

    Example:
        >>> r = mean_ci([1.0, 2.0, 3.0])
        >>> round(r.mean, 3), round(r.ci_low, 3), round(r.ci_high, 3)
        (2.0, -0.484, 4.484)
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), but got {confidence}")
    arr = _clean(values)
    n = int(arr.size)
    if n == 0:
        return MeanCI(None, None, None, None, 0, confidence)
    mean = float(arr.mean())
    if n == 1:
        return MeanCI(mean, None, None, None, 1, confidence)
    sd = float(arr.std(ddof=1))
    half = float(stats.t.ppf(1 - (1 - confidence) / 2, n - 1)) * sd / math.sqrt(n)
    return MeanCI(mean, mean - half, mean + half, sd, n, confidence)


def sample_sd(values: Sequence[float]) -> float | None:
    """Sample standard deviation (ddof=1); None with fewer than 2 values."""
    arr = _clean(values)
    return float(arr.std(ddof=1)) if arr.size >= 2 else None


def pooled_sd(groups: Sequence[Sequence[float]]) -> float | None:
    """Pooled within-group standard deviation over groups with >= 2 values; None when none has 2."""
    ss = 0.0
    dof = 0
    for g in groups:
        arr = _clean(g)
        if arr.size >= 2:
            ss += float(((arr - arr.mean()) ** 2).sum())
            dof += int(arr.size) - 1
    return math.sqrt(ss / dof) if dof else None


def welch_test(a: Sequence[float], b: Sequence[float]) -> tuple[float | None, str | None]:
    """Two-sided Welch's t-test (unequal variances) of mean(a) vs mean(b).

    Returns:
        ``(p_value, note)``. ``p_value`` is None when either side has fewer than 2
        values (``note`` says so). When both sides have zero variance the test is
        undefined; then p is 0.0 if the means differ and 1.0 if they are equal, and
        ``note`` says so (deterministic objectives produce this).

    Example:
        >>> p, note = welch_test([1.0, 1.1, 0.9], [2.0, 2.1, 1.9])
        >>> p < 0.01, note
        (True, None)
    """
    x, y = _clean(a), _clean(b)
    if x.size < 2 or y.size < 2:
        return None, f"needs >= 2 values per side, but got n={x.size} vs n={y.size}"
    vx, vy = float(x.var(ddof=1)), float(y.var(ddof=1))
    if vx == 0.0 and vy == 0.0:
        same = math.isclose(float(x.mean()), float(y.mean()), rel_tol=1e-12, abs_tol=1e-15)
        return (1.0 if same else 0.0), "both sides have zero variance; p set to 1 if means are equal, else 0"
    res = stats.ttest_ind(x, y, equal_var=False)
    return float(res.pvalue), None


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm–Bonferroni step-down adjusted p-values (None entries stay None and do not count).

    Example:
        >>> holm([0.01, 0.04, None, 0.03])
        [0.03, 0.06, None, 0.06]
    """
    idx = [i for i, p in enumerate(pvalues) if p is not None]
    m = len(idx)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=lambda j: pvalues[j])):  # type: ignore[arg-type,return-value]
        adj = min(1.0, (m - rank) * float(pvalues[i]))  # type: ignore[arg-type]
        running = max(running, adj)  # adjusted p-values must not decrease along the order
        out[i] = round(running, 15)
    return out


def bonferroni(pvalues: Sequence[float | None]) -> list[float | None]:
    """Bonferroni adjusted p-values (``min(1, m·p)``; None entries stay None and do not count)."""
    m = sum(p is not None for p in pvalues)
    return [None if p is None else min(1.0, m * float(p)) for p in pvalues]


def _rank_corr(x: Sequence[float], y: Sequence[float], fn: Callable[..., Any]) -> float | None:
    a, b = _clean(x), _clean(y)
    if a.size != b.size:
        raise ValueError(f"x and y must have the same length, but got {a.size} and {b.size}")
    if a.size < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return None  # undefined: too few points or a constant side
    value = float(fn(a, b).statistic)
    return value if math.isfinite(value) else None


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation (scipy.stats.spearmanr); None when undefined.

    Example:
        >>> spearman([1, 2, 3], [10, 20, 30])
        1.0
    """
    return _rank_corr(x, y, stats.spearmanr)


def kendall(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's tau-b (scipy.stats.kendalltau); None when undefined.

    Example:
        >>> kendall([1, 2, 3], [30, 20, 10])
        -1.0
    """
    return _rank_corr(x, y, stats.kendalltau)
