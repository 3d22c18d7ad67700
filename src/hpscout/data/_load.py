"""Load train/eval tables from files, saved Hugging Face datasets or hub names.

Everything comes back as a :class:`datasets.Dataset`. ``datasets``, ``pandas`` and
``pyarrow`` are imported inside the functions, so ``import hpscout.data`` stays light.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpscout._errors import DataError
from hpscout._imports import try_import
from hpscout._io import sha256_of_file

if TYPE_CHECKING:  # pragma: no cover
    import datasets
    import pyarrow as pa

__all__ = ["FORMATS", "load_table", "file_sha256", "source_sha256", "table_sha256", "data_format"]

#: file suffix -> format name
FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}

_CHUNK = 1 << 20


def data_format(path: str | os.PathLike[str]) -> str:
    """Name the format ``path`` is read as: a :data:`FORMATS` value, ``saved`` (a folder) or ``hub``.

    Example:
        >>> data_format("stanfordnlp/imdb")  # no such local path: a hub name
        'hub'
    """
    p = Path(path)
    if p.is_dir():
        return "saved"
    fmt = FORMATS.get(p.suffix.lower())
    if fmt is not None and p.exists():
        return fmt
    if fmt is None and p.exists():
        raise DataError(
            f"cannot read {p}: its suffix {p.suffix or '(none)'!r} is not a known data format; "
            f"use one of {', '.join(sorted(FORMATS))} or a saved Hugging Face dataset folder"
        )
    if fmt is None and _looks_like_hub_name(str(path)):
        return "hub"
    raise DataError(f"data file {p} does not exist (resolved: {p.resolve()})")


def _looks_like_hub_name(name: str) -> bool:
    # "imdb", "stanfordnlp/sst2": at most one slash, no suffix we would read as a file.
    if not name or name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1:
        return False
    return Path(name).suffix.lower() not in FORMATS


def load_table(path: str | os.PathLike[str], *, split: str = "train") -> datasets.Dataset:
    """Load a data table as a :class:`datasets.Dataset`.

    Reads CSV, TSV (quoting off, so raw quotes in text never merge rows), JSON (a list
    of records, a mapping of columns, or a mapping of split -> records), JSON lines,
    Parquet, a folder written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``,
    or a hub dataset name (needs the network). Empty CSV/TSV cells stay empty strings.

    Args:
        path: the file, folder or hub name.
        split: the split to take from a saved ``DatasetDict``, a JSON split mapping or the hub.

    Example:
        >>> ds = load_table("../shared/data/sst2/dev.tsv")  # doctest: +SKIP
        >>> len(ds), ds.column_names  # doctest: +SKIP
        (872, ['sentence', 'label'])
    """
    fmt = data_format(path)
    p = Path(path)
    if fmt == "saved":
        return _load_saved(p, split)
    if fmt == "hub":
        return _load_hub(str(path), split)
    if fmt in ("csv", "tsv"):
        return _load_delimited(p, fmt)
    if fmt == "json":
        return _load_json(p, split)
    if fmt == "jsonl":
        return _load_jsonl(p)
    return _load_parquet(p)


def _datasets() -> Any:
    return try_import("datasets", "loading data tables")


def _from_arrow(table: pa.Table) -> datasets.Dataset:
    ds = _datasets()
    from datasets.table import InMemoryTable

    return ds.Dataset(InMemoryTable(table))


def _load_delimited(p: Path, fmt: str) -> datasets.Dataset:
    pd = try_import("pandas", f"reading {fmt.upper()} files")
    options: dict[str, Any] = {"sep": "\t"} if fmt == "tsv" else {"sep": ","}
    if fmt == "tsv":
        # SST-2 style TSV has raw quotes inside text; with quoting on they would merge rows.
        options["quoting"] = csv.QUOTE_NONE
    try:
        frame = pd.read_csv(p, keep_default_na=False, **options)
    except pd.errors.EmptyDataError as exc:
        raise DataError(
            f"{p} is empty: a {fmt.upper()} file needs a header line and at least one row"
        ) from exc
    except UnicodeDecodeError as exc:
        raise not_utf8_error(p) from exc
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"cannot parse {p} as {fmt.upper()}: {exc}") from exc
    except OSError as exc:
        raise DataError(f"cannot read {p}: {exc}") from exc
    return _datasets().Dataset.from_pandas(frame, preserve_index=False)


def not_utf8_error(p: Path) -> DataError:
    """A :class:`DataError` naming the line and byte offset of the first byte of ``p`` that is not UTF-8.

    Decoders report positions inside the chunk they were given; this scans the file itself.

    Example:
        >>> import tempfile
        >>> f = Path(tempfile.mkdtemp()) / "t.csv"
        >>> _ = f.write_bytes(b"text,label\\nok,1\\ncaf\\xe9,0\\n")
        >>> str(not_utf8_error(f)).split(": ", 1)[1]
        'it is not UTF-8 text: byte 0xe9 at line 3, byte 4 of that line (byte offset 19 in the file); save it as UTF-8 (e.g. iconv -f latin1 -t utf-8)'
    """
    offset, line, line_start, carry = 0, 1, 0, b""
    try:
        with p.open("rb") as fh:
            while True:
                chunk = fh.read(_CHUNK)
                buf = carry + chunk
                if not buf:
                    break
                try:
                    buf.decode("utf-8")
                    bad = None
                except UnicodeDecodeError as exc:
                    bad = exc.start
                    if chunk and exc.reason == "unexpected end of data":  # a character cut by the chunk edge
                        bad = None
                        carry = buf[exc.start :]
                        buf = buf[: exc.start]
                    else:
                        carry = b""
                else:
                    carry = b""
                scanned = buf if bad is None else buf[:bad]
                newlines = scanned.count(b"\n")
                if newlines:
                    line += newlines
                    line_start = offset + scanned.rindex(b"\n") + 1
                if bad is not None:
                    at = offset + bad
                    return DataError(
                        f"cannot read {p}: it is not UTF-8 text: byte 0x{buf[bad]:02x} at line {line}, "
                        f"byte {at - line_start + 1} of that line (byte offset {at} in the file); "
                        "save it as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
                    )
                offset += len(buf)
                if not chunk:
                    break
    except OSError as exc:
        return DataError(f"cannot read {p}: {exc}")
    return DataError(f"cannot read {p}: it is not UTF-8 text")


def _records_to_dataset(records: list[Any], p: Path) -> datasets.Dataset:
    columns: dict[str, list[Any]] = {}
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise DataError(f"{p}: record {i} must be a JSON object, but got {type(rec).__name__}")
        for key in rec:
            columns.setdefault(key, [])
    # A key missing from some records becomes None there (not a dropped column).
    data = {key: [rec.get(key) for rec in records] for key in columns}
    try:
        return _datasets().Dataset.from_dict(data)
    except (TypeError, ValueError) as exc:  # pyarrow ArrowInvalid / ArrowTypeError derive from these
        raise DataError(f"{p}: columns with mixed value types cannot be stored: {exc}") from exc


def _load_json(p: Path, split: str) -> datasets.Dataset:
    try:
        obj = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        hint = " (JSON lines? name the file .jsonl)" if exc.msg == "Extra data" else ""
        raise DataError(f"cannot parse {p} as JSON{hint}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise not_utf8_error(p) from exc
    except OSError as exc:
        raise DataError(f"cannot read {p}: {exc}") from exc
    if isinstance(obj, list):
        return _records_to_dataset(obj, p)
    if isinstance(obj, dict) and obj and all(isinstance(v, list) for v in obj.values()):
        if all(not v or isinstance(v[0], dict) for v in obj.values()):  # {"train": [...], "test": [...]}
            if split not in obj:
                raise DataError(f"{p} holds the splits {sorted(obj)}, but not the requested split {split!r}")
            return _records_to_dataset(obj[split], p)
        lengths = {k: len(v) for k, v in obj.items()}
        if len(set(lengths.values())) != 1:
            raise DataError(f"{p}: a mapping of columns needs equal-length lists, but got lengths {lengths}")
        return _records_to_dataset(
            [dict(zip(obj, row, strict=True)) for row in zip(*obj.values(), strict=True)], p
        )
    raise DataError(
        f"{p} must hold a list of records, a mapping of columns or a mapping of splits, but holds a {type(obj).__name__}"
    )


def _load_jsonl(p: Path) -> datasets.Dataset:
    records: list[Any] = []
    try:
        with p.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DataError(f"cannot parse {p} line {lineno} as JSON: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise not_utf8_error(p) from exc
    except OSError as exc:
        raise DataError(f"cannot read {p}: {exc}") from exc
    return _records_to_dataset(records, p)


def _load_parquet(p: Path) -> datasets.Dataset:
    pq = try_import("pyarrow.parquet", "reading Parquet files")
    try:
        table = pq.read_table(p)
    except (OSError, ValueError) as exc:  # ArrowInvalid derives from ValueError
        raise DataError(f"cannot read {p} as Parquet: {exc}") from exc
    return _from_arrow(table)


def _load_saved(p: Path, split: str) -> datasets.Dataset:
    ds = _datasets()
    try:
        obj = ds.load_from_disk(str(p))
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise DataError(
            f"{p} is a folder but not a dataset saved with Dataset.save_to_disk / DatasetDict.save_to_disk: {exc}"
        ) from exc
    if isinstance(obj, ds.DatasetDict):
        if split not in obj:
            raise DataError(f"{p} holds the splits {sorted(obj)}, but not the requested split {split!r}")
        return obj[split]
    return obj


def _load_hub(name: str, split: str) -> datasets.Dataset:
    ds = _datasets()
    try:
        return ds.load_dataset(name, split=split)
    except Exception as exc:  # network, auth, missing name, missing split: all mean "cannot use this source"
        raise DataError(
            f"{name!r} is not a local file or folder, and loading it as a Hugging Face hub dataset failed: "
            f"{type(exc).__name__}: {exc}. This machine may be offline (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE) "
            f"or the name or split {split!r} may not exist"
        ) from exc


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes; for a folder, of its files' relative paths and hashes (sorted).

    Example:
        >>> file_sha256("../shared/data/sst2/dev.tsv")  # doctest: +SKIP
        'f7271f7a919ea884ca8563e13ed03028aa44296d1f738c003af3142b9a2188f8'
    """
    p = Path(path)
    if p.is_file():
        return _hash_file(p)
    if p.is_dir():
        h = hashlib.sha256()
        for f in sorted(q for q in p.rglob("*") if q.is_file()):
            h.update(f"{f.relative_to(p).as_posix()}\0{_hash_file(f)}\n".encode())
        return h.hexdigest()
    raise DataError(f"cannot hash {p}: it does not exist")


def _hash_file(p: Path) -> str:
    try:
        return sha256_of_file(p, _CHUNK)
    except OSError as exc:
        raise DataError(f"cannot read {p}: {exc}") from exc


def table_sha256(data: datasets.Dataset) -> str:
    """SHA-256 of a dataset's rows as an Arrow IPC stream (for sources that are not files)."""
    pa = try_import("pyarrow", "hashing a table")
    table = data.with_format("arrow")[:]
    h = hashlib.sha256()

    class _Sink:
        closed = False

        def write(self, b: Any) -> int:
            h.update(b)
            return len(b)

        def flush(self) -> None:
            pass

    sink = pa.PythonFile(_Sink(), mode="w")
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return h.hexdigest()


def source_sha256(path: str | os.PathLike[str], *, split: str = "train") -> str:
    """Hash of a data source: :func:`file_sha256` for files and folders, the rows' hash for hub names."""
    if data_format(path) == "hub":
        return table_sha256(load_table(path, split=split))
    return file_sha256(path)
