"""Subset manifests: the exact rows of every subset, tied to the hash of their source.

A manifest (``subsets.json``) looks like::

    {"version": 1,
     "source": {"path": "/data/sst2/train.tsv", "sha256": "c757...", "rows": 67349},
     "seed": 42, "stratify": ["label"], "length_buckets": 4, "rows": 67349,
     "strata": {"0": 29780, "1": 37569},
     "subsets": [{"fraction": 0.01, "size": 673, "adjusted": false,
                  "indices": [12, 80, ...], "strata": {"0": 298, "1": 375}}, ...]}

Indices are 0-based data-row numbers (a header line is not a row), sorted ascending.
Writing lives here, reading and checking the source in :mod:`hpscout.data._manifest_load`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpscout._io import atomic_write_text

if TYPE_CHECKING:  # pragma: no cover
    from hpscout.data._subsets import SubsetSet

__all__ = [
    "MANIFEST_NAME",
    "MANIFEST_VERSION",
    "SourceInfo",
    "manifest_dict",
    "manifest_path",
    "save_manifest",
]

MANIFEST_VERSION = 1
#: file name of a manifest inside an output folder
MANIFEST_NAME = "subsets.json"


@dataclass(frozen=True)
class SourceInfo:
    """Where the rows came from: the path as given, the hash of its content and its row count."""

    path: str | None
    sha256: str | None
    rows: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "rows": self.rows}


def manifest_dict(subsets: SubsetSet) -> dict[str, Any]:
    """The manifest of ``subsets`` as a JSON-ready dict (indices as lists of ints)."""
    source = subsets.source or SourceInfo(None, None, subsets.rows)
    return {
        "version": MANIFEST_VERSION,
        "source": source.to_dict(),
        "seed": subsets.seed,
        "stratify": list(subsets.stratify),
        "length_buckets": subsets.length_buckets,
        "rows": subsets.rows,
        "strata": dict(subsets.strata),
        "subsets": [
            {
                "fraction": s.fraction,
                "size": s.size,
                "adjusted": s.adjusted,
                "indices": s.indices.tolist(),
                "strata": dict(s.strata),
            }
            for s in subsets.subsets
        ],
    }


def manifest_path(path: str | os.PathLike[str]) -> Path:
    """``path`` itself when it names a ``.json`` file, else ``path/subsets.json``."""
    p = Path(path)
    return p / MANIFEST_NAME if p.is_dir() or p.suffix.lower() != ".json" else p


def save_manifest(subsets: SubsetSet, path: str | os.PathLike[str]) -> Path:
    """Write the manifest atomically; ``path`` is a ``.json`` file or a folder (gets ``subsets.json``).

    The header is indented; each index list stays on one line, so large subsets stay small on disk.

    Example:
        >>> import numpy as np, tempfile
        >>> ss = make_subsets(np.array([0, 0, 1, 1]), [0.5], seed=0)  # doctest: +SKIP
        >>> save_manifest(ss, tempfile.mkdtemp())  # doctest: +SKIP
    """
    target = manifest_path(path)
    obj = manifest_dict(subsets)
    compact: dict[str, str] = {}
    for i, entry in enumerate(obj["subsets"]):
        marker = f"@@indices-{i}@@"
        compact[json.dumps(marker)] = json.dumps(entry["indices"], separators=(",", ":"))
        entry["indices"] = marker
    text = json.dumps(obj, indent=2, sort_keys=True, allow_nan=False)
    for marker, listing in compact.items():
        text = text.replace(marker, listing, 1)
    atomic_write_text(target, text + "\n")
    return target
