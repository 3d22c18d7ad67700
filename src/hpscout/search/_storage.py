"""Where a study lives: a local journal file by default, PostgreSQL for many machines.

Default: ``runs/<name>/study.log``, an Optuna ``JournalStorage`` over a
``JournalFileBackend``. It was chosen over SQLite by measurement (bench/search_overhead.py,
docs/search.md): with several local worker processes SQLite writers fail with
"database is locked" while the journal (an append-only file under a file lock) does not.

Every storage hpscout builds detects dead workers. A worker records a heartbeat every
``search.heartbeat_interval`` seconds while it runs a trial; a RUNNING trial without one
for ``search.grace_period`` seconds (default 3 x interval) is marked FAIL by the next
worker that claims a trial and re-queued once more with the same parameters
(``RetryHeartbeatStaleTrialCallback``). Optuna 5's ``JournalStorage`` has no heartbeat of
its own, so :class:`HeartbeatJournalStorage` adds one: a file per running trial whose
mtime is the heartbeat.

URLs: ``postgresql://user@host/db`` (or any SQLAlchemy URL, ``sqlite:///path.db``
included) -> ``RDBStorage`` with ``pool_pre_ping`` so workers survive a server restart;
a file path ending in ``.db``/``.sqlite``/``.sqlite3`` -> SQLite; any other file path
(``.log``/``.journal``) -> the journal file. ``env:NAME`` reads the URL from the environment
variable ``NAME``; a password is best left to libpq (``PGPASSWORD``, ``~/.pgpass``) and is
never written or printed (:mod:`hpscout._secrets`).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from hpscout._errors import StorageError
from hpscout._imports import try_import
from hpscout._secrets import mask_url, resolve_secret_url
from hpscout.config import ExperimentConfig
from hpscout.search._optuna_compat import BaseHeartbeat, rdb_running_trials_without_heartbeat, unwrap_storage
from hpscout.search._samplers import DEFAULT_STRATEGY
from hpscout.store import check_writable

__all__ = [
    "DEFAULT_STORAGE_FILE",
    "HeartbeatJournalStorage",
    "default_storage_path",
    "storage_url",
    "storage_kind",
    "resolve_storage",
    "check_storage",
    "mask_url",
    "claim_lock",
    "is_storage_outage",
    "wait_for_storage",
    "grace_period_of",
    "retry_callback",
    "unwrap_storage",
]

#: the default study file under the run folder
DEFAULT_STORAGE_FILE = "study.log"

_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


def default_storage_path(config: ExperimentConfig) -> Path:
    """``<run_dir>/study.log``: the journal file a study uses unless told otherwise."""
    return Path(config.run_dir) / DEFAULT_STORAGE_FILE


def storage_url(config: ExperimentConfig, url: str | None = None) -> str:
    """The storage a config resolves to, as text (what ``optuna-dashboard`` takes).

    ``env:NAME`` is read from the environment; a masked password (``***``, as in configs
    hpscout wrote) is dropped so libpq uses ``PGPASSWORD`` / ``~/.pgpass``. The result may
    hold a password the user wrote in the URL: print it only through :func:`mask_url`.
    """
    declared = url or config.storage
    if declared:
        return resolve_secret_url(declared, what="--storage" if url else "storage")
    return str(default_storage_path(config))


def storage_kind(url: str) -> str:
    """``journal``, ``sqlite``, ``postgresql`` or another SQLAlchemy dialect name."""
    if "://" in url:
        scheme = url.split("://", 1)[0].split("+", 1)[0].lower()
        return "postgresql" if scheme in ("postgres", "postgresql") else scheme
    return "sqlite" if url.lower().endswith(_SQLITE_SUFFIXES) else "journal"


def grace_period_of(config: ExperimentConfig) -> int:
    """Seconds without a heartbeat after which a RUNNING trial counts as dead."""
    interval = config.search.heartbeat_interval
    return config.search.grace_period or 3 * interval


def retry_callback(max_retry: int) -> Callable[[optuna.Study, FrozenTrial], None]:
    """Optuna's stale-trial callback: re-queue a dead worker's trial with the same params."""
    cls = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) or optuna.storages.RetryFailedTrialCallback
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return cls(max_retry=max_retry)


class HeartbeatJournalStorage(JournalStorage, BaseHeartbeat):
    """A journal-file storage with heartbeats, so dead workers' trials are detected.

    The heartbeat of trial ``i`` is the mtime of ``<journal>.heartbeat/<i>``. A RUNNING trial
    whose heartbeat (or, before its first one, whose start) is older than ``grace_period``
    is stale. Heartbeats stay out of the journal, which therefore grows only with results.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        heartbeat_interval: int,
        grace_period: int,
        heartbeat_stale_trial_callback: Callable[[optuna.Study, FrozenTrial], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(JournalFileBackend(str(self.path)))
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period
        self.heartbeat_stale_trial_callback = heartbeat_stale_trial_callback
        self.heartbeat_dir = self.path.with_name(self.path.name + ".heartbeat")

    def record_heartbeat(self, trial_id: int) -> None:
        self.heartbeat_dir.mkdir(exist_ok=True)
        beat = self.heartbeat_dir / str(trial_id)
        beat.touch()
        os.utime(beat)

    def clear_heartbeat(self, trial_id: int) -> None:
        """Forget a finished trial's heartbeat file."""
        with contextlib.suppress(FileNotFoundError):
            (self.heartbeat_dir / str(trial_id)).unlink()

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        # the hook fail_stale_trials calls (BaseHeartbeat's abstract method, Optuna 5.1.0)
        now = time.time()
        stale = []
        for trial in self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
            trial_id = self.get_trial_id_from_study_id_trial_number(study_id, trial.number)
            try:
                last = (self.heartbeat_dir / str(trial_id)).stat().st_mtime
            except FileNotFoundError:
                start = trial.datetime_start
                last = start.timestamp() if start is not None else now
            if now - last > self.grace_period:
                stale.append(trial_id)
        return stale

    def get_heartbeat_interval(self) -> int | None:
        return self.heartbeat_interval

    def get_heartbeat_stale_trial_callback(self) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        return self.heartbeat_stale_trial_callback

    def get_failed_trial_callback(self) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        return self.heartbeat_stale_trial_callback


class HeartbeatRDBStorage(RDBStorage):
    """RDBStorage that also treats a RUNNING trial with no heartbeat at all as stale after the grace period.

    Optuna skips such trials (a worker killed between creating a trial and its first
    heartbeat, or a create whose reply was lost in a server restart); they would stay
    RUNNING forever and hold a slot of the budget.
    """

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        # the hook fail_stale_trials calls (RDBStorage's own, extended; Optuna 5.1.0)
        stale = list(super()._get_stale_trial_ids(study_id))
        silent = rdb_running_trials_without_heartbeat(self, study_id)
        if silent is None:
            return stale
        grace = self.grace_period or 2 * (self.heartbeat_interval or 1)
        cutoff = _dt.datetime.now() - _dt.timedelta(seconds=grace)
        for trial_id in silent:
            start = self.get_trial(trial_id).datetime_start  # naive local time, as Optuna returns it
            if trial_id not in stale and start is not None and start < cutoff:
                stale.append(trial_id)
        return stale


def resolve_storage(config: ExperimentConfig, url: str | None = None) -> BaseStorage:
    """Open the storage of a study: ``url``, else ``config.storage``, else ``<run_dir>/study.log``.

    Every storage gets heartbeats (``search.heartbeat_interval``, ``search.grace_period``)
    and re-queues a dead worker's trial with the same parameters (up to 3 times).
    PostgreSQL connections are checked before use (``pool_pre_ping``), so workers
    reconnect after a server restart.

    Example:
        >>> storage = resolve_storage(config, "postgresql://user:pw@db-host/hpscout")  # doctest: +SKIP
    """
    target = storage_url(config, url)
    kind = storage_kind(target)
    interval = config.search.heartbeat_interval
    grace = grace_period_of(config)
    callback = retry_callback(DEFAULT_STRATEGY.max_retry)
    if kind == "journal":
        try:
            return HeartbeatJournalStorage(
                target, heartbeat_interval=interval, grace_period=grace, heartbeat_stale_trial_callback=callback
            )
        except OSError as exc:
            raise StorageError(f"cannot open the study file {target}: {exc.strerror or exc}") from exc
    rdb_url = target
    if "://" not in target:  # a bare SQLite file path
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        rdb_url = "sqlite:///" + str(Path(target).resolve())
    engine_kwargs: dict[str, Any] = {}
    if kind == "postgresql":
        engine_kwargs["pool_pre_ping"] = True
        try_import("sqlalchemy", "PostgreSQL storage")
        try_import("psycopg", "PostgreSQL storage")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return HeartbeatRDBStorage(
                rdb_url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=interval,
                grace_period=grace,
                heartbeat_stale_trial_callback=callback,
            )
    except ImportError as exc:
        raise StorageError(
            f"cannot open storage {mask_url(target)}: a database driver is missing ({exc}); "
            "install it with: pip install 'hpscout[postgres]'"
        ) from exc
    except Exception as exc:
        if _is_sqlalchemy_error(exc) or isinstance(exc, (ValueError, OSError)):
            raise StorageError(f"cannot open storage {mask_url(target)}: {_short(exc)}{_password_hint(exc)}") from exc
        raise


def check_storage(config: ExperimentConfig, url: str | None = None, *, timeout: float = 5.0) -> str:
    """Check that the study storage can be reached without creating or changing anything.

    A journal or SQLite file: its folder exists and takes new files, or can be created
    (:func:`hpscout.store.check_writable`). A database URL: a connection opens within
    ``timeout`` seconds and answers ``SELECT 1``. Returns the storage, password masked.

    Raises:
        StorageError: naming the storage (password masked) and why it cannot be reached.
    """
    target = storage_url(config, url)
    shown = mask_url(target)
    if "://" not in target:
        check_writable(Path(target).parent, what=f"the folder of the study file {target}")
        return shown
    sqlalchemy = try_import("sqlalchemy", "database storage")
    if storage_kind(target) == "postgresql":
        try_import("psycopg", "PostgreSQL storage")
    if storage_kind(target) == "sqlite":
        database = sqlalchemy.engine.make_url(target).database
        if database and database != ":memory:":
            check_writable(Path(database).parent, what=f"the folder of the SQLite file {database}")
        return shown
    connect_args = {"connect_timeout": max(1, int(timeout))} if storage_kind(target) == "postgresql" else {}
    try:
        engine = sqlalchemy.create_engine(target, connect_args=connect_args, poolclass=sqlalchemy.pool.NullPool)
        try:
            with engine.connect() as conn:
                conn.execute(sqlalchemy.text("SELECT 1"))
        finally:
            engine.dispose()
    except ImportError as exc:
        raise StorageError(f"cannot open storage {shown}: a database driver is missing ({exc})") from exc
    except Exception as exc:
        if _is_sqlalchemy_error(exc) or isinstance(exc, (ValueError, OSError)):
            raise StorageError(f"cannot reach storage {shown}: {mask_url(_short(exc))}{_password_hint(exc)}") from exc
        raise
    return shown


def _password_hint(exc: BaseException) -> str:
    if "password" not in str(exc).lower():
        return ""
    return (
        "; hpscout keeps no password with a run: give it to libpq with PGPASSWORD or ~/.pgpass, "
        "or put the whole URL in an environment variable and use storage env:NAME"
    )


def _short(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _is_sqlalchemy_error(exc: BaseException) -> bool:
    sa_exc = sys.modules.get("sqlalchemy.exc")
    return sa_exc is not None and isinstance(exc, sa_exc.SQLAlchemyError)


def is_storage_outage(exc: BaseException) -> bool:
    """True for a lost or refused database connection (retry later), not for a bad request."""
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is None:
        return False
    seen = 0
    cur: BaseException | None = exc
    while cur is not None and seen < 8:  # Optuna wraps commit errors in StorageInternalError
        if isinstance(cur, (sa_exc.OperationalError, sa_exc.InterfaceError)):
            return True
        if isinstance(cur, sa_exc.DBAPIError) and bool(getattr(cur, "connection_invalidated", False)):
            return True
        cur = cur.__cause__ or cur.__context__
        seen += 1
    return False


def wait_for_storage(storage: BaseStorage, *, timeout: float, what: str = "the study storage") -> None:
    """Block until ``storage`` answers again, or raise :class:`StorageError` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.2
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            unwrap_storage(storage).get_all_studies()
            return
        except Exception as exc:
            if not is_storage_outage(exc):
                raise
            last = exc
        time.sleep(delay)
        delay = min(2.0, delay * 2)
    raise StorageError(f"{what} did not answer for {timeout:.0f} s: {_short(last) if last else 'timeout'}")


def _lock_key(study_name: str) -> int:
    return int.from_bytes(hashlib.sha1(("hpscout:" + study_name).encode()).digest()[:8], "big", signed=True)


_THREAD_LOCKS: dict[str, threading.Lock] = {}


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: fall back to a per-process lock
        with _THREAD_LOCKS.setdefault(str(path), threading.Lock()):
            yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock; the OS drops it too when the process dies


@contextlib.contextmanager
def claim_lock(storage: BaseStorage, study_name: str) -> Iterator[None]:
    """Serialise "count the study, then start a trial" across every worker of a study.

    Journal/SQLite files: an ``flock`` on a file next to the study. PostgreSQL: a
    transaction-scoped advisory lock. Both vanish with a dead process or connection.
    Other storages get a per-process lock only (the budget may then be overshot by up to
    the number of other machines).
    """
    backend = unwrap_storage(storage)
    if isinstance(backend, HeartbeatJournalStorage):
        with _file_lock(backend.path.with_name(backend.path.name + ".claim.lock")):
            yield
        return
    engine = getattr(backend, "engine", None)
    if engine is not None:
        dialect = engine.dialect.name
        if dialect == "postgresql":
            from sqlalchemy import text

            with engine.begin() as conn:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key(study_name)})
                yield
            return
        if dialect == "sqlite" and engine.url.database not in (None, "", ":memory:"):
            with _file_lock(Path(str(engine.url.database) + ".claim.lock")):
                yield
            return
    with _THREAD_LOCKS.setdefault(f"{id(backend)}:{study_name}", threading.Lock()):
        yield
