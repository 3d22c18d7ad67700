"""The worker loop: claim a trial under the study lock, run it, repeat until the budget is reached.

Budget. ``search.trials`` (or ``--trials``) is the number of trials with an outcome:
COMPLETE, PRUNED, and FAIL trials that ran to a verdict (diverged, oom, failed: re-running
the same parameters would fail again). A FAIL caused by a dead worker, a storage outage or
Ctrl-C is not an outcome: the trial is re-queued with the same parameters and its retry
fills the slot. Running the same search again therefore continues the study and only adds
trials up to the budget; completed trials are never re-run.

Claims. A worker starts a trial only under a study-wide lock (file lock next to the journal
or SQLite file, an advisory lock on PostgreSQL): inside it, stale trials are failed and
re-queued, the study is counted, and a trial is asked for (a queued one first). So N workers
on M machines finish with exactly ``budget`` trials, and a grid never hands out a cell that
is finished, running or queued.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpscout.config import ExperimentConfig
from hpscout.search._context import WorkerContext
from hpscout.search._devices import apply_threads
from hpscout.search._fidelity import check_ladder
from hpscout.search._objective import resolve_objective
from hpscout.search._optuna_compat import study_storage
from hpscout.search._outcomes import counts_toward_budget, is_failed_verdict
from hpscout.search._progress import Progress, show_trials
from hpscout.search._space import cell_key, grid_cells
from hpscout.search._storage import claim_lock, is_storage_outage, wait_for_storage
from hpscout.search._study import budget_of, open_study, quiet_optuna, validate_search
from hpscout.search._trial import run_one
from hpscout.store import RunLayout

__all__ = ["Claimed", "run_worker", "make_context", "work"]

_STOP = "stop"
_WAIT = "wait"


class Claimed(NamedTuple):
    """A trial this worker may run, with its id in the storage (what heartbeats and re-queues use)."""

    trial: optuna.Trial
    trial_id: int


def run_worker(
    config: ExperimentConfig,
    *,
    storage: str | None = None,
    trials: int | None = None,
    objective: Callable[..., Any] | str | None = None,
    progress: Progress | bool = False,
    seed_offset: int = 0,
    deadline: float | None = None,
) -> int:
    """Join the study and run trials until its budget is reached; return how many this worker ran.

    This is ``hpscout worker``: start it on any machine that reaches the storage, with the
    same config. ``trials`` overrides the study's budget (total trials), not a per-worker
    count. When no trial is left to start but others are still running, the worker waits:
    a trial whose worker died is retried here once its heartbeat is stale.

    Example:
        >>> run_worker(config, storage="postgresql://user@db-host/hpscout")  # doctest: +SKIP
    """
    validate_search(config, trials, objective=objective)
    apply_threads(config.search.threads)
    budget = budget_of(config, trials)
    if deadline is None and config.search.timeout is not None:
        deadline = time.monotonic() + config.search.timeout
    study = open_study(config, storage=storage, seed_offset=seed_offset)
    prog = progress if isinstance(progress, Progress) else Progress.for_search(config, budget, enabled=bool(progress))
    ctx = make_context(config, budget=budget, objective=objective, progress=prog, deadline=deadline)
    try:
        return work(study, ctx)
    finally:
        if prog is not progress:  # a Progress the caller passed is the caller's to close
            prog.close()


def make_context(
    config: ExperimentConfig,
    *,
    budget: int | None,
    objective: Callable[..., Any] | str | None,
    progress: Progress | None,
    deadline: float | None = None,
) -> WorkerContext:
    """The settings of a worker's loop over the study of ``config``."""
    ladder = check_ladder(config.scout.fidelities)
    cells = grid_cells(config.search.space, config) if config.search.sampler.lower() == "grid" else None
    return WorkerContext(
        config=config,
        layout=RunLayout.of(config),
        ladder=ladder,
        budget=budget,
        cells=cells,
        objective=resolve_objective(objective),
        deadline=deadline,
        progress=progress,
        poll=min(1.0, float(config.search.heartbeat_interval)),
    )


def work(study: optuna.Study, ctx: WorkerContext) -> int:
    """Claim and run trials until the budget or the deadline is reached; return how many ran here."""
    n_run = 0
    with quiet_optuna():
        while ctx.deadline is None or time.monotonic() < ctx.deadline:
            try:
                claimed = _claim(study, ctx)
            except Exception as exc:
                if not is_storage_outage(exc):
                    raise
                ctx.say(f"[search] storage unreachable: {str(exc).splitlines()[0][:200]}; waiting")
                wait_for_storage(study_storage(study), timeout=ctx.outage_timeout)
                continue
            if claimed == _STOP:
                break
            if isinstance(claimed, str):  # _WAIT: others still run the last trials of the budget
                show_trials(ctx.progress, study)
                time.sleep(ctx.poll)
                continue
            run_one(study, claimed.trial, claimed.trial_id, ctx)
            n_run += 1
            show_trials(ctx.progress, study)
    return n_run


def _claim(study: optuna.Study, ctx: WorkerContext) -> Claimed | str:
    """Under the study lock: fail stale trials, count, and ask for a trial (or say stop/wait)."""
    with claim_lock(study_storage(study), study.study_name), warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # we run heartbeats ourselves around ask/tell, which Optuna only expects from optimize()
        warnings.filterwarnings("ignore", message="Heartbeat of storage")
        now = time.monotonic()
        if now - ctx.last_stale_check >= ctx.poll:  # staleness has grace-period resolution anyway
            optuna.storages.fail_stale_trials(study)
            ctx.last_stale_check = now
        trials = study.get_trials(deepcopy=False)
        counted, running, waiting = _count(trials)
        if waiting:
            return _ask(study, ctx)
        if ctx.budget is not None and counted + running >= ctx.budget:
            return _WAIT if running else _STOP
        if ctx.cells is not None:
            free = _free_cells(trials, ctx.cells)
            if not free:
                return _WAIT if running else _STOP
            study.enqueue_trial(free[0])
        return _ask(study, ctx)


def _count(trials: Sequence[FrozenTrial]) -> tuple[int, int, bool]:
    """Trials with an outcome, RUNNING trials, and whether one is WAITING, in one pass (this runs before every trial)."""
    counted = running = 0
    waiting = False
    for t in trials:
        state = t.state
        if state == TrialState.RUNNING:
            running += 1
        elif state == TrialState.WAITING:
            waiting = True
        elif state == TrialState.COMPLETE or state == TrialState.PRUNED or is_failed_verdict(t):
            counted += 1
    return counted, running, waiting


def _free_cells(trials: Sequence[FrozenTrial], cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The grid cells no trial has taken (finished with an outcome, running or queued)."""
    taken = {
        cell_key(t.system_attrs.get("fixed_params", t.params))
        for t in trials
        if counts_toward_budget(t) or t.state in (TrialState.RUNNING, TrialState.WAITING)
    }
    return [c for c in cells if cell_key(c) not in taken]


def _ask(study: optuna.Study, ctx: WorkerContext) -> Claimed:
    trial = study.ask()
    storage = study_storage(study)
    if ctx.study_id is None:
        ctx.study_id = storage.get_study_id_from_name(study.study_name)
    return Claimed(trial, storage.get_trial_id_from_study_id_trial_number(ctx.study_id, trial.number))
