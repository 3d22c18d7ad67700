"""Storage resolution, heartbeats on the journal file, and the claim lock."""

from __future__ import annotations

import threading
import time

import optuna
import pytest
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from hpscout import StorageError
from hpscout.config import config_from_dict
from hpscout.search import (
    HeartbeatJournalStorage,
    default_storage_path,
    mask_url,
    resolve_storage,
    storage_kind,
    storage_url,
)
from hpscout.search._storage import claim_lock, is_storage_outage

pytestmark = pytest.mark.filterwarnings("ignore:Heartbeat of storage")


def make_config(tmp_path, **search):
    return config_from_dict(
        {
            "name": "storage-test",
            "output_dir": str(tmp_path / "run"),
            "data": {"train": "train.csv"},
            "search": {"trials": 5, "heartbeat_interval": 1, "grace_period": 2, **search},
        }
    )


def test_default_is_a_journal_file_under_the_run_folder(tmp_path):
    cfg = make_config(tmp_path)
    assert default_storage_path(cfg) == tmp_path / "run" / "study.log"
    assert storage_url(cfg) == str(tmp_path / "run" / "study.log")
    st = resolve_storage(cfg)
    assert isinstance(st, HeartbeatJournalStorage)
    assert st.get_heartbeat_interval() == 1 and st.grace_period == 2
    assert st.get_heartbeat_stale_trial_callback() is not None


def test_url_kinds(tmp_path):
    assert storage_kind("runs/x/study.log") == "journal"
    assert storage_kind("runs/x/study.db") == "sqlite"
    assert storage_kind("sqlite:///x.db") == "sqlite"
    assert storage_kind("postgresql+psycopg://u:p@h/db") == "postgresql"
    assert mask_url("postgresql://user:secret@host:5432/db") == "postgresql://user:***@host:5432/db"


def test_sqlite_gets_heartbeat_and_retry(tmp_path):
    cfg = make_config(tmp_path)
    st = resolve_storage(cfg, str(tmp_path / "s.db"))
    assert isinstance(st, RDBStorage)
    assert st.heartbeat_interval == 1 and st.grace_period == 2 and st.heartbeat_stale_trial_callback is not None


def test_grace_period_defaults_to_three_intervals(tmp_path):
    cfg = config_from_dict(
        {"name": "g", "output_dir": str(tmp_path), "data": {"train": "t.csv"}, "search": {"heartbeat_interval": 7}}
    )
    assert resolve_storage(cfg).grace_period == 21


def test_unreachable_postgres_is_a_storage_error(tmp_path):
    cfg = make_config(tmp_path)
    with pytest.raises(StorageError, match=r"cannot open storage postgresql://u:\*\*\*@127\.0\.0\.1:9/db"):
        resolve_storage(cfg, "postgresql://u:secret@127.0.0.1:9/db")


def test_journal_heartbeat_detects_a_dead_trial_and_requeues_it(tmp_path):
    cfg = make_config(tmp_path)
    st = resolve_storage(cfg)
    study = optuna.create_study(study_name="hb", storage=st)
    alive, dead = study.ask(), study.ask()
    dead.suggest_float("x", 0, 1)
    st.record_heartbeat(alive._trial_id)
    st.record_heartbeat(dead._trial_id)
    time.sleep(1.2)
    st.record_heartbeat(alive._trial_id)
    time.sleep(1.2)  # dead: 2.4 s without a beat > grace 2 s; alive: 1.2 s
    assert st._get_stale_trial_ids(study._study_id) == [dead._trial_id]
    with pytest.warns(optuna.exceptions.ExperimentalWarning):
        optuna.storages.fail_stale_trials(study)
    states = {t.number: t.state for t in study.get_trials(deepcopy=False)}
    assert states == {0: TrialState.RUNNING, 1: TrialState.FAIL, 2: TrialState.WAITING}
    retry = study.get_trials(deepcopy=False)[2]
    assert retry.params == study.get_trials(deepcopy=False)[1].params  # same parameters


def test_trial_without_any_heartbeat_goes_stale_after_grace(tmp_path):
    st = resolve_storage(make_config(tmp_path))
    study = optuna.create_study(study_name="nohb", storage=st)
    study.ask()
    assert st._get_stale_trial_ids(study._study_id) == []
    time.sleep(2.3)
    assert len(st._get_stale_trial_ids(study._study_id)) == 1


def test_claim_lock_is_exclusive(tmp_path):
    st = resolve_storage(make_config(tmp_path))
    optuna.create_study(study_name="lock", storage=st)
    inside, overlap = [], []

    def worker():
        for _ in range(20):
            with claim_lock(st, "lock"):
                if inside:
                    overlap.append(1)
                inside.append(1)
                time.sleep(0.001)
                inside.pop()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlap == []


def test_outage_classification():
    import sqlalchemy.exc as sa_exc

    assert is_storage_outage(sa_exc.OperationalError("SELECT 1", {}, Exception("server closed the connection")))
    assert not is_storage_outage(ValueError("bad"))
    assert not is_storage_outage(sa_exc.IntegrityError("INSERT", {}, Exception("dup")))
