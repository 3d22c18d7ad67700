"""Representative, nested, exactly sized subsets of a table.

The algorithm (see docs/subsets.md):

1. Every row gets a stratum code: the joint value of the ``stratify`` keys.
2. Every row gets a 64-bit key from a bijective integer hash of ``(seed, row number)``.
   Within a stratum, rows are taken in ascending key order, so a subset is a prefix of
   one seeded random order per stratum, and a larger prefix contains a smaller one.
3. For each fraction the subset size is ``floor(fraction x N + 1/2)`` (round half up) and
   it is split over strata by largest remainder, with at least one row per stratum.
   Counts are made non-decreasing in the fraction (the Alabama paradox of largest
   remainder is repaired), so prefixes nest.

All of it is vectorised numpy over stratum codes; there is no loop over rows.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hpscout._errors import DataError
from hpscout._imports import try_import

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

__all__ = [
    "LENGTH_BUCKET_PREFIX",
    "SourceInfo",
    "Subset",
    "SubsetSet",
    "StrataCodes",
    "make_subsets",
    "subsets_from_file",
    "subset_size",
    "allocate",
    "strata_codes",
    "text_lengths",
]

#: prefix of the derived stratify key ``length_bucket:<column>``
LENGTH_BUCKET_PREFIX = "length_bucket:"

_U64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class SourceInfo:
    """Where the rows came from: the path as given, the hash of its content and its row count."""

    path: str | None
    sha256: str | None
    rows: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "rows": self.rows}


@dataclass(frozen=True, eq=False)
class Subset:
    """One subset: its fraction, its sorted 0-based row numbers and its rows per stratum.

    ``adjusted`` is True when the per-stratum counts differ from what this fraction gets
    on its own, because they were repaired to nest with the other fractions of the set.
    """

    fraction: float
    indices: np.ndarray
    strata: dict[str, int]
    adjusted: bool = False

    @property
    def size(self) -> int:
        return int(self.indices.size)

    def __len__(self) -> int:
        return self.size


@dataclass(frozen=True, eq=False)
class SubsetSet:
    """Nested subsets of one table at several fractions, ascending.

    Example:
        >>> import numpy as np
        >>> labels = np.repeat([0, 1], [600, 400])
        >>> ss = make_subsets(labels, [0.01, 0.05], seed=42)
        >>> [s.size for s in ss], ss[0.01].strata
        ([10, 50], {'0': 6, '1': 4})
        >>> bool(np.isin(ss[0.01].indices, ss[0.05].indices).all())
        True
    """

    rows: int
    seed: int
    stratify: tuple[str, ...]
    strata: dict[str, int]
    subsets: tuple[Subset, ...]
    length_buckets: int = 4
    source: SourceInfo | None = None

    @property
    def fractions(self) -> list[float]:
        return [s.fraction for s in self.subsets]

    def get(self, fraction: float) -> Subset:
        """The subset at ``fraction`` (matched to 1e-12); DataError naming the fractions held otherwise."""
        for s in self.subsets:
            if abs(s.fraction - float(fraction)) <= 1e-12:
                return s
        raise DataError(f"this subset set holds the fractions {self.fractions}, not {fraction}")

    def indices(self, fraction: float) -> np.ndarray:
        """Sorted 0-based row numbers of the subset at ``fraction``."""
        return self.get(fraction).indices

    def __getitem__(self, fraction: float) -> Subset:
        return self.get(fraction)

    def __iter__(self) -> Iterator[Subset]:
        return iter(self.subsets)

    def __len__(self) -> int:
        return len(self.subsets)

    def with_source(self, path: str | os.PathLike[str] | None, sha256: str | None) -> SubsetSet:
        """A copy that records the source it was drawn from."""
        return replace(self, source=SourceInfo(None if path is None else str(path), sha256, self.rows))

    def to_manifest(self) -> dict[str, Any]:
        """The manifest as a JSON-ready dict (see :mod:`hpscout.data._manifest`)."""
        from hpscout.data._manifest import manifest_dict

        return manifest_dict(self)

    def save_manifest(self, path: str | os.PathLike[str]) -> Path:
        """Write the manifest atomically to ``path`` (a ``.json`` file, or a folder to hold ``subsets.json``)."""
        from hpscout.data._manifest import save_manifest

        return save_manifest(self, path)


# --------------------------------------------------------------------------- strata


@dataclass(frozen=True, eq=False)
class StrataCodes:
    """Stratum code per row (0..K-1, in sorted order of the stratum values) and each stratum's label."""

    codes: np.ndarray
    labels: tuple[str, ...]
    keys: tuple[str, ...]

    @functools.cached_property
    def sizes(self) -> np.ndarray:
        """Rows per stratum."""
        return np.bincount(self.codes, minlength=len(self.labels)).astype(np.int64)

    def take(self, rows: np.ndarray) -> StrataCodes:
        """The codes of some rows, with strata that lost all their rows dropped."""
        return _compress([self.codes[rows]], [list(self.labels)], self.keys)


