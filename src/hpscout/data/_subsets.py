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

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from hpscout._errors import DataError
from hpscout.data._allocation import checked_fraction, nested_counts
from hpscout.data._load import load_table, source_sha256
from hpscout.data._manifest import SourceInfo, manifest_dict, save_manifest
from hpscout.data._strata import LENGTH_BUCKET_PREFIX, StrataCodes, strata_codes

__all__ = ["Subset", "SubsetSet", "make_subsets", "subsets_from_file"]

_U64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


# --------------------------------------------------------------------------- results


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
        return manifest_dict(self)

    def save_manifest(self, path: str | os.PathLike[str]) -> Path:
        """Write the manifest atomically to ``path`` (a ``.json`` file, or a folder to hold ``subsets.json``)."""
        return save_manifest(self, path)


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
    fracs = [checked_fraction(f) for f in fractions]
    lad = [checked_fraction(f) for f in ladder]
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
    order, counts, adjusted = nested_counts(sizes, fractions, ladder, totals)
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
