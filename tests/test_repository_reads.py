"""The read guard (tests/_reads.py) fails a test that opens a file outside the repository."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from _reads import REPO, ReadAudit

TESTS = Path(__file__).resolve().parent


def test_guard_tells_repository_temp_and_sibling_paths_apart(tmp_path):
    audit = ReadAudit(REPO)
    assert not audit.outside(str(REPO / "src" / "hpscout" / "templates" / "data" / "sst2" / "dev.tsv"))
    assert not audit.outside(str(tmp_path / "train.csv"))
    assert not audit.outside(os.path.realpath(os.__file__))  # the Python installation
    assert audit.outside(str(REPO.parent / "shared" / "data" / "alpaca_en_demo" / "alpaca_en_demo.json"))
    assert audit.outside(str(REPO.parent / "other-checkout" / "README.md"))


def test_a_test_reading_beside_the_repository_fails(tmp_path):
    # a tiny test session with this repository's guard; its one test opens ../shared (absent or not)
    (tmp_path / "conftest.py").write_text(
        f"import sys\nsys.path.insert(0, {str(TESTS)!r})\nfrom _reads import only_repository_reads  # noqa: F401\n"
    )
    target = REPO.parent / "shared" / "data" / "no-such-file.json"
    (tmp_path / "test_reads_shared.py").write_text(
        textwrap.dedent(
            f"""
            def test_reads_shared():
                try:
                    open({str(target)!r}).close()
                except OSError:
                    pass

            def test_reads_inside(tmp_path):
                (tmp_path / "x").write_text("ok")
                assert open(tmp_path / "x").read() == "ok"
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "HPSCOUT_YAHPO_DATA"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "2 passed, 1 error" in out, out
    assert "read outside the repository" in out and "no-such-file.json" in out


def test_a_clone_inside_the_temporary_folder_keeps_temp_files_allowed(tmp_path):
    # CI may clone under /tmp: pytest's and tempfile's folders stay allowed, the clone's siblings do not
    import tempfile

    repo = tmp_path / "ci" / "repo"
    repo.mkdir(parents=True)
    audit = ReadAudit(repo)
    assert audit.in_tmp
    assert not audit.outside(str(repo / "README.md"))
    assert not audit.outside(str(Path(tempfile.gettempdir()).resolve() / "pytest-of-someone" / "x.json"))
    assert not audit.outside(str(tmp_path / "ci" / "tmpab12cd" / "result.json"))
    assert audit.outside(str(tmp_path / "ci" / "shared" / "data" / "sst2" / "train.tsv"))
    assert audit.outside(str(tmp_path / "ci" / "other-checkout" / "README.md"))