def _num_rows(data: Any) -> int:
    if isinstance(data, np.ndarray):
        return int(data.shape[0])
    if isinstance(data, Mapping):
        lengths = {str(k): len(v) for k, v in data.items()}
        if len(set(lengths.values())) > 1:
            raise DataError(f"a dict of columns needs equal-length columns, but got lengths {lengths}")
        return next(iter(lengths.values()), 0)
    if hasattr(data, "num_rows"):  # datasets.Dataset, pyarrow.Table
        return int(data.num_rows)
    return len(data)


def _column_names(data: Any) -> list[str]:
    if isinstance(data, Mapping):
        return [str(k) for k in data]
    if hasattr(data, "column_names"):  # datasets.Dataset, pyarrow.Table
        return list(data.column_names)
    if hasattr(data, "columns"):  # pandas.DataFrame
        return [str(c) for c in data.columns]
    return []


def _describe(data: Any) -> str:
    return f"a {type(data).__name__} with columns {_column_names(data)}"


def _arrow_column(data: Any, name: str, what: str) -> pa.Array:
    """One column as a pyarrow Array (rows in the data's order, selections honoured)."""
    pa = try_import("pyarrow", "stratified subsets")
    if isinstance(data, np.ndarray):
        raise DataError(f"{what} {name!r} needs a table, but the data is a bare array of stratum labels")
    names = _column_names(data)
    if name not in names:
        raise DataError(f"{what} {name!r} is not a column of the data; the columns are {names}")
    if hasattr(data, "with_format") and hasattr(data, "column_names"):  # datasets.Dataset
        col = data.with_format("arrow")[name]
    elif isinstance(data, pa.Table):
        col = data.column(name)
    else:  # a dict of columns or a pandas.DataFrame
        col = _to_arrow(data[name], name)
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    return col


def _to_arrow(values: Any, name: str) -> pa.Array:
    pa = try_import("pyarrow", "stratified subsets")
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values
    try:
        if hasattr(values, "dtype") and hasattr(values, "isna"):  # pandas Series: NaN/None -> null
            return pa.array(values, from_pandas=True)
        return pa.array(values)
    except (TypeError, ValueError):  # mixed types (1 and "a"): compare them as text, keep None as missing
        seq = values.tolist() if hasattr(values, "tolist") else list(values)
        return pa.array([None if v is None else str(v) for v in seq], type=pa.string())


