"""What a trial gets: the train subset for its fraction and the eval set, from an experiment config.

The split is a pure function of (file content, stratify keys, seed, fraction, eval
settings), so every process that calls :func:`prepare_data` gets the same rows, and
the subsets at the fractions of :func:`subset_fractions` are nested.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hpscout._errors import DataError
from hpscout._io import atomic_write_json
from hpscout.data._allocation import checked_fraction, subset_size
from hpscout.data._load import data_format, load_table, source_sha256
from hpscout.data._manifest import SourceInfo
from hpscout.data._report import representativeness
from hpscout.data._strata import LENGTH_BUCKET_PREFIX, StrataCodes, strata_codes
from hpscout.data._subsets import Subset, SubsetSet, _subsets_from_codes

if TYPE_CHECKING:  # pragma: no cover
    import datasets

    from hpscout.config import ExperimentConfig

__all__ = ["PreparedData", "check_data", "class_column", "prepare_data", "subset_fractions", "stratify_keys", "clear_cache"]

_LENGTH_BUCKETS = 4
_log = logging.getLogger("hpscout.data")
_WARNED: set[tuple[str, float, str]] = set()


@dataclass(frozen=True, eq=False)
class PreparedData:
    """The data of one trial.

    Attributes:
        train: the subset rows for the requested fraction.
        eval: the eval set (``data.eval``, or a held-out stratified ``eval_split`` of train
            that never overlaps any train subset), capped at ``max_eval_samples``.
        train_indices: 0-based row numbers of ``train`` in the full train file (held-out
            eval rows removed, but numbers still count the original file rows).
        full_train_rows: rows available for training at fraction 1.0.
        fraction: the fraction of ``full_train_rows`` in ``train``.
        source_sha256: hash of the train source (see :func:`hpscout.data.file_sha256`).
    """

    train: datasets.Dataset
    eval: datasets.Dataset
    train_indices: np.ndarray
    full_train_rows: int
    fraction: float
    source_sha256: str


def _key(f: float) -> float:
    return round(float(f), 12)


def subset_fractions(config: ExperimentConfig) -> list[float]:
    """The canonical, nested ladder of fractions: the fidelities, the transfer rungs and 1.0, sorted.

    The transfer rungs are ``TransferConfig.climb_fractions`` (climbing: 2 x scout.fraction,
    then ~2x per rung; one-shot: ``transfer.fraction`` or 4 x scout.fraction).

    Example:
        >>> from hpscout.config import config_from_dict
        >>> cfg = config_from_dict({"name": "x", "data": {"train": "t.csv"},
        ...                         "scout": {"fraction": 0.05, "fidelities": [0.01, 0.02, 0.05]}})
        >>> subset_fractions(cfg)
        [0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 1.0]
    """
    transfer = config.transfer.climb_fractions(config.scout.fraction)
    return sorted({_key(f) for f in config.scout.fidelities} | {_key(f) for f in transfer} | {1.0})


def stratify_keys(config: ExperimentConfig) -> tuple[str, ...]:
    """``data.stratify``, or the label column for sequence classification when it is empty."""
    if config.data.stratify:
        return tuple(config.data.stratify)
    if config.task == "sequence-classification" and config.data.label_column:
        return (config.data.label_column,)
    return ()


def _required_columns(config: ExperimentConfig) -> list[tuple[str, str]]:
    """(column, config key) pairs the task reads."""
    d = config.data
    if config.task == "sequence-classification":
        cols = [(d.text_column, "data.text_column"), (d.label_column, "data.label_column")]
        if d.text_pair_column:
            cols.append((d.text_pair_column, "data.text_pair_column"))
    elif config.task == "seq2seq":
        cols = [(d.text_column, "data.text_column"), (d.target_column, "data.target_column")]
    elif config.task == "causal-lm":
        cols = [(d.instruction_column, "data.instruction_column"), (d.output_column, "data.output_column")]
    else:
        cols = []
    return [(c, k) for c, k in cols if c]


def class_column(config: ExperimentConfig) -> str | None:
    """The column whose values are classes: ``data.label_column`` for sequence classification, else None."""
    if config.task == "sequence-classification" and config.data.label_column:
        return config.data.label_column
    return None


def _base_column(key: str) -> str:
    return key[len(LENGTH_BUCKET_PREFIX) :] if key.startswith(LENGTH_BUCKET_PREFIX) else key


def _check_columns(table: Any, needed: list[tuple[str, str]], path: str) -> None:
    names = list(table.column_names)
    if table.num_rows == 0:
        raise DataError(f"{path} has no rows (columns {names}); a trial needs at least one row to train and evaluate on")
    for column, config_key in needed:
        if column not in names:
            raise DataError(f"column {column!r} ({config_key}) is not in {path}; the columns are {names}")


def _stamp(path: str) -> tuple[Any, ...] | None:
    """What changes when the source changes: (mtime, size) of the file or of every file in the folder."""
    p = Path(path)
    if p.is_file():
        st = p.stat()
        return (st.st_mtime_ns, st.st_size)
    if p.is_dir():
        return tuple(
            (q.relative_to(p).as_posix(), q.stat().st_mtime_ns, q.stat().st_size)
            for q in sorted(p.rglob("*"))
            if q.is_file()
        )
    return None


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, split: str, stamp: tuple[Any, ...] | None) -> tuple[datasets.Dataset, str]:
    # `stamp` is part of the cache key only: an edited file is read again.
    return load_table(path, split=split), source_sha256(path, split=split)


def _local(path: str) -> str:
    """The absolute path of a local source (the cache key); hub names unchanged."""
    if data_format(path) == "hub":
        return path
    return str(Path(path).resolve())


def _load(path: str) -> tuple[datasets.Dataset, str]:
    return _load_cached(path, "train", _stamp(path))


def _derived_seed(seed: int, purpose: str) -> int:
    """A seed for a side draw (eval hold-out, eval cap) that is independent of the subsets' seed."""
    digest = hashlib.sha256(f"hpscout:{purpose}:{seed}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _sample(strata: StrataCodes, size: int, seed: int) -> np.ndarray:
    """Sorted positions of an exact-size stratified sample (the first subset of the nested scheme)."""
    n = int(strata.codes.size)
    fraction = size / n
    ss = _subsets_from_codes(strata, [fraction], (), seed, _LENGTH_BUCKETS, totals={fraction: size})
    return ss.subsets[0].indices


@functools.lru_cache(maxsize=8)
def _classes(path: str, stamp: tuple[Any, ...] | None, column: str) -> StrataCodes:
    """The class of every row of the train file (codes into sorted class names)."""
    table, _ = _load_cached(path, "train", stamp)
    return strata_codes(table, (column,), length_buckets=_LENGTH_BUCKETS)


def _check_classes(classes: StrataCodes, column: str, path: str) -> None:
    """Refuse classification data with fewer than two classes: every trial would score 1.0 on it."""
    if len(classes.labels) < 2:
        found = ", ".join(repr(label) for label in classes.labels) or "none"
        raise DataError(
            f"sequence classification needs at least 2 classes, but data.label_column {column!r} of {path} "
            f"holds {len(classes.labels)} ({found}, {classes.codes.size} rows); check the file and the label column"
        )


def _keep_every_class(heldout: np.ndarray, classes: StrataCodes) -> np.ndarray:
    """The held-out rows minus, for each class they would take entirely, its lowest row number.

    A class with a single row (or all of whose rows the stratified hold-out drew) would
    otherwise be absent from every train subset, 100% included.
    """
    codes = classes.codes
    in_pool = np.ones(codes.size, dtype=bool)
    in_pool[heldout] = False
    missing = np.setdiff1d(np.unique(codes), np.unique(codes[in_pool]))
    if missing.size == 0:
        return heldout
    back = [int(heldout[codes[heldout] == c].min()) for c in missing]
    return np.setdiff1d(heldout, np.asarray(back, dtype=heldout.dtype))


@functools.lru_cache(maxsize=32)
def _split(
    path: str,
    stamp: tuple[Any, ...] | None,
    keys: tuple[str, ...],
    seed: int,
    eval_split: float | None,
    ladder: tuple[float, ...],
    fraction: float,
    label_column: str | None = None,
) -> tuple[np.ndarray | None, np.ndarray, int]:
    """(held-out eval rows or None, train rows for ``fraction``, rows in the training pool).

    With ``label_column``, every class keeps at least one row on the training side.
    """
    table, _ = _load_cached(path, "train", stamp)
    strata = strata_codes(table, keys, length_buckets=_LENGTH_BUCKETS)
    n = int(strata.codes.size)
    heldout = None
    pool = np.arange(n, dtype=np.int64)
    if eval_split is not None:
        try:
            heldout = _sample(strata, subset_size(eval_split, n), _derived_seed(seed, "eval-holdout"))
        except DataError as exc:
            raise DataError(f"holding out data.eval_split={eval_split} of {path} for eval: {exc}") from exc
        if label_column is not None:
            heldout = _keep_every_class(heldout, _classes(path, stamp, label_column))
        keep = np.ones(n, dtype=bool)
        keep[heldout] = False
        pool = np.flatnonzero(keep)
        strata = strata.take(pool)
    try:
        ss = _subsets_from_codes(strata, [fraction], ladder, seed, _LENGTH_BUCKETS)
    except DataError as exc:
        raise DataError(f"drawing the train subset from {path}: {exc}") from exc
    train_rows = pool[ss.get(fraction).indices]
    for arr in (heldout, train_rows):  # cached and shared between calls: keep them read-only
        if arr is not None:
            arr.flags.writeable = False
    return heldout, train_rows, int(pool.size)


def prepare_data(config: ExperimentConfig, fraction: float | None = None) -> PreparedData:
    """The train subset at ``fraction`` (default ``scout.fraction``) and the eval set of a config.

    Stratifies on ``data.stratify`` (for sequence classification, the label column when
    that is empty). The subset is drawn on the ladder :func:`subset_fractions` (plus
    ``fraction`` when it is not on it, fitted without changing the ladder's subsets), so
    trials at different fidelities see nested data. Loaded tables are cached per process
    by (path, mtime, size).

    Example:
        >>> data = prepare_data(cfg, 0.02)  # doctest: +SKIP
        >>> len(data.train), len(data.eval), data.train_indices[:3]  # doctest: +SKIP
    """
    frac = _key(checked_fraction(config.scout.fraction if fraction is None else fraction))
    d = config.data
    train_path = _local(str(d.train))
    table, sha = _load(train_path)
    keys = stratify_keys(config)
    needed = _required_columns(config) + [(_base_column(k), "data.stratify") for k in keys]
    _check_columns(table, needed, train_path)
    label_column = class_column(config)
    if label_column is not None:
        _check_classes(_classes(train_path, _stamp(train_path), label_column), label_column, train_path)
    heldout, train_idx, pool_rows = _split(
        train_path,
        _stamp(train_path),
        keys,
        int(config.seed),
        None if d.eval else float(d.eval_split),
        tuple(subset_fractions(config)),
        frac,
        label_column,
    )
    if d.eval:
        eval_table, _ = _load(_local(str(d.eval)))
        _check_columns(eval_table, _required_columns(config), str(d.eval))
        eval_rows: np.ndarray | None = np.arange(eval_table.num_rows, dtype=np.int64)
        eval_source = str(d.eval)
    else:
        eval_table, eval_rows, eval_source = table, heldout, train_path
    eval_rows = _cap_eval(
        eval_table, eval_rows, keys, d.max_eval_samples, int(config.seed), eval_source  # type: ignore[arg-type]
    )
    return PreparedData(
        train=table.select(train_idx),
        eval=eval_table if eval_rows is None else eval_table.select(eval_rows),
        train_indices=train_idx,
        full_train_rows=pool_rows,
        fraction=frac,
        source_sha256=sha,
    )


def _cap_eval(
    table: Any, rows: np.ndarray, keys: tuple[str, ...], cap: int | None, seed: int, source: str
) -> np.ndarray | None:
    """``rows`` (or None for all rows) cut to ``cap`` by a deterministic stratified sample."""
    if cap is None or rows.size <= cap:
        return None if rows.size == table.num_rows and np.array_equal(rows, np.arange(rows.size)) else rows
    names = set(table.column_names)
    usable = tuple(k for k in keys if _base_column(k) in names)  # an eval file may lack a stratify column
    subset = table.select(rows)
    try:
        strata = strata_codes(subset, usable, length_buckets=_LENGTH_BUCKETS)
        picked = _sample(strata, cap, _derived_seed(seed, "eval-cap"))
    except DataError as exc:
        raise DataError(f"capping the eval set of {source} at data.max_eval_samples={cap}: {exc}") from exc
    return rows[picked]


def clear_cache() -> None:
    """Forget cached tables and splits (tests; long-lived processes after editing data in place)."""
    _load_cached.cache_clear()
    _classes.cache_clear()
    _split.cache_clear()


def check_data(config: ExperimentConfig, fraction: float | None = None) -> PreparedData:
    """Load and check what a trial of ``config`` would train and evaluate on, before any model loads.

    Raises :class:`DataError` for a missing or unreadable file (non-UTF-8 text included,
    with its line and byte offset), a missing column, no rows, or classification data with
    one class; logs a warning (logger ``hpscout.data``) for classes of the training pool
    that the subset at ``fraction`` lacks. Returns the prepared data (cached for the trial).

    Example:
        >>> check_data(load_config("my.yaml", ["data.label_column=nosuch"]))  # doctest: +SKIP
        Traceback (most recent call last):
        hpscout._errors.DataError: column 'nosuch' (data.label_column) is not in ...
    """
    prepared = prepare_data(config, fraction)
    column = class_column(config)
    if column is not None:
        train_path = _local(str(config.data.train))
        classes = _classes(train_path, _stamp(train_path), column)
        pool = prepare_data(config, 1.0).train_indices  # every training row (held-out eval rows are not)
        seen = set(np.unique(classes.codes[prepared.train_indices]).tolist())
        lacking = [classes.labels[c] for c in np.unique(classes.codes[pool]).tolist() if c not in seen]
        key = (train_path, prepared.fraction, column)
        if lacking and key not in _WARNED:  # once per process: every trial of a search checks its data
            _WARNED.add(key)
            _log.warning(
                "the train subset at fraction %g (%d rows) lacks the classes %s of %s: they are too small to "
                "appear at this fraction",
                prepared.fraction, len(prepared.train), ", ".join(map(repr, lacking[:10])), column,
            )
    return prepared



def write_run_subsets(config: ExperimentConfig, out_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write the manifest and representativeness report of the subsets a run's trials train on.

    The manifest holds, for every fraction of :func:`subset_fractions`, exactly the rows
    :func:`prepare_data` hands to a trial (so held-out eval rows never appear in it).
    Returns ``(out_dir/subsets.json, out_dir/report.json)``.
    """
    out = Path(out_dir)
    train_path = _local(str(config.data.train))
    table, sha = _load(train_path)
    keys = stratify_keys(config)
    strata = strata_codes(table, keys, length_buckets=_LENGTH_BUCKETS)
    labels = np.asarray(strata.labels, dtype=object)

    def counts(rows: np.ndarray) -> dict[str, int]:
        values, n = np.unique(strata.codes[rows], return_counts=True)
        return {str(labels[v]): int(c) for v, c in zip(values, n, strict=True)}

    subsets = []
    for fraction in subset_fractions(config):
        rows = np.sort(np.asarray(prepare_data(config, fraction).train_indices))
        subsets.append(Subset(fraction=fraction, indices=rows, strata=counts(rows)))
    ss = SubsetSet(
        rows=int(table.num_rows),
        seed=int(config.seed),
        stratify=keys,
        strata=counts(np.arange(table.num_rows)),
        subsets=tuple(subsets),
        length_buckets=_LENGTH_BUCKETS,
        source=SourceInfo(str(Path(train_path).resolve()), sha, int(table.num_rows)),
    )
    manifest = ss.save_manifest(out / "subsets.json")
    text_column = config.data.text_column if config.data.text_column in table.column_names else None
    report = representativeness(table, ss, text_column=text_column, classes=class_column(config))
    for warning in report["warnings"]:
        _log.warning(warning)
    atomic_write_json(out / "report.json", report)
    return manifest, out / "report.json"
