"""Tests use only what the repository holds: a guard that fails any test opening a file outside it.

An audit hook (PEP 578) sees every file this process opens and every folder it lists.
Allowed: the repository, temporary folders, the Python installation (prefixes,
site-packages, ``sys.path``), the system folders libraries read (``/usr``, ``/etc``,
``/proc``, ...), per-user tool caches (``~/.cache``, ``~/.config``, ``~/.local``, ``~/.fonts``) and
external data named on purpose (``HPSCOUT_YAHPO_DATA``). Anything else, a sibling of
the repository such as ``../shared`` first of all, fails the test that opened it, in
its teardown, with the paths. Processes a test starts are not watched.
"""

from __future__ import annotations

import os
import site
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: system folders whose files libraries read (zoneinfo, certificates, CPU info, devices)
SYSTEM = ("/usr", "/lib", "/lib32", "/lib64", "/etc", "/proc", "/sys", "/dev", "/run", "/bin", "/sbin", "/var/lib/dpkg")
_EVENTS = ("open", "os.listdir", "os.scandir")
#: names of temporary folders and files (pytest's, tempfile's, hpscout's own) beside a clone in the temp folder
_TEMP_LIKE = ("pytest-of-", "tmp", "hpscout", ".hpscout", "pymp-", "torchinductor_", "matplotlib-")


def _real(path: str | os.PathLike[str]) -> str:
    return os.path.realpath(os.path.abspath(path))


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class ReadAudit:
    """Which opened paths lie outside the repository and the allowed folders."""

    def __init__(self, repo: Path, extra: Iterable[str | os.PathLike[str]] = ()) -> None:
        self.repo = _real(repo)
        self.siblings = _real(Path(self.repo).parent)  # where ../shared and other checkouts live
        near = [tempfile.gettempdir(), sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages()]
        near += [site.getusersitepackages(), *extra]
        near += [p for p in sys.path if p and os.path.isdir(p)]
        home = Path.home()
        # ~/.fonts: matplotlib lists it when it builds its font cache (the first plot in a fresh environment)
        far = [*SYSTEM, str(home / ".cache"), str(home / ".config"), str(home / ".local"), str(home / ".fonts"),
               os.environ.get("HF_HOME", "")]
        # an allowed root that holds the repository's parent would allow its siblings: leave it out
        self.near = sorted({_real(p) for p in near if p and not _under(self.siblings, _real(p))})
        self.far = sorted({_real(p) for p in far if p})
        # a clone inside the temporary folder (CI may clone under /tmp): temporary files stay allowed, the
        # repository's siblings (../shared first of all) stay refused
        self.tmp = _real(tempfile.gettempdir())
        self.in_tmp = _under(self.repo, self.tmp)
        self.found: list[str] = []
        self._seen: dict[str, bool] = {}

    def outside(self, path: str) -> bool:
        """True when ``path`` (absolute, resolved) is not somewhere tests may read."""
        if path in self._seen:
            return self._seen[path]
        if self.in_tmp and _under(path, self.tmp) and not _under(path, self.repo):
            verdict = False
            if _under(path, self.siblings) and path != self.siblings:
                name = os.path.relpath(path, self.siblings).split(os.sep)[0]
                verdict = not name.startswith(_TEMP_LIKE)
            self._seen[path] = verdict
            return verdict
        verdict = not (
            _under(path, self.repo)
            or any(_under(path, root) for root in self.near)
            or (not _under(path, self.siblings) and any(_under(path, root) for root in self.far))
        )
        self._seen[path] = verdict
        return verdict

    def hook(self, event: str, args: tuple) -> None:
        if event not in _EVENTS or not args:
            return
        target = args[0]
        if target is None or isinstance(target, int):
            return
        try:
            path = _real(os.fsdecode(os.fspath(target)))
        except (TypeError, ValueError, OSError):
            return
        if self.outside(path):
            self.found.append(path)

    def take(self) -> list[str]:
        """The outside paths opened since the last call (each once)."""
        found, self.found = self.found, []
        return sorted(set(found))


AUDIT = ReadAudit(REPO, extra=[os.environ.get("HPSCOUT_YAHPO_DATA", "")])
sys.addaudithook(AUDIT.hook)  # audit hooks cannot be removed; this one only records


@pytest.fixture(autouse=True)
def only_repository_reads() -> Iterator[None]:
    """Fail the test (in its teardown) when it opened a file outside the repository and temp folders."""
    AUDIT.take()  # whatever ran before this test (collection, session fixtures) is not its doing
    yield
    outside = AUDIT.take()
    if outside:
        pytest.fail(
            "this test read outside the repository and its temporary folders (a fresh clone has none of it): "
            + ", ".join(outside[:10])
            + ("" if len(outside) <= 10 else f" and {len(outside) - 10} more"),
            pytrace=False,
        )
