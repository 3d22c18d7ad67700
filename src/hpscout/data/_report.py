"""How representative each subset is: stratum shares, total variation distance, text lengths.

Compute, then draw: :func:`representativeness` returns plain data (a JSON-ready dict);
:func:`format_report` turns it into a text table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hpscout._errors import DataError
from hpscout._format import text_table
from hpscout._imports import try_import
from hpscout.data._strata import (
    LENGTH_BUCKET_PREFIX,
    _arrow_column,
    _column_names,
    _num_rows,
    strata_codes,
    text_lengths,
)
from hpscout.data._subsets import SubsetSet

__all__ = [
    "LENGTH_QUANTILES",
    "class_warnings",
    "representativeness",
    "total_variation",
    "length_stats",
    "format_report",
]

#: quantiles reported for text lengths
LENGTH_QUANTILES = (0.1, 0.5, 0.9)


def total_variation(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    """Total variation distance ``0.5 x sum |p - q|`` over the union of keys.

    Example:
        >>> total_variation({"a": 0.5, "b": 0.5}, {"a": 0.7, "b": 0.3})
        0.2
    """
    keys = set(p) | set(q)
    return round(0.5 * sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in keys), 15)


def _shares(counts: Mapping[str, int]) -> dict[str, float]:
    total = sum(counts.values())
    return {k: v / total for k, v in counts.items()} if total else {}


def length_stats(lengths: np.ndarray) -> dict[str, float]:
    """Mean and the :data:`LENGTH_QUANTILES` (linear interpolation) of some lengths."""
    if lengths.size == 0:
        return {"mean": float("nan"), **{f"q{round(q * 100)}": float("nan") for q in LENGTH_QUANTILES}}
    qs = np.quantile(lengths, LENGTH_QUANTILES)
    return {
        "mean": float(lengths.mean()),
        **{f"q{round(q * 100)}": float(v) for q, v in zip(LENGTH_QUANTILES, qs, strict=True)},
    }


def _default_text_column(data: Any, stratify: Sequence[str]) -> str | None:
    """The first text column that is not itself a stratify column (None when there is none)."""
    pa = try_import("pyarrow", "the representativeness report")

    skip = {k for k in stratify if not k.startswith(LENGTH_BUCKET_PREFIX)}
    for name in _column_names(data):
        if name in skip:
            continue
        col = _arrow_column(data, name, "column")
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            return name
    return None


def class_warnings(data: Any, subset_set: SubsetSet, column: str) -> list[str]:
    """One line per class of ``column`` too small to appear in every subset by its share.

    A class's share of the subset at fraction f is ``f x`` its rows in the training pool
    (the subset at fraction 1 when there is one, else the whole table). Below one row it
    is either absent from that subset, or there only by the at-least-one-row rule of
    stratified subsets, and then over-represented.

    Example:
        >>> import numpy as np
        >>> from hpscout.data import make_subsets
        >>> labels = np.array([0] * 95 + [1] * 5)
        >>> class_warnings(labels, make_subsets(labels, [0.1, 1.0], seed=0), "label")  # doctest: +NORMALIZE_WHITESPACE
        ["class '1' of label has 5 training rows, less than one row's share of the subsets at 0.1;
          stratification keeps one row of it there (its share: 0.1 of that subset, 0.05 of the data)"]
    """
    keys = () if isinstance(data, np.ndarray) else (column,)  # a bare array is the labels themselves
    strata = strata_codes(data, keys, length_buckets=subset_set.length_buckets)
    k = len(strata.labels)
    whole = [s for s in subset_set if s.fraction == 1.0]
    base_rows = whole[0].indices if whole else np.arange(strata.codes.size)
    base = np.bincount(strata.codes[base_rows], minlength=k)
    out = []
    for c, label in enumerate(strata.labels):
        if base[c] == 0:
            continue
        absent: list[tuple[Any, int]] = []
        kept: list[tuple[Any, int]] = []
        for s in subset_set:
            if s.fraction * base[c] >= 1:
                continue
            count = int(np.count_nonzero(strata.codes[s.indices] == c))
            (kept if count else absent).append((s, count))
        if absent:
            at = ", ".join(f"{s.fraction:g}" for s, _ in absent)
            out.append(
                f"class {label!r} of {column} has {base[c]} training rows, too few to appear in the subsets at {at}: "
                "trials on them never see it (stratify on the label column, or use larger fractions)"
            )
        elif kept:
            s, count = kept[0]
            at = ", ".join(f"{s.fraction:g}" for s, _ in kept)
            out.append(
                f"class {label!r} of {column} has {base[c]} training rows, less than one row's share of the subsets "
                f"at {at}; stratification keeps one row of it there (its share: {count / max(s.size, 1):.3g} of "
                f"that subset, {base[c] / max(base_rows.size, 1):.3g} of the data)"
            )
    return out


def representativeness(
    data: Any,
    subset_set: SubsetSet,
    text_column: str | None = None,
    *,
    by: Sequence[str] | None = None,
    classes: str | None = None,
) -> dict[str, Any]:
    """Shares of each stratum (or class), their total variation distance, and text lengths per subset.

    Args:
        data: the table the subsets were drawn from (same rows, same order).
        subset_set: the subsets.
        text_column: column whose character lengths are summarised; None picks the first
            text column that is not a stratify column (no length figures when there is none).
        by: keys to compute shares on; default the subset set's own stratify keys
            (use e.g. ``["label"]`` to see class shares of an unstratified set).
        classes: a label column; ``warnings`` then names its classes too small to appear
            in every subset (:func:`class_warnings`).

    Returns:
        ``{"rows", "stratify", "by", "text_column", "length_unit", "full": {"size", "shares",
        "length"}, "subsets": [{"fraction", "size", "shares", "tvd", "length"}], "warnings"}``.

    Example:
        >>> import numpy as np
        >>> from hpscout.data import make_subsets
        >>> labels = np.array([0] * 6 + [1] * 4)
        >>> rep = representativeness(labels, make_subsets(labels, [0.5], seed=0))
        >>> rep["full"]["shares"], rep["subsets"][0]["tvd"]
        ({'0': 0.6, '1': 0.4}, 0.0)
    """
    n = _num_rows(data)
    if n != subset_set.rows:
        raise DataError(f"the data has {n} rows but the subsets were drawn from {subset_set.rows} rows")
    keys = tuple(subset_set.stratify if by is None else by)
    if by is None:
        full_counts = dict(subset_set.strata)
        per_subset = [dict(s.strata) for s in subset_set]
    else:
        strata = strata_codes(data, keys, length_buckets=subset_set.length_buckets)
        full_counts = dict(zip(strata.labels, strata.sizes.tolist(), strict=True))
        k = len(strata.labels)
        per_subset = []
        for s in subset_set:
            counts = np.bincount(strata.codes[s.indices], minlength=k)
            per_subset.append(
                {lab: int(c) for lab, c in zip(strata.labels, counts.tolist(), strict=True) if c}
            )
    column = text_column
    if column is None and not isinstance(data, np.ndarray):
        column = _default_text_column(data, subset_set.stratify)
    lengths = text_lengths(data, column) if column is not None else None
    full_shares = _shares(full_counts)
    subsets = []
    for s, sub_counts in zip(subset_set, per_subset, strict=True):
        shares = _shares(sub_counts)
        subsets.append(
            {
                "fraction": s.fraction,
                "size": s.size,
                "shares": shares,
                "tvd": total_variation(full_shares, shares),
                "length": None if lengths is None else length_stats(lengths[s.indices]),
            }
        )
    return {
        "rows": n,
        "stratify": list(subset_set.stratify),
        "by": list(keys),
        "text_column": column,
        "length_unit": "characters",
        "full": {
            "size": n,
            "shares": full_shares,
            "length": None if lengths is None else length_stats(lengths),
        },
        "subsets": subsets,
        "warnings": class_warnings(data, subset_set, classes) if classes is not None else [],
    }


def format_report(report: Mapping[str, Any], *, max_strata: int = 20) -> str:
    """A text table of a :func:`representativeness` report (largest strata first)."""
    subsets = report["subsets"]
    header = ["", "full"] + [f"{s['fraction']:g}" for s in subsets]
    rows: list[list[str]] = [["rows", str(report["full"]["size"])] + [str(s["size"]) for s in subsets]]
    full_shares = report["full"]["shares"]
    by = ",".join(report.get("by") or []) or "all"
    ranked = sorted(full_shares, key=lambda k: (-full_shares[k], k))
    for key in ranked[:max_strata]:
        rows.append(
            [f"share {by}={key}", f"{full_shares[key]:.4f}"]
            + [f"{s['shares'].get(key, 0.0):.4f}" for s in subsets]
        )
    if len(ranked) > max_strata:
        rows.append([f"({len(ranked) - max_strata} more strata)", ""] + [""] * len(subsets))
    rows.append(["TVD vs full", "0"] + [f"{s['tvd']:.4f}" for s in subsets])
    if report["full"].get("length") is not None:
        unit = "chars" if report.get("length_unit") == "characters" else report.get("length_unit", "")
        for stat in ["mean"] + [f"q{round(q * 100)}" for q in LENGTH_QUANTILES]:
            rows.append(
                [f"{report['text_column']} {unit} {stat}", f"{report['full']['length'][stat]:.1f}"]
                + [f"{s['length'][stat]:.1f}" for s in subsets]
            )
    lines = [text_table(header, rows, right=range(1, len(header)))]
    lines += [f"warning: {w}" for w in report.get("warnings") or []]
    return "\n".join(lines)
