"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from hpscout._errors import StorageError

_UMASK = os.umask(0)
os.umask(_UMASK)

__all__ = ["atomic_write_text", "atomic_write_bytes", "atomic_write_json", "atomic_open", "read_json"]


@contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """Open a temp file next to ``path``; on success fsync it and ``os.replace`` it into place.

    On any error (ENOSPC included) the temp file is removed and ``path`` keeps its old content.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual permissions
    except OSError as exc:
        raise _storage_error(exc, target) from exc
    binary = "b" in mode
    try:
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise _storage_error(exc, target) from exc
        raise


def _storage_error(exc: OSError, target: Path) -> StorageError:
    if exc.errno == errno.ENOSPC:
        return StorageError(f"ENOSPC: no space left on device while writing {target}; earlier files are intact")
    if exc.errno == errno.EFBIG:
        return StorageError(f"EFBIG: file size limit reached while writing {target}; earlier files are intact")
    return StorageError(f"could not write {target}: {exc.strerror or exc}")


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_open(path, "w") as fh:
        fh.write(text)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def atomic_write_json(path: str | os.PathLike[str], obj: Any, *, indent: int = 2) -> None:
    """Serialise ``obj`` as sorted JSON and write it atomically (NaN/inf become null)."""
    text = json.dumps(_finite(obj), indent=indent, sort_keys=True, allow_nan=False, default=str)
    atomic_write_text(path, text + "\n")


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file, raising :class:`StorageError` with the path on failure."""
    p = Path(path)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise StorageError(f"{p} does not exist") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise StorageError(f"could not read {p}: {exc}") from exc


def sha256_of_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file, read in chunks (raises ``OSError`` when it cannot be read)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