def _codes_of(arr: pa.Array, name: str, *, empty_is_missing: bool = True) -> tuple[np.ndarray, list[str]]:
    """Codes 0..K-1 in sorted value order, and the values as strings; DataError on missing values."""
    pa = try_import("pyarrow", "stratified subsets")
    pc = try_import("pyarrow.compute", "stratified subsets")
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    missing = arr.is_null()
    if pa.types.is_floating(arr.type):
        missing = pc.or_(missing, pc.is_nan(arr))
    if empty_is_missing and (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        missing = pc.or_(missing, pc.fill_null(pc.equal(arr, ""), False))
    n_missing = pc.sum(missing).as_py() or 0
    if n_missing:
        first = int(np.flatnonzero(missing.to_numpy(zero_copy_only=False))[0])
        raise DataError(
            f"stratify column {name!r} has {n_missing} missing values (None, NaN or empty string), "
            f"the first at row {first}; fill or drop them, or stratify on another column"
        )
    if pa.types.is_boolean(arr.type):
        codes, labels = _int_codes(arr.to_numpy(zero_copy_only=False))
        return codes, [str(bool(int(v))) for v in labels]
    if pa.types.is_integer(arr.type):
        return _int_codes(arr.to_numpy(zero_copy_only=False))
    encoded = arr.dictionary_encode()
    dictionary = encoded.dictionary
    order = np.asarray(pc.array_sort_indices(dictionary))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    idx = encoded.indices.to_numpy(zero_copy_only=False)
    labels = [str(v) for v in dictionary.take(pa.array(order)).to_pylist()]
    return rank[idx], labels


def _int_codes(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    if values.dtype == np.bool_:
        values = values.astype(np.uint8)
    lo, hi = int(values.min()), int(values.max())
    if hi - lo <= max(1 << 22, 4 * values.size):  # small range: O(N) bincount instead of a sort
        if lo == 0 and not (values.dtype.kind == "u" and values.dtype.itemsize >= 8):
            shifted = values  # bincount and fancy indexing take it as it is
        elif values.dtype.kind == "u":
            shifted = (values - values.dtype.type(lo)).astype(np.int64)
        else:
            shifted = values.astype(np.int64) - lo
        present = np.bincount(shifted, minlength=hi - lo + 1) > 0
        mapping = (np.cumsum(present) - 1).astype(np.int32)
        uniq = np.flatnonzero(present) + lo
        return mapping[shifted], [str(int(v)) for v in uniq]
    uniq, inverse = np.unique(values, return_inverse=True)
    return inverse.reshape(-1), [str(int(v)) for v in uniq]


def text_lengths(data: Any, column: str, *, what: str = "text column") -> np.ndarray:
    """Character length of every row of a text column (vectorised, via pyarrow)."""
    pa = try_import("pyarrow", "text lengths")
    pc = try_import("pyarrow.compute", "text lengths")
    arr = _arrow_column(data, column, what)
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        raise DataError(f"{what} {column!r} must hold text, but holds {arr.type}")
    if arr.null_count:
        first = int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0])
        raise DataError(
            f"{what} {column!r} has {arr.null_count} missing values (None), the first at row {first}"
        )
    return np.asarray(pc.utf8_length(arr).to_numpy(zero_copy_only=False), dtype=np.int64)


def _length_bucket_codes(data: Any, column: str, buckets: int, key: str) -> tuple[np.ndarray, list[str]]:
    lengths = text_lengths(data, column, what=f"stratify key {key!r}: column")
    # Quantile edges of the character lengths; bucket i holds lengths in [edge[i-1], edge[i]).
    edges = np.quantile(lengths, np.arange(1, buckets) / buckets) if lengths.size else np.array([])
    bucket = np.searchsorted(edges, lengths, side="right")
    return _int_codes(bucket)


