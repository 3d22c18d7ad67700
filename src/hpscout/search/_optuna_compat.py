"""The Optuna internals hpscout needs, each behind one function (checked against Optuna 5.1.0).

Optuna has no public door for these: the storage object a study talks to, the heartbeat
base class and its "is a heartbeat configured" test, the cache wrapper around an RDB
storage, and the RDB tables of trials and heartbeats. Everything else in
:mod:`hpscout.search` uses Optuna's public API (trial ids, for one, come from
``BaseStorage.get_trial_id_from_study_id_trial_number``). When Optuna moves one of these,
this module is the one place to adapt.

Two hooks cannot live here because they are methods Optuna calls on a storage:
``_get_stale_trial_ids`` of :class:`hpscout.search.HeartbeatJournalStorage` (an abstract
method of ``BaseHeartbeat``) and of the RDB storage in :mod:`hpscout.search._storage`.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.storages import BaseStorage

# Optuna 5.1.0: the heartbeat contract (record_heartbeat, _get_stale_trial_ids,
# get_heartbeat_interval, ...) is only defined in this private module.
from optuna.storages._heartbeat import BaseHeartbeat, is_heartbeat_enabled
from optuna.trial import TrialState

__all__ = [
    "OPTUNA_CHECKED",
    "BaseHeartbeat",
    "study_storage",
    "heartbeat_enabled",
    "unwrap_storage",
    "rdb_running_trials_without_heartbeat",
]

#: the Optuna version every wrapper here was checked against
OPTUNA_CHECKED = "5.1.0"


def study_storage(study: optuna.Study) -> BaseStorage:
    """The storage object ``study`` reads and writes through (Optuna's cache wrapper included)."""
    # Optuna 5.1.0: Study keeps it in ``_storage``; there is no public property.
    return study._storage


def heartbeat_enabled(storage: BaseStorage) -> bool:
    """True when ``storage`` records heartbeats (a heartbeat storage with an interval set)."""
    # Optuna 5.1.0: optuna.storages._heartbeat.is_heartbeat_enabled
    return bool(is_heartbeat_enabled(storage))


def unwrap_storage(storage: BaseStorage) -> BaseStorage:
    """The storage under Optuna's cache wrapper."""
    # Optuna 5.1.0: ``optuna.storages._CachedStorage`` wraps every RDBStorage a study opens and
    # keeps the wrapped one in ``_backend``.
    return getattr(storage, "_backend", storage) if type(storage).__name__ == "_CachedStorage" else storage


def rdb_running_trials_without_heartbeat(storage: Any, study_id: int) -> list[int] | None:
    """Ids of the RUNNING trials of an RDB study that never recorded a heartbeat.

    ``None`` when this Optuna lays its tables out differently (then Optuna's own stale
    rule applies alone).
    """
    # Optuna 5.1.0: optuna.storages._rdb.models (TrialModel, TrialHeartbeatModel) and
    # optuna.storages._rdb.storage._create_scoped_session; imported here because they load sqlalchemy.
    try:
        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session
    except ImportError:  # pragma: no cover - other Optuna layouts keep Optuna's rule
        return None
    with _create_scoped_session(storage.scoped_session, True) as session:
        rows = (
            session.query(models.TrialModel.trial_id)
            .outerjoin(models.TrialHeartbeatModel, models.TrialHeartbeatModel.trial_id == models.TrialModel.trial_id)
            .filter(models.TrialModel.study_id == study_id)
            .filter(models.TrialModel.state == TrialState.RUNNING)
            .filter(models.TrialHeartbeatModel.trial_heartbeat_id.is_(None))
            .all()
        )
    return [trial_id for (trial_id,) in rows]
