"""A full results disk mid-study: non-zero exit naming ENOSPC and the path, earlier files intact,
and the study resumes to an exact count once space is freed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "store"))
from _fullfs import fill, small_tmpfs  # noqa: E402

pytestmark = pytest.mark.slow


def _search(cfg: Path, trials: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "hpscout", "search", str(cfg), "--objective", "_objectives:quadratic", "--quiet",
         "--trials", str(trials)],
        capture_output=True, text=True, env=env, timeout=300,
    )


def test_full_disk_then_resume(tmp_path):
    with small_tmpfs(1024) as mnt:
        if mnt is None:
            pytest.skip("mounting a tmpfs is not allowed here")
        run = mnt / "run"
        cfg = tmp_path / "cfg.yaml"
        cfg.write_text(yaml.safe_dump({
            "name": "fulldisk", "output_dir": str(run), "data": {"train": "train.csv"},
            "scout": {"min_steps": 0},  # a stand-in objective and no data file: no step floor
            "search": {"trials": 3, "sampler": "random", "pruner": "none",
                       "space": {"train.learning_rate": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True}}},
        }))
        assert _search(cfg, 3).returncode == 0
        before = {p: p.read_bytes() for p in sorted(run.rglob("*.yaml"))}
        assert len(before) >= 4  # config.yaml + top1..3
        filler = fill(mnt)

        r = _search(cfg, 6)
        assert r.returncode != 0
        assert "ENOSPC" in r.stderr and str(run) in r.stderr
        for p, content in before.items():  # every earlier file intact and parseable
            assert p.read_bytes() == content
            yaml.safe_load(content)

        filler.unlink()
        for extra in mnt.glob(".filler*"):
            extra.unlink()
        r = _search(cfg, 6)
        assert r.returncode == 0, r.stderr
        assert "6/6 finished (6 complete" in r.stdout
