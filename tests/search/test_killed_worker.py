"""A worker killed mid-trial: its trial goes stale, ends FAIL, and is retried with the same params."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from optuna.trial import TrialState

from hpscout.cli import main
from hpscout.config import load_config
from hpscout.search import open_study

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:Heartbeat of storage")]

HERE = Path(__file__).parent


def write_config(tmp_path: Path, trials: int) -> Path:
    from _objectives import search_config_dict

    cfg = search_config_dict(tmp_path, "killed-worker", trials, out="run", heartbeat_interval=1, grace_period=3)
    path = tmp_path / "hpscout.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.parametrize("backend", ["journal", "postgres"])
def test_killed_worker_trial_is_failed_and_retried_with_same_params(tmp_path, monkeypatch, request, backend):
    storage_args = [] if backend == "journal" else ["--storage", request.getfixturevalue("postgres_url")]
    config_path = write_config(tmp_path, trials=4)
    block = tmp_path / "block"
    block.touch()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        "HPSCOUT_TEST_BLOCK": str(block),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "hpscout", "worker", str(config_path), "--objective", "_objectives:sleepy", "--quiet", *storage_args],
        env=env,
    )
    started = Path(str(block) + ".started")
    deadline = time.monotonic() + 120
    while not started.exists():
        assert proc.poll() is None, "the worker exited before starting its trial"
        assert time.monotonic() < deadline, "the worker never started a trial"
        time.sleep(0.1)
    killed_info = json.loads(started.read_text())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    block.unlink()

    monkeypatch.setenv("HPSCOUT_TEST_BLOCK", str(block))  # absent now: trials run normally
    rc = main(["search", str(config_path), "--objective", "_objectives:sleepy", "--quiet", *storage_args])
    assert rc == 0

    cfg = load_config(config_path)
    trials = open_study(cfg, storage=storage_args[1] if storage_args else None).get_trials(deepcopy=False)
    killed = next(t for t in trials if t.number == killed_info["number"])
    assert killed.state == TrialState.FAIL
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retries) == 1
    assert retries[0].params == killed.params == killed_info["params"]
    assert retries[0].state == TrialState.COMPLETE
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 4
    assert len({t.number for t in trials}) == len(trials) == 5
