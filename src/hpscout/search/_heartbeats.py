"""Heartbeats of the trial a worker is running, so that other workers can tell a dead one.

Optuna beats only inside ``study.optimize``; hpscout runs trials with ask/tell under its own
claim lock (:mod:`hpscout.search._claim`), so it beats itself: one daemon thread per
process, around each trial (:data:`HEARTBEATER`).
"""

from __future__ import annotations

import contextlib
import threading
import time
import warnings
from collections.abc import Iterator

from optuna.storages import BaseStorage

from hpscout.search._optuna_compat import heartbeat_enabled, unwrap_storage
from hpscout.search._storage import HeartbeatJournalStorage

__all__ = ["Heartbeater", "HEARTBEATER"]


class Heartbeater:
    """One daemon thread per process that beats for the trial this worker is running.

    Starting a thread per trial costs milliseconds on a busy machine; a worker runs one
    trial at a time, so one thread serves them all. Beats happen under a lock that
    :meth:`running` also takes on exit, so no beat lands after a trial has finished.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: tuple[BaseStorage, int, float] | None = None
        self._thread: threading.Thread | None = None
        self._warned: int | None = None
        self.last_error: BaseException | None = None

    @contextlib.contextmanager
    def running(self, storage: BaseStorage, trial_id: int) -> Iterator[None]:
        """Beat for trial ``trial_id`` (once at once, then every heartbeat interval) until the block ends."""
        if not heartbeat_enabled(storage):
            yield
            return
        interval = float(storage.get_heartbeat_interval())  # type: ignore[attr-defined]
        with self._lock:
            self._beat(storage, trial_id)  # the first beat before any work
            self._current = (storage, trial_id, interval)
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="hpscout-heartbeat", daemon=True)
            self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._current = None
            backend = unwrap_storage(storage)
            if isinstance(backend, HeartbeatJournalStorage):
                backend.clear_heartbeat(trial_id)

    def _beat(self, storage: BaseStorage, trial_id: int) -> None:
        try:
            storage.record_heartbeat(trial_id)  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 - retried next interval; the grace period covers a few misses
            self.last_error = exc
            if self._warned != trial_id:
                self._warned = trial_id
                warnings.warn(f"hpscout: missed a heartbeat of trial id {trial_id}: {exc}", RuntimeWarning, stacklevel=1)

    def _run(self) -> None:
        interval = 1.0
        last: tuple[int, float] | None = None
        while True:
            time.sleep(min(interval, 1.0))
            with self._lock:
                if self._current is None:
                    continue
                storage, trial_id, interval = self._current
                now = time.monotonic()
                if last is not None and last[0] == trial_id and now - last[1] < interval:
                    continue
                if last is None or last[0] != trial_id:
                    last = (trial_id, now)  # its first beat was recorded when it started
                    continue
                self._beat(storage, trial_id)
                last = (trial_id, now)


#: the one heartbeat thread of this process
HEARTBEATER = Heartbeater()
