"""SIGTERM and Ctrl-C mid-trial: the trial is re-queued with the same params, exit 143 / 130, resume is exact."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState
from test_killed_worker import write_config

from _procs import alive
from hpscout.cli import main
from hpscout.config import load_config
from hpscout.search import open_study

pytestmark = pytest.mark.slow
HERE = Path(__file__).parent


def _search_in_background(config_path: Path, block: Path, *args: str) -> subprocess.Popen:
    """`hpscout search` with the sleepy objective, which hangs in each trial while ``block`` exists."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
           "HPSCOUT_TEST_BLOCK": str(block)}
    return subprocess.Popen(
        [sys.executable, "-m", "hpscout", "search", str(config_path), "--objective", "_objectives:sleepy", "--quiet", *args],
        env=env, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_requeues_trial_and_resume_is_exact(tmp_path, monkeypatch, sig, code):
    config_path = write_config(tmp_path, trials=3)
    block = tmp_path / "block"
    block.touch()
    proc = _search_in_background(config_path, block)
    started = Path(str(block) + ".started")
    deadline = time.monotonic() + 120
    while not started.exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.1)
    info = json.loads(started.read_text())
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "re-queued" in err
    block.unlink()

    cfg = load_config(config_path)
    trials = open_study(cfg).get_trials(deepcopy=False)
    assert not [t for t in trials if t.state == TrialState.RUNNING]  # nothing left RUNNING
    assert (tmp_path / "run" / "config.yaml").exists()

    monkeypatch.setenv("HPSCOUT_TEST_BLOCK", str(block))
    assert main(["search", str(config_path), "--objective", "_objectives:sleepy", "--quiet"]) == 0
    trials = open_study(cfg).get_trials(deepcopy=False)
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 3
    assert any(t.state == TrialState.COMPLETE and t.params == info["params"] for t in trials)
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]


def _start_two_blocked_workers(tmp_path: Path) -> tuple[subprocess.Popen, list[int], Path]:
    """`hpscout search --workers 2` with both workers hanging in a trial; the parent, the worker pids, the config."""
    config_path = write_config(tmp_path, trials=4)
    block = tmp_path / "block"
    block.touch()
    proc = _search_in_background(config_path, block, "--workers", "2")
    deadline = time.monotonic() + 120
    while len(started := sorted(tmp_path.glob("block.started.*"))) < 2:
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.1)
    pids = [json.loads(p.read_text())["pid"] for p in started]
    assert proc.pid not in pids and len(set(pids)) == 2
    return proc, pids, config_path


def _assert_trials_requeued(config_path: Path) -> None:
    trials = open_study(load_config(config_path)).get_trials(deepcopy=False)
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert len([t for t in trials if t.state == TrialState.WAITING]) == 2  # both trials, same params, queued


def test_sigterm_to_the_parent_reaches_every_worker_at_once(tmp_path):
    proc, pids, config_path = _start_two_blocked_workers(tmp_path)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)  # to the parent alone, as `kill PID` or a job scheduler sends it
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert proc.returncode == 143, err
    assert time.monotonic() - t0 < 25, "the parent waited for workers that were never told to stop"
    assert not [pid for pid in pids if alive(pid)]
    _assert_trials_requeued(config_path)


def test_workers_stop_when_their_parent_is_killed(tmp_path):
    proc, pids, config_path = _start_two_blocked_workers(tmp_path)
    proc.kill()  # SIGKILL: the parent runs no handler at all
    proc.communicate(timeout=30)
    deadline = time.monotonic() + 30
    try:
        while [pid for pid in pids if alive(pid)] and time.monotonic() < deadline:
            time.sleep(0.2)
        orphans = [pid for pid in pids if alive(pid)]
    finally:
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert not orphans, "workers kept running after their parent died"
    _assert_trials_requeued(config_path)
