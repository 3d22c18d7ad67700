"""A LLaMA-Factory dataset, found through its ``dataset_info.json``, and the subsets a trial registers there.

LLaMA-Factory names datasets in ``<dataset_dir>/dataset_info.json``; an entry gives the
file (``file_name``), its format (``formatting``: alpaca or sharegpt) and which field is
which (``columns``, ``tags``). hpscout reads the file to draw nested subsets, and each
trial writes its rows back in the same format with a ``dataset_info.json`` of its own whose
entries copy the user's, so LLaMA-Factory parses the subset exactly as it parses the data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpscout._errors import ConfigError
from hpscout._io import atomic_open, atomic_write_json
from hpscout.data import FORMATS

__all__ = [
    "DATASET_INFO",
    "FORMATTINGS",
    "TRIAL_EVAL",
    "TRIAL_TRAIN",
    "ResolvedDatasets",
    "resolve_datasets",
    "write_trial_datasets",
]

DATASET_INFO = "dataset_info.json"
#: the dataset formats LLaMA-Factory reads from local files
FORMATTINGS = ("alpaca", "sharegpt")
#: names of a trial's subsets in its own dataset_info.json
TRIAL_TRAIN, TRIAL_EVAL = "hpscout_train", "hpscout_eval"
_REMOTE = ("hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name")


@dataclass(frozen=True)
class ResolvedDatasets:
    """The local files behind a LLaMA-Factory file's ``dataset`` (and ``eval_dataset``).

    Attributes:
        dataset_dir: the folder holding ``dataset_info.json``.
        train: the training file.
        eval: the eval file (``eval_dataset``), or None.
        info: the ``dataset_info.json`` entries of the names used, as written there.
    """

    dataset_dir: Path
    train: Path
    eval: Path | None
    info: dict[str, dict[str, Any]]


def _find_dataset_dir(args: Mapping[str, Any], base_file: Path) -> Path:
    """``dataset_dir`` as LLaMA-Factory resolves it (the working directory), else beside the YAML file."""
    raw = str(args.get("dataset_dir") or "data")
    given = Path(raw).expanduser()
    candidates = [given] if given.is_absolute() else [Path.cwd() / given, base_file.parent / given]
    for folder in candidates:
        if (folder / DATASET_INFO).is_file():
            return folder.resolve()
    looked = " and ".join(str(c / DATASET_INFO) for c in candidates)
    raise ConfigError(f"dataset_dir {raw!r}: no {DATASET_INFO} at {looked} (in {base_file}, key dataset_dir)")


def _one_name(args: Mapping[str, Any], key: str, base_file: Path) -> str | None:
    value = args.get(key)
    if value is None:
        return None
    names = [n.strip() for n in value.split(",")] if isinstance(value, str) else [str(n).strip() for n in value]
    names = [n for n in names if n]
    if len(names) != 1:
        raise ConfigError(
            f"{key} must name one dataset for scouting, but got {value!r} (in {base_file}); "
            "merge them into one file and register it in dataset_info.json"
        )
    return names[0]


def _entry_file(name: str, entry: Any, key: str, dataset_dir: Path, base_file: Path) -> Path:
    """The local file of one dataset_info.json entry; ConfigError for what hpscout cannot subset."""
    where = f"{dataset_dir / DATASET_INFO}, entry {name!r} (used by {key} in {base_file})"
    if not isinstance(entry, dict):
        raise ConfigError(f"the entry must be a mapping, but got {type(entry).__name__} ({where})")
    remote = [k for k in _REMOTE if entry.get(k)]
    if remote or not entry.get("file_name"):
        raise ConfigError(
            f"hpscout subsets local files only, but this entry has {remote[0] if remote else 'no file_name'} ({where}); "
            "download the data and register it with file_name"
        )
    formatting = entry.get("formatting", "alpaca")
    if formatting not in FORMATTINGS:
        raise ConfigError(f"formatting must be one of {', '.join(FORMATTINGS)}, but got {formatting!r} ({where})")
    if entry.get("ranking"):
        raise ConfigError(f"ranking (pairwise) datasets are for rm/dpo/kto stages, which hpscout does not scout ({where})")
    path = (dataset_dir / str(entry["file_name"])).resolve()
    if not path.is_file():
        raise ConfigError(f"file_name {entry['file_name']!r} is not a file at {path} ({where}); hpscout subsets one file per dataset")
    if path.suffix.lower() not in FORMATS:
        raise ConfigError(f"file_name {entry['file_name']!r} must end in one of {', '.join(sorted(FORMATS))} ({where})")
    return path


def resolve_datasets(args: Mapping[str, Any], base_file: str | Path) -> ResolvedDatasets:
    """Find the files of ``dataset`` and ``eval_dataset`` through ``<dataset_dir>/dataset_info.json``.

    Raises:
        ConfigError: no dataset_info.json, a name it does not hold, several datasets, a remote
            or pairwise dataset, or a formatting other than alpaca / sharegpt.

    Example:
        >>> ds = resolve_datasets({"dataset": "alpaca_en_demo", "dataset_dir": "data"}, "sft.yaml")  # doctest: +SKIP
        >>> ds.train.name  # doctest: +SKIP
        'alpaca_en_demo.json'
    """
    base = Path(base_file)
    train_name = _one_name(args, "dataset", base)
    if train_name is None:
        raise ConfigError(f"dataset is missing in {base}; hpscout draws its subsets from it")
    dataset_dir = _find_dataset_dir(args, base)
    try:
        registry = json.loads((dataset_dir / DATASET_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {dataset_dir / DATASET_INFO}: {exc}") from None
    if not isinstance(registry, dict):
        raise ConfigError(f"{dataset_dir / DATASET_INFO} must hold a mapping of dataset names")
    files: dict[str, Path] = {}
    info: dict[str, dict[str, Any]] = {}
    for key, name in (("dataset", train_name), ("eval_dataset", _one_name(args, "eval_dataset", base))):
        if name is None:
            continue
        if name not in registry:
            known = ", ".join(sorted(registry)[:20]) + (" ..." if len(registry) > 20 else "")
            raise ConfigError(f"{key} {name!r} is not in {dataset_dir / DATASET_INFO} (in {base}); it holds: {known or 'nothing'}")
        files[key] = _entry_file(name, registry[name], key, dataset_dir, base)
        info[name] = dict(registry[name])
    return ResolvedDatasets(dataset_dir=dataset_dir, train=files["dataset"], eval=files.get("eval_dataset"), info=info)


def write_trial_datasets(train: Any, eval_rows: Any, entries: Mapping[str, Any], out_dir: Path) -> Path:
    """Write a trial's subset and eval rows as JSON lines plus the ``dataset_info.json`` naming them.

    Args:
        train: the trial's training rows (a ``datasets.Dataset`` in the file's own columns).
        eval_rows: the eval rows (same).
        entries: ``{"train": entry, "eval": entry}``, the user's dataset_info.json entries.
        out_dir: the folder to write (LLaMA-Factory's ``dataset_dir`` for the trial).

    Returns:
        ``out_dir``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    registry = {}
    for name, rows, entry, file_name in (
        (TRIAL_TRAIN, train, entries["train"], "train.jsonl"),
        (TRIAL_EVAL, eval_rows, entries["eval"], "eval.jsonl"),
    ):
        with atomic_open(out_dir / file_name) as fh:
            for row in rows:  # the file's own fields, nested sharegpt turns included
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        registry[name] = {**entry, "file_name": file_name}
    atomic_write_json(out_dir / DATASET_INFO, registry)
    return out_dir
