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

from hpscout.cli import main
from hpscout.config import load_config
from hpscout.search import open_study

pytestmark = pytest.mark.slow
HERE = Path(__file__).parent


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_requeues_trial_and_resume_is_exact(tmp_path, monkeypatch, sig, code):
    config_path = write_config(tmp_path, trials=3)
    block = tmp_path / "block"
    block.touch()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
           "HPSCOUT_TEST_BLOCK": str(block)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hpscout", "search", str(config_path), "--objective", "_objectives:sleepy", "--quiet"],
        env=env, stderr=subprocess.PIPE, text=True,
    )
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
