"""Many workers on one PostgreSQL study (a real server), including a server restart mid-study."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from optuna.trial import TrialState

from hpscout.config import config_from_dict
from hpscout.search import open_study, run_search

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.filterwarnings("ignore:Heartbeat of storage")]


def make_config(tmp_path, name, trials):
    from _objectives import LR_SPACE, search_config_dict

    space = {**LR_SPACE, "train.batch_size": {"type": "categorical", "choices": [8, 16, 32]}}
    return config_from_dict(
        search_config_dict(tmp_path, name, trials, space=space, sampler="tpe", heartbeat_interval=1, grace_period=3)
    )


def _check_exact(trials, budget):
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers))  # unique trial numbers
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    others = [(t.number, t.state.name, t.user_attrs) for t in trials if t.state != TrialState.COMPLETE]
    assert len(complete) == budget, others  # exact, none lost, none extra
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    for t in trials:
        if t.state == TrialState.FAIL:  # only interruptions, each retried with the same params
            assert "status" not in t.user_attrs
            # (a trial cut off while sampling keeps what it had and samples the rest on retry)
            retries = [r for r in trials if r.system_attrs.get("failed_trial") == t.number]
            assert len(retries) == 1 and all(retries[0].params.get(k) == v for k, v in t.params.items())
    return complete


def test_four_workers_on_one_postgres_study(tmp_path, postgres_url):
    from _objectives import noop

    cfg = make_config(tmp_path, "pg-four", trials=40)
    summary = run_search(cfg, storage=postgres_url, workers=4, objective=noop, progress=False)
    assert summary.n_complete == 40
    trials = open_study(cfg, storage=postgres_url).get_trials(deepcopy=False)
    _check_exact(trials, 40)
    assert len({t.user_attrs["pid"] for t in trials}) >= 2


def _count_complete(url: str) -> int:
    try:
        with psycopg.connect(url, connect_timeout=2) as con:
            return con.execute("SELECT count(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
    except psycopg.Error:
        return 0


def test_postgres_restart_mid_study(tmp_path, postgres_url, pg_cluster, monkeypatch):
    from _objectives import sleepy

    monkeypatch.setenv("HPSCOUT_TEST_SLEEP", "0.1")
    budget = 80
    cfg = make_config(tmp_path, "pg-restart", trials=budget)
    outcome: dict = {}

    def search():
        try:
            outcome["summary"] = run_search(cfg, storage=postgres_url, workers=4, objective=sleepy, progress=False)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=search)
    thread.start()
    deadline = time.monotonic() + 120
    while _count_complete(postgres_url) < 10:
        assert thread.is_alive(), f"search ended before the restart: {outcome}"
        assert time.monotonic() < deadline
        time.sleep(0.2)
    pg_cluster.restart()
    at_restart = _count_complete(postgres_url)
    thread.join(timeout=300)
    assert not thread.is_alive()
    if "error" in outcome:
        raise outcome["error"]
    assert at_restart < budget, "the restart came after the study had finished"
    trials = open_study(cfg, storage=postgres_url).get_trials(deepcopy=False)
    _check_exact(trials, budget)
    assert outcome["summary"].n_complete == budget
