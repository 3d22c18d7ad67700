"""A really full file system for tests: a tiny tmpfs when we may mount, else RLIMIT_FSIZE in a child."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def small_tmpfs(size_kb: int = 256) -> Iterator[Path | None]:
    """Mount a tmpfs of ``size_kb`` KiB; yields None when mounting is not allowed here."""
    d = Path(tempfile.mkdtemp(prefix="hpscout-full-"))
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(d)], capture_output=True)
    if r.returncode != 0:
        yield None
        d.rmdir()
        return
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", str(d)], capture_output=True)
        with contextlib.suppress(OSError):
            d.rmdir()


def fill(path: Path) -> Path:
    """Fill the file system holding ``path`` until ENOSPC; returns the filler file (delete it to free space)."""
    filler = path / ".filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    chunk = b"\0" * 4096
    try:
        while os.write(fd, chunk) > 0:
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    # also eat the last partial blocks
    for i in range(64):
        try:
            (path / f".filler{i}").write_bytes(b"\0" * 512)
        except OSError:
            break
    return filler
