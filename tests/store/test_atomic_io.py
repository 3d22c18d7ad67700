import json
import os
import resource
import signal
import subprocess
import sys

import pytest
from _fullfs import fill, small_tmpfs  # noqa: E402  (tests/store on sys.path via rootdir conftest)

from hpscout import StorageError
from hpscout._io import atomic_write_json, atomic_write_text, read_json


def test_atomic_write_replaces_whole_file(tmp_path):
    p = tmp_path / "a.json"
    atomic_write_json(p, {"a": 1, "nan": float("nan")})
    assert read_json(p) == {"a": 1, "nan": None}
    atomic_write_json(p, {"b": 2})
    assert read_json(p) == {"b": 2}
    assert [x.name for x in tmp_path.iterdir()] == ["a.json"]  # no temp files left


def test_failed_serialisation_keeps_old_file(tmp_path):
    p = tmp_path / "a.txt"
    atomic_write_text(p, "old")

    class Boom:
        def __str__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        atomic_write_json(p, {"x": Boom()})
    assert p.read_text() == "old"
    assert [x.name for x in tmp_path.iterdir()] == ["a.txt"]


def test_enospc_on_a_really_full_disk_keeps_earlier_files():
    with small_tmpfs(256) as mnt:
        if mnt is None:
            pytest.skip("mounting a tmpfs is not allowed here; the RLIMIT_FSIZE test covers the write path")
        report = mnt / "analysis.json"
        atomic_write_json(report, {"ok": True, "values": list(range(10))})
        fill(mnt)
        with pytest.raises(StorageError) as exc:
            atomic_write_json(report, {"ok": False, "values": list(range(200_000))})
        msg = str(exc.value)
        assert "ENOSPC" in msg and str(report) in msg
        assert json.loads(report.read_text()) == {"ok": True, "values": list(range(10))}
        assert not [p for p in mnt.iterdir() if p.name.endswith(".tmp")]


def test_file_size_limit_in_child_keeps_earlier_files(tmp_path):
    target = tmp_path / "result.json"
    atomic_write_json(target, {"old": True})
    code = f"""
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
from hpscout._io import atomic_write_json
from hpscout import StorageError
try:
    atomic_write_json({str(target)!r}, {{"new": "x" * 100000}})
except StorageError as e:
    print(e); sys.exit(3)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 3, r.stderr
    assert "EFBIG" in r.stdout and str(target) in r.stdout
    assert json.loads(target.read_text()) == {"old": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]


def test_read_json_errors_name_the_path(tmp_path):
    with pytest.raises(StorageError, match="does not exist"):
        read_json(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{truncated")
    with pytest.raises(StorageError, match=str(bad)):
        read_json(bad)


_ = (os, resource, signal)
