"""Subset sizes and their split over strata: round half up, largest remainder, nested across fractions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import numpy as np

from hpscout._checks import check_fraction
from hpscout._errors import DataError

__all__ = ["allocate", "checked_fraction", "nested_counts", "subset_size"]


def checked_fraction(fraction: Any) -> float:
    """``fraction`` as a float in (0, 1] (numpy scalars included), else :class:`DataError`."""
    if isinstance(fraction, (np.integer, np.floating)):
        fraction = fraction.item()
    return check_fraction(fraction, "a fraction", error=DataError)


def subset_size(fraction: float, rows: int) -> int:
    """Rows in a subset: ``fraction x rows`` rounded half up, computed exactly in decimal.

    Example:
        >>> subset_size(0.01, 67349), subset_size(0.5, 5), subset_size(0.25, 10)
        (673, 3, 3)
    """
    f = checked_fraction(fraction)
    return int((Decimal(repr(f)) * rows + Decimal("0.5")).to_integral_value(rounding=ROUND_FLOOR))


def _quota_parts(sizes: np.ndarray, total: int) -> tuple[np.ndarray, np.ndarray]:
    """floor and remainder of the quotas ``total x size_k / N``, in exact integer arithmetic.

    The remainder is returned as the integer numerator over N, so comparisons are exact.
    """
    n = int(sizes.sum())
    if total * int(sizes.max(initial=0)) < (1 << 62):
        prod = sizes.astype(np.int64) * total
        return prod // n, prod % n
    prod = sizes.astype(object) * total  # exact Python ints (K entries, not N rows)
    return (prod // n).astype(np.int64), (prod % n).astype(np.int64)


def _ranked(*keys: np.ndarray) -> np.ndarray:
    """Indices sorted by the keys (first key most significant), ties by index (lexsort is stable)."""
    return np.lexsort(tuple(reversed(keys)))


def allocate(sizes: Sequence[int] | np.ndarray, fraction: float, *, total: int | None = None) -> np.ndarray:
    """Rows per stratum for one fraction on its own: largest remainder with at least one per stratum.

    The subset size is ``S = subset_size(fraction, N)`` (or ``total``); the result depends
    on the fraction only through ``S``, so two fractions with the same size get the same rows.

    1. The quota of stratum k is ``S x size_k / N``; it first gets ``floor(quota)``.
    2. A stratum whose floor is 0 gets 1 (the min-1 rule; such a stratum has quota < 1, so
       1 is its quota rounded up).
    3. The seats left to reach the exact subset size go to the largest remainders (ties:
       the larger stratum, then the lower stratum code). If the min-1 seats took more than
       there were remainder seats, the excess comes back off the largest strata, one row
       each, largest first — those are the only counts more than 1 away from their quota.

    Raises:
        DataError: when the subset is smaller than the number of strata.

    Example:
        >>> allocate([90, 9, 1], 0.1).tolist()
        [8, 1, 1]
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    n = int(sizes.sum())
    f = checked_fraction(fraction)
    s = subset_size(f, n) if total is None else int(total)
    k = sizes.size
    if s < k:
        raise DataError(
            f"fraction {f} gives a subset of {s} rows ({f} x {n} rows, rounded half up), fewer than the "
            f"{k} strata; every stratum keeps at least one row, so use a fraction of at least {k / n:.3g} "
            f"or fewer / coarser stratify keys"
        )
    if s >= n:
        return sizes.copy()
    floor, rem_rank = _quota_parts(sizes, s)
    counts = floor.copy()
    bumped = counts == 0
    counts[bumped] = 1
    left = s - int(counts.sum())
    if left > 0:
        # Largest remainder among strata the min-1 rule did not already raise.
        order = _ranked(bumped.astype(np.int8), -rem_rank, -sizes)
        counts[order[:left]] += 1
    elif left < 0:
        counts = _take_from_largest(counts, -left, rem_rank)
    return counts


def _take_from_largest(counts: np.ndarray, excess: int, rem_rank: np.ndarray) -> np.ndarray:
    counts = counts.copy()
    while excess > 0:
        can = np.flatnonzero(counts > 1)
        order = can[_ranked(-counts[can], rem_rank[can])]
        take = order[:excess]
        counts[take] -= 1
        excess -= take.size
    return counts


def _fit(raw: np.ndarray, lo: np.ndarray, hi: np.ndarray, total: int, quota: np.ndarray) -> np.ndarray:
    """Counts closest to ``raw`` with ``lo <= counts <= hi`` and the exact ``total``.

    Seats are added where the count is furthest below its quota and removed where it is
    furthest above (ties: lower stratum code), one per stratum per round.
    """
    lo = np.maximum(lo, 1)
    counts = np.clip(raw, lo, hi)
    diff = total - int(counts.sum())
    while diff != 0:
        if diff > 0:
            can = np.flatnonzero(counts < hi)
            order = can[_ranked(counts[can] - quota[can])]
            step = order[:diff]
            counts[step] += 1
            diff -= step.size
        else:
            can = np.flatnonzero(counts > lo)
            order = can[_ranked(quota[can] - counts[can])]
            step = order[:-diff]
            counts[step] -= 1
            diff += step.size
        if step.size == 0:  # pragma: no cover - bounds are feasible by construction
            raise DataError(f"cannot fit {total} rows between the neighbouring subsets' counts")
    return counts


def nested_counts(
    sizes: np.ndarray,
    fractions: Sequence[float],
    ladder: Sequence[float] = (),
    totals: Mapping[float, int] | None = None,
) -> tuple[list[float], dict[float, np.ndarray], dict[float, bool]]:
    """Per-stratum counts for every fraction, non-decreasing in the fraction.

    Ladder fractions are computed first, ascending, each repaired only against the one
    below; the other fractions are then fitted between their computed neighbours, so
    they never change the ladder's counts.
    """
    n = int(sizes.sum())
    totals = dict(totals or {})
    for f in list(fractions) + list(ladder):
        totals.setdefault(f, subset_size(f, n))
    ladder_sorted = sorted(set(ladder))
    others = sorted(set(fractions) - set(ladder_sorted))
    counts: dict[float, np.ndarray] = {}
    adjusted: dict[float, bool] = {}
    done: list[float] = []
    for f in ladder_sorted + others:
        raw = allocate(sizes, f, total=totals[f])
        lower = [g for g in done if totals[g] <= totals[f] and g <= f]
        upper = [g for g in done if totals[g] >= totals[f] and g >= f]
        lo = counts[max(lower)] if lower else np.zeros_like(sizes)
        hi = counts[min(upper)] if upper else sizes
        quota = sizes * (totals[f] / n)
        fitted = raw if np.all((raw >= lo) & (raw <= hi)) else _fit(raw, lo, hi, totals[f], quota)
        counts[f] = fitted
        adjusted[f] = bool(np.any(fitted != raw))
        done.append(f)
    return sorted(counts), counts, adjusted