def strata_codes(data: Any, stratify: Sequence[str] = (), *, length_buckets: int = 4) -> StrataCodes:
    """Joint stratum code of every row.

    Args:
        data: a ``datasets.Dataset``, ``pandas.DataFrame``, ``pyarrow.Table``, a dict of
            columns, or a 1-D numpy array whose values are the stratum labels.
        stratify: column names and derived keys ``length_bucket:<column>`` (quantile bucket
            of the column's character length); several keys stratify on their joint value.
        length_buckets: how many quantile buckets a ``length_bucket:`` key makes.
    """
    keys = tuple(stratify)
    n = _num_rows(data)
    if n == 0:
        raise DataError(f"the data is empty ({_describe(data)} has 0 rows); subsets need at least one row")
    if not isinstance(length_buckets, int) or isinstance(length_buckets, bool) or length_buckets < 1:
        raise DataError(f"length_buckets must be an integer >= 1, but got {length_buckets!r}")
    if len(set(keys)) != len(keys):
        raise DataError(f"stratify keys must be distinct, but got {list(keys)}")
    if isinstance(data, np.ndarray):
        if keys:
            raise DataError(
                f"a bare array is itself the stratum labels; pass stratify=() with it, not {list(keys)}"
            )
        if data.ndim != 1:
            raise DataError(f"an array of stratum labels must be 1-D, but has shape {data.shape}")
        codes, labels = _codes_of(_to_arrow(data, "labels"), "labels")
        return _compress([codes], [labels], (), dense=True)
    if not keys:
        return StrataCodes(np.zeros(n, dtype=np.int64), ("all",), ())
    per_key_codes: list[np.ndarray] = []
    per_key_labels: list[list[str]] = []
    for key in keys:
        if key.startswith(LENGTH_BUCKET_PREFIX):
            column = key[len(LENGTH_BUCKET_PREFIX) :]
            if not column:
                raise DataError(f"stratify key {key!r} must name a column: length_bucket:<column>")
            codes, labels = _length_bucket_codes(data, column, length_buckets, key)
        else:
            codes, labels = _codes_of(_arrow_column(data, key, "stratify column"), key)
        per_key_codes.append(codes)
        per_key_labels.append(labels)
    return _compress(per_key_codes, per_key_labels, keys, dense=True)


def _compress(
    codes: list[np.ndarray], labels: list[list[str]], keys: tuple[str, ...], *, dense: bool = False
) -> StrataCodes:
    """Joint codes of several keys, renumbered to the combinations that occur (sorted).

    ``dense`` says a single key's codes already use every value 0..K-1.
    """
    sizes = [len(lab) for lab in labels]
    small = np.int32 if math.prod(sizes) < (1 << 31) else np.int64
    if len(codes) == 1 and dense:
        # One key whose codes are already dense and in sorted value order.
        return StrataCodes(codes[0].astype(small, copy=False), tuple(labels[0]), keys)
    joint = codes[0].astype(np.int64, copy=False)
    for c, k in zip(codes[1:], sizes[1:], strict=True):
        joint = joint * k + c
    total = math.prod(sizes)
    if total <= max(1 << 22, 4 * joint.size):
        present: np.ndarray = np.bincount(joint, minlength=total) > 0
        combos: np.ndarray = np.flatnonzero(present)
        dense_codes: np.ndarray = (np.cumsum(present) - 1)[joint]
    else:
        combos, dense_codes = np.unique(joint, return_inverse=True)
        dense_codes = dense_codes.reshape(-1)
    out_labels = []
    for combo in combos.tolist():
        parts = []
        for k in reversed(sizes):
            combo, r = divmod(combo, k)
            parts.append(r)
        out_labels.append("|".join(lab[r] for lab, r in zip(labels, reversed(parts), strict=True)))
    return StrataCodes(dense_codes.astype(small, copy=False), tuple(out_labels), keys)


# --------------------------------------------------------------------------- sizes and allocation


def _check_fraction(fraction: Any) -> float:
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.integer, np.floating)):
        raise DataError(f"a fraction must be a number in (0, 1], but got {fraction!r}")
    f = float(fraction)
    if not (0 < f <= 1):  # also rejects NaN
        raise DataError(f"a fraction must be in (0, 1], but got {fraction!r}")
    return f


def subset_size(fraction: float, rows: int) -> int:
    """Rows in a subset: ``fraction x rows`` rounded half up, computed exactly in decimal.

    Example:
        >>> subset_size(0.01, 67349), subset_size(0.5, 5), subset_size(0.25, 10)
        (673, 3, 3)
    """
    f = _check_fraction(fraction)
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
    f = _check_fraction(fraction)
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


