"""Stratum codes: the joint value of the ``stratify`` keys per row, vectorised with pyarrow and numpy.

A ``length_bucket:<column>`` key buckets a text column's lengths into quantiles, so
subsets keep the length distribution as well as the label mix.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hpscout._errors import DataError
from hpscout._imports import try_import

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

__all__ = ["LENGTH_BUCKET_PREFIX", "StrataCodes", "strata_codes", "text_lengths"]

#: prefix of the derived stratify key ``length_bucket:<column>``
LENGTH_BUCKET_PREFIX = "length_bucket:"


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
