"""One claimed trial: run its objective under a heartbeat, then tell the study how it ended.

A trial ends COMPLETE, PRUNED, or FAIL with a verdict (diverged, oom, failed). A trial cut
off by Ctrl-C or a storage outage has no verdict: it ends FAIL with the user attribute
``interrupted`` and is queued again with the same parameters (Optuna's stale-trial
callback), so its retry fills the slot. With the result in hand, an outage only delays
recording it.
"""

from __future__ import annotations

import copy
import math
import time
import traceback
import warnings
from dataclasses import dataclass

import optuna
from optuna.trial import TrialState

from hpscout._errors import HpscoutError
from hpscout.search._context import WorkerContext
from hpscout.search._heartbeats import HEARTBEATER
from hpscout.search._objective import call_objective
from hpscout.search._optuna_compat import study_storage
from hpscout.search._outcomes import TrialFailed
from hpscout.search._storage import is_storage_outage, wait_for_storage

__all__ = ["run_one", "fail_and_requeue"]


@dataclass
class _Ending:
    """How a trial ended, to tell the study."""

    state: TrialState = TrialState.FAIL
    value: float | None = None
    status: str | None = None
    message: str | None = None
    #: an hpscout error that also stops the worker (a bad setting would fail every trial)
    reraise: BaseException | None = None


def run_one(study: optuna.Study, trial: optuna.Trial, trial_id: int, ctx: WorkerContext) -> None:
    """Run the objective on a claimed trial and tell the study how it ended."""
    with HEARTBEATER.running(study_storage(study), trial_id):
        ending = _run_objective(study, trial, trial_id, ctx)
    if ending is None:  # cut off by a storage outage: already failed and queued again
        return
    _tell(study, trial, trial_id, ending, ctx)
    if ending.reraise is not None:
        raise ending.reraise


def _run_objective(study: optuna.Study, trial: optuna.Trial, trial_id: int, ctx: WorkerContext) -> _Ending | None:
    """How the objective ended; ``None`` when a storage outage cut it off (the trial is then re-queued)."""
    try:
        frozen = study_storage(study).get_trial(trial_id)
        if "failed_trial" in frozen.system_attrs:
            # a retry carries the user attrs of the trial it replaces (status, fraction, ...): start clean
            for key, old in frozen.user_attrs.items():
                if old is not None:
                    trial.set_user_attr(key, None)
        value = call_objective(trial, ctx)
        if math.isfinite(value):
            return _Ending(TrialState.COMPLETE, value, "complete")
        return _Ending(status="diverged", message=f"objective value is {value}")
    except optuna.TrialPruned as exc:
        return _Ending(TrialState.PRUNED, status="pruned", message=str(exc) or None)
    except TrialFailed as exc:
        return _Ending(status=exc.status, message=exc.message)
    except KeyboardInterrupt:
        fail_and_requeue(study, trial_id, "interrupted (Ctrl-C)")
        raise
    except Exception as exc:
        if is_storage_outage(exc):
            _recover_from_outage(study, trial_id, exc, ctx)
            return None
        message = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, HpscoutError):
            return _Ending(status="failed", message=message, reraise=exc)
        ctx.say(f"[search] trial {trial.number} failed: {message}\n{traceback.format_exc(limit=5)}")
        return _Ending(status="failed", message=message)


def _tell(study: optuna.Study, trial: optuna.Trial, trial_id: int, ending: _Ending, ctx: WorkerContext) -> None:
    """Record the ending; through a storage outage, wait and record it rather than re-run the trial."""
    deadline = time.monotonic() + ctx.outage_timeout
    while True:
        try:
            if ending.state == TrialState.FAIL and ending.status is not None:  # COMPLETE/PRUNED say it themselves
                trial.set_user_attr("status", ending.status)
            if ending.message:
                trial.set_user_attr("message", ending.message[:1000])
            if ending.state == TrialState.COMPLETE:
                study.tell(trial, ending.value, skip_if_finished=True)
            else:
                study.tell(trial, state=ending.state, skip_if_finished=True)
            return
        except Exception as exc:
            if not is_storage_outage(exc):
                raise
            if time.monotonic() > deadline:
                _recover_from_outage(study, trial_id, exc, ctx)
                return
            ctx.say(f"[search] storage unreachable while recording trial {trial.number}; waiting")
            wait_for_storage(study_storage(study), timeout=max(1.0, deadline - time.monotonic()))


def fail_and_requeue(study: optuna.Study, trial_id: int, reason: str) -> None:
    """End an interrupted trial FAIL (no hpscout status) and queue it again with the same params."""
    storage = study_storage(study)
    frozen = storage.get_trial(trial_id)
    if frozen.state.is_finished():
        return
    try:
        storage.set_trial_user_attr(trial_id, "interrupted", reason[:500])
        if not storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
            return
    except optuna.exceptions.UpdateFinishedTrialError:
        return
    callback = getattr(storage, "get_heartbeat_stale_trial_callback", lambda: None)()
    if callback is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            callback(study, copy.deepcopy(storage.get_trial(trial_id)))


def _recover_from_outage(study: optuna.Study, trial_id: int, exc: BaseException, ctx: WorkerContext) -> None:
    ctx.say(f"[search] storage unreachable during trial (id {trial_id}): {str(exc).splitlines()[0][:200]}; waiting")
    deadline = time.monotonic() + ctx.outage_timeout
    while True:
        wait_for_storage(study_storage(study), timeout=max(1.0, deadline - time.monotonic()))
        try:
            fail_and_requeue(study, trial_id, f"storage outage: {str(exc).splitlines()[0][:200]}")
            return
        except Exception as again:
            if not is_storage_outage(again):
                raise
            if time.monotonic() > deadline:
                raise