def _nested_counts(
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


# --------------------------------------------------------------------------- selection


_BLOCK = 1 << 16  # rows per block: the key arrays of one block stay in the CPU cache


def _row_keys(start: int, stop: int, state: int) -> np.ndarray:
    """Distinct pseudo-random 64-bit keys of rows ``start..stop-1``: splitmix64 of (seed, row number).

    Pure integer arithmetic, so the same on every platform and numpy version; the
    finaliser is a bijection, so no two rows of one table share a key.
    """
    z = np.arange(start + 1, stop + 1, dtype=np.uint64)
    z *= np.uint64(_GOLDEN)
    z += np.uint64(state)
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


def _splitmix64_scalar(x: int) -> int:
    z = (x + _GOLDEN) & _U64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _U64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _U64
    return z ^ (z >> 31)


def _candidates(codes: np.ndarray, thr: np.ndarray, state: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose key is at most their stratum's threshold, and their keys (block by block)."""
    rows, keys = [], []
    for start in range(0, codes.size, _BLOCK):
        stop = min(start + _BLOCK, codes.size)
        k = _row_keys(start, stop, state)
        hit = np.flatnonzero(k <= thr[codes[start:stop]])
        rows.append(hit + start)
        keys.append(k[hit])
    return np.concatenate(rows), np.concatenate(keys)


def _select(codes: np.ndarray, sizes: np.ndarray, counts: list[np.ndarray], seed: int) -> list[np.ndarray]:
    """Sorted row numbers of each subset: the ``counts[j][k]`` lowest-key rows of every stratum k.

    ``counts`` must be non-decreasing in j (nested).
    """
    n = codes.size
    k = sizes.size
    partial = [c for c in counts if int(c.sum()) < n]
    out: list[np.ndarray] = []
    if partial:
        state = _splitmix64_scalar(seed & _U64)
        need = partial[-1]
        # Only rows whose key is below a per-stratum threshold can be among its `need`
        # lowest keys. The threshold leaves a margin of ~4 standard deviations and is
        # raised for any stratum that came up short, so the result is exact.
        share = np.minimum(1.0, (need + 4.0 * np.sqrt(need) + 16.0) / np.maximum(sizes, 1))
        share[need == 0] = 0.0
        while True:
            thr = np.array([min(_U64, int(p * 2.0**64)) for p in share.tolist()], dtype=np.uint64)
            thr[share >= 1.0] = np.uint64(_U64)
            cand, keys = _candidates(codes, thr, state)
            ccodes = codes[cand]
            have = np.bincount(ccodes, minlength=k)
            short = have < need
            if not short.any():
                break
            share[short] = np.minimum(1.0, share[short] * 2.0 + 1e-9)
        by_key = np.argsort(keys)  # keys are distinct, so any sort algorithm gives this order
        cand, ccodes = cand[by_key], ccodes[by_key]
        small = np.uint8 if k <= 256 else np.uint16 if k <= 65536 else np.int64
        by_code = np.argsort(ccodes.astype(small, copy=False), kind="stable")  # radix sort for small codes
        cand = cand[by_code]
        sorted_codes = np.repeat(np.arange(k), have)
        within = np.arange(cand.size) - (np.cumsum(have) - have)[sorted_codes]
        if len(partial) < 255:
            # level[row] = the first subset the row belongs to; then each subset is one O(N) scan
            level = np.full(n, 255, dtype=np.uint8)
            lev = np.full(cand.size, 255, dtype=np.uint8)
            for j in range(len(partial) - 1, -1, -1):
                lev[within < partial[j][sorted_codes]] = j
            level[cand] = lev
            out = [np.flatnonzero(level <= j) for j in range(len(partial))]
        else:
            out = [np.sort(cand[within < c[sorted_codes]]) for c in partial]
    out += [np.arange(n, dtype=np.int64) for _ in range(len(counts) - len(partial))]
    return [o.astype(np.int64, copy=False) for o in out]


# --------------------------------------------------------------------------- public entry points


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or int(seed) < 0:
        raise DataError(f"seed must be a non-negative integer, but got {seed!r}")
    return int(seed)


def make_subsets(
    data: Any,
    fractions: Sequence[float],
    *,
    stratify: Sequence[str] | str = (),
    seed: int = 42,
    length_buckets: int = 4,
    ladder: Sequence[float] = (),
) -> SubsetSet:
    """Draw stratified, nested, exactly sized subsets at several fractions.

    Guarantees (docs/subsets.md): every subset has ``round_half_up(fraction x N)`` rows;
    each smaller subset lies inside each larger one; the same data, stratify keys and seed
    give the same rows in any process; each stratum keeps at least one row; per-stratum
    counts are within 1 of ``fraction x stratum size`` except where the min-1 rule or the
    nesting repair (``Subset.adjusted``) moved them. A subset depends on the other
    requested fractions only through that repair, which is rare; fractions in ``ladder``
    are computed first and never depend on the others.

    Args:
        data: a ``datasets.Dataset``, ``pandas.DataFrame``, ``pyarrow.Table``, dict of
            columns, or a 1-D numpy array of stratum labels.
        fractions: fractions in (0, 1].
        stratify: columns and ``length_bucket:<column>`` keys; their joint value is kept.
        seed: the seed of the per-stratum random order.
        length_buckets: quantile buckets per ``length_bucket:`` key.
        ladder: fractions to compute first (also returned), e.g. the fidelity ladder.

    Example:
        >>> ss = make_subsets({"label": [0] * 90 + [1] * 10}, [0.1, 0.5], stratify="label", seed=1)
        >>> [(s.size, s.strata) for s in ss]
        [(10, {'0': 9, '1': 1}), (50, {'0': 45, '1': 5})]
    """
    if isinstance(stratify, str):
        stratify = [stratify]
    seed = _check_seed(seed)
    if isinstance(fractions, (int, float)):
        fractions = [fractions]
    fracs = [_check_fraction(f) for f in fractions]
    lad = [_check_fraction(f) for f in ladder]
    if not fracs and not lad:
        raise DataError("make_subsets needs at least one fraction")
    strata = strata_codes(data, stratify, length_buckets=length_buckets)
    return _subsets_from_codes(strata, fracs, lad, seed, length_buckets)


def _subsets_from_codes(
    strata: StrataCodes,
    fractions: Sequence[float],
    ladder: Sequence[float],
    seed: int,
    length_buckets: int,
    totals: Mapping[float, int] | None = None,
) -> SubsetSet:
    sizes = strata.sizes
    order, counts, adjusted = _nested_counts(sizes, fractions, ladder, totals)
    picked = _select(strata.codes, sizes, [counts[f] for f in order], seed)
    labels = strata.labels
    subsets = tuple(
        Subset(
            fraction=f,
            indices=idx,
            strata={labels[i]: int(c) for i, c in enumerate(counts[f].tolist()) if c},
            adjusted=adjusted[f],
        )
        for f, idx in zip(order, picked, strict=True)
    )
    return SubsetSet(
        rows=int(strata.codes.size),
        seed=seed,
        stratify=strata.keys,
        strata={lab: int(c) for lab, c in zip(labels, sizes.tolist(), strict=True)},
        subsets=subsets,
        length_buckets=length_buckets,
    )


def subsets_from_file(
    path: str | os.PathLike[str],
    fractions: Sequence[float],
    *,
    stratify: Sequence[str] | str = (),
    seed: int = 42,
    length_buckets: int = 4,
    split: str = "train",
) -> tuple[SubsetSet, Any]:
    """Load ``path`` (see :func:`load_table`), draw subsets and record the source; returns (subsets, data)."""
    from hpscout.data._load import load_table, source_sha256

    data = load_table(path, split=split)
    keys = [stratify] if isinstance(stratify, str) else list(stratify)
    for key in keys:
        column = key[len(LENGTH_BUCKET_PREFIX) :] if key.startswith(LENGTH_BUCKET_PREFIX) else key
        if column and column not in data.column_names:
            raise DataError(
                f"stratify column {column!r} is not in {path}; the columns are {data.column_names}"
            )
    ss = make_subsets(data, fractions, stratify=stratify, seed=seed, length_buckets=length_buckets)
    p = Path(path)
    shown = str(p.resolve()) if p.exists() else str(path)  # absolute, so the manifest checks from anywhere
    return ss.with_source(shown, source_sha256(path, split=split)), data
