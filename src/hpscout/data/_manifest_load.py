"""Reading a subset manifest back, and checking that its source has not changed since."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from hpscout._errors import DataError
from hpscout._io import read_json
from hpscout.data._load import data_format, source_sha256
from hpscout.data._manifest import MANIFEST_VERSION, SourceInfo, manifest_path
from hpscout.data._subsets import Subset, SubsetSet

__all__ = ["load_manifest", "verify", "verify_source"]


def load_manifest(path: str | os.PathLike[str], verify_source: bool = True) -> SubsetSet:
    """Read a manifest (a ``.json`` file or a folder holding ``subsets.json``) back into a :class:`SubsetSet`.

    Args:
        path: the manifest file or its folder.
        verify_source: re-hash the source and raise :class:`DataError` when it changed.

    Example:
        >>> ss = load_manifest("runs/sst2/subsets")  # doctest: +SKIP
        >>> ss[0.01].indices[:3]  # doctest: +SKIP
    """
    target = manifest_path(path)
    obj = read_json(target)
    subsets = _from_dict(obj, target)
    if verify_source:
        verify(subsets, target)
    return subsets


def _need(obj: Any, key: str, kind: type | tuple[type, ...], where: Path) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise DataError(f"{where} is not a subset manifest: the key {key!r} is missing")
    value = obj[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise DataError(f"{where}: {key!r} must be {getattr(kind, '__name__', kind)}, but got {value!r:.80}")
    return value


def _from_dict(obj: Any, where: Path) -> SubsetSet:
    version = _need(obj, "version", int, where)
    if version != MANIFEST_VERSION:
        raise DataError(f"{where}: this hpscout reads manifest version {MANIFEST_VERSION}, but got {version}")
    src = _need(obj, "source", dict, where)
    rows = _need(obj, "rows", int, where)
    source = SourceInfo(src.get("path"), src.get("sha256"), int(src.get("rows", rows)))
    entries = _need(obj, "subsets", list, where)
    subsets = []
    for i, entry in enumerate(entries):
        fraction = _need(entry, "fraction", (int, float), where)
        idx = np.asarray(_need(entry, "indices", list, where), dtype=np.int64)
        if idx.size != _need(entry, "size", int, where):
            raise DataError(
                f"{where}: subset {i} (fraction {fraction}) says size {entry['size']} but lists {idx.size} indices"
            )
        if idx.size and (idx[0] < 0 or idx[-1] >= rows or np.any(np.diff(idx) <= 0)):
            raise DataError(
                f"{where}: subset {i} (fraction {fraction}) indices must be distinct, ascending and in [0, {rows})"
            )
        strata = {str(k): int(v) for k, v in _need(entry, "strata", dict, where).items()}
        subsets.append(Subset(float(fraction), idx, strata, bool(entry.get("adjusted", False))))
    subsets.sort(key=lambda s: s.fraction)
    for small, large in zip(subsets, subsets[1:], strict=False):
        if not np.isin(small.indices, large.indices, assume_unique=True).all():
            raise DataError(
                f"{where}: the subset at {small.fraction} is not inside the one at {large.fraction}"
            )
    return SubsetSet(
        rows=rows,
        seed=_need(obj, "seed", int, where),
        stratify=tuple(str(k) for k in _need(obj, "stratify", list, where)),
        strata={str(k): int(v) for k, v in obj.get("strata", {}).items()},
        subsets=tuple(subsets),
        length_buckets=int(obj.get("length_buckets", 4)),
        source=source,
    )


def verify(subsets: SubsetSet, manifest_path: str | os.PathLike[str] = "<manifest>") -> None:
    """Raise :class:`DataError` when the manifest's source is gone or its content changed."""
    src = subsets.source
    if src is None or src.path is None:
        return  # drawn from in-memory data: nothing to check against
    verify_source(src.path, src.sha256, manifest_path)


def verify_source(
    path: str, expected_sha256: str | None, manifest_path: str | os.PathLike[str] = "<manifest>"
) -> None:
    """Re-hash ``path`` and compare with ``expected_sha256``; DataError naming both hashes when they differ."""
    if data_format(path) != "hub" and not Path(path).exists():
        raise DataError(f"the source {path} of the manifest {manifest_path} does not exist any more")
    found = source_sha256(path)
    if expected_sha256 is not None and found != expected_sha256:
        raise DataError(
            f"the source {path} changed since the manifest {manifest_path} was written: "
            f"expected sha256 {expected_sha256}, found {found}; draw the subsets again (hpscout subset)"
        )
