"""The study lifecycle: create or resume, claim trials up to the budget, run them, rank them.

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

import contextlib
import copy
import importlib
import inspect
import math
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hpscout._errors import HpscoutError, SearchError, StorageError
from hpscout.config import ExperimentConfig, apply_updates, dump_config, save_config
from hpscout.search._fidelity import TrialReporter, check_ladder, run_rungs
from hpscout.search._progress import Progress
from hpscout.search._pruners import make_pruner
from hpscout.search._samplers import default_startup_trials, make_sampler
from hpscout.search._space import cell_key, grid_cells, params_to_updates, suggest_updates, validate_space
from hpscout.search._storage import (
    HeartbeatJournalStorage,
    claim_lock,
    is_storage_outage,
    mask_url,
    resolve_storage,
    storage_kind,
    storage_url,
    unwrap_storage,
    wait_for_storage,
)
from hpscout.store import RunLayout

__all__ = [
    "SearchSummary",
    "TrialFailed",
    "open_study",
    "load_study",
    "run_search",
    "run_worker",
    "validate_search",
    "budget_of",
    "counts_toward_budget",
    "is_failed_verdict",
    "trials_table",
    "trial_row",
    "top_trials",
    "write_top_configs",
    "storage_warnings",
    "resolve_objective",
]

#: how long a worker waits for an unreachable database before giving up
OUTAGE_TIMEOUT = 180.0


class TrialFailed(Exception):
    """Raised by an objective to end a trial FAIL with an hpscout status (diverged, oom, failed)."""

    def __init__(self, status: str, message: str | None = None) -> None:
        text = str(getattr(status, "value", status))
        super().__init__(message or text)
        self.status = text if text in _VERDICTS else "failed"
        self.message = message if text in _VERDICTS else f"{text}: {message or ''}".rstrip(": ")


@dataclass
class SearchSummary:
    """What a search left in its study (all trials, not only this run's)."""

    study_name: str
    storage: str
    budget: int | None
    n_complete: int
    n_pruned: int
    n_failed: int
    n_running: int
    n_new: int
    best_value: float | None
    best_params: dict[str, Any]
    best_trial: int | None
    top_paths: list[Path] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def n_finished(self) -> int:
        return self.n_complete + self.n_pruned + self.n_failed

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["top_paths"] = [str(p) for p in self.top_paths]
        d["n_finished"] = self.n_finished
        return d


# --------------------------------------------------------------------------- study


def budget_of(config: ExperimentConfig, trials: int | None = None) -> int | None:
    """The study's budget: ``trials`` or ``search.trials``; a grid is capped at its cell count.

    ``None`` means no trial limit (``search.timeout`` ends the search).
    """
    if trials is not None and (isinstance(trials, bool) or not isinstance(trials, int) or trials < 1):
        raise SearchError(f"--trials must be a whole number >= 1, but got {trials!r}")
    budget = trials if trials is not None else config.search.trials
    if config.search.sampler.lower() == "grid" and config.search.space:
        n_cells = len(grid_cells(config.search.space, config))
        budget = n_cells if budget is None else min(budget, n_cells)
    return budget


def validate_search(config: ExperimentConfig, trials: int | None = None, *, objective: Any = None) -> None:
    """Every check that can fail before a trial runs: space, ladder, sampler, pruner, budget.

    Without an injected ``objective`` the runner's own checks run too (metric, task
    settings), so a bad setting stops the search before the first trial instead of
    failing every trial.
    """
    if trials is not None:
        budget_of(config, trials)
    budget = trials if trials is not None else config.search.trials
    validate_space(config.search.space, config, budget=budget, sampler=config.search.sampler.lower())
    ladder = check_ladder(config.scout.fidelities)
    _make_sampler(config, 0)
    make_pruner(config.search.pruner, ladder=ladder, fidelity=config.search.fidelity, **config.search.pruner_kwargs)
    if objective is None:
        try:
            from hpscout.runner import validate_trial_config
        except ImportError:  # pragma: no cover - the runner package always ships with hpscout
            return
        validate_trial_config(config, ladder[0])


def _make_sampler(config: ExperimentConfig, seed_offset: int) -> optuna.samplers.BaseSampler:
    kwargs = dict(config.search.sampler_kwargs)
    if config.search.sampler.lower() == "tpe" and "n_startup_trials" not in kwargs:
        kwargs["n_startup_trials"] = default_startup_trials(config.search.trials)
    return make_sampler(config.search.sampler, seed=config.seed + seed_offset, space=config.search.space or None, **kwargs)


def open_study(
    config: ExperimentConfig,
    *,
    storage: str | None = None,
    suffix: str = "",
    seed_offset: int = 0,
) -> optuna.Study:
    """Create the study ``config.name + suffix``, or load it when it exists.

    Direction, sampler and pruner come from ``config.search`` (defaults:
    :data:`hpscout.search.DEFAULT_STRATEGY`); storage from :func:`resolve_storage`. The
    resolved config (YAML), the fidelity ladder, the metric and the fidelity are kept in
    ``study.user_attrs`` ("config", "ladder", "metric", "fidelity", "direction").
    ``seed_offset`` gives parallel workers different sampler seeds.

    Example:
        >>> study = open_study(config)  # doctest: +SKIP
        >>> ablation = open_study(config, suffix="-ablation")  # doctest: +SKIP
    """
    ladder = check_ladder(config.scout.fidelities)
    sampler = _make_sampler(config, seed_offset)
    pruner = make_pruner(config.search.pruner, ladder=ladder, fidelity=config.search.fidelity, **config.search.pruner_kwargs)
    st = resolve_storage(config, storage)
    name = config.name + suffix
    try:
        with _quiet_optuna():
            study = optuna.create_study(
                study_name=name,
                storage=st,
                sampler=sampler,
                pruner=pruner,
                direction=config.search.direction,
                load_if_exists=True,
            )
    except Exception as exc:
        if is_storage_outage(exc):
            raise StorageError(f"cannot reach storage {mask_url(storage_url(config, storage))}: {exc}") from exc
        raise
    if study.direction != StudyDirection[config.search.direction.upper()]:
        raise SearchError(
            f"study '{name}' in {mask_url(storage_url(config, storage))} was created to {study.direction.name.lower()} "
            f"but search.direction is {config.search.direction!r}; use another name or storage"
        )
    attrs = {
        "config": dump_config(config),
        "ladder": list(ladder),
        "metric": config.search.metric,
        "fidelity": config.search.fidelity,
        "direction": config.search.direction,
    }
    current = study.user_attrs
    for key, value in attrs.items():
        if current.get(key) != value:
            study.set_user_attr(key, value)
    return study


def load_study(config: ExperimentConfig, *, storage: str | None = None, suffix: str = "") -> optuna.Study:
    """Load an existing study (no sampler state needed); :class:`StorageError` when it is absent."""
    target = storage_url(config, storage)
    if storage_kind(target) in ("journal", "sqlite") and "://" not in target and not Path(target).exists():
        raise StorageError(f"no study yet: {target} does not exist (run `hpscout search` first)")
    st = resolve_storage(config, storage)
    name = config.name + suffix
    try:
        return optuna.load_study(study_name=name, storage=st)
    except KeyError:
        raise StorageError(f"no study named '{name}' in {mask_url(target)}") from None


def counts_toward_budget(trial: FrozenTrial) -> bool:
    """True for trials with an outcome: COMPLETE, PRUNED, or FAIL with an hpscout verdict."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return is_failed_verdict(trial)


def is_failed_verdict(trial: FrozenTrial) -> bool:
    """A FAIL that ran to a verdict (diverged, oom, failed), not one cut off by a dead worker or outage."""
    attrs = trial.user_attrs
    return trial.state == TrialState.FAIL and attrs.get("status") in _VERDICTS and not attrs.get("interrupted")


#: the FAIL statuses that are outcomes (a retry would end the same way)
_VERDICTS = ("diverged", "oom", "failed")


def storage_warnings(config: ExperimentConfig, storage: str | None, workers: int) -> list[str]:
    """Advice about a storage choice (SQLite with several writers)."""
    target = storage_url(config, storage)
    kind = storage_kind(target)
    out = []
    if kind == "sqlite" and workers > 1:
        out.append(
            f"SQLite storage with {workers} workers: SQLite takes one writer at a time (measured 5-10x "
            "slower than the default journal file, and 'database is locked' once a writer waits past its "
            "timeout; see docs/search.md); prefer the default journal file or --storage postgresql://..."
        )
    return out


# --------------------------------------------------------------------------- objective


def resolve_objective(objective: Callable[..., Any] | str | None) -> Callable[..., Any] | None:
    """A callable from a callable or a ``'module:function'`` reference (advanced / testing)."""
    if objective is None or callable(objective):
        return objective
    module, _, attr = str(objective).partition(":")
    if not module or not attr:
        raise SearchError(f"--objective must look like 'package.module:function', but got {objective!r}")
    try:
        fn = importlib.import_module(module)
        for part in attr.split("."):
            fn = getattr(fn, part)
    except (ImportError, AttributeError) as exc:
        raise SearchError(f"cannot import objective {objective!r}: {exc}") from None
    if not callable(fn):
        raise SearchError(f"objective {objective!r} is not callable")
    return fn  # type: ignore[return-value]


def _wants_config(fn: Callable[..., Any]) -> bool:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return True
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return True
    positional = [p for p in params if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2


@dataclass
class _Context:
    config: ExperimentConfig
    layout: RunLayout
    ladder: list[float]
    budget: int | None
    cells: list[dict[str, Any]] | None
    objective: Callable[..., Any] | None
    deadline: float | None
    progress: Progress | None
    poll: float
    outage_timeout: float = OUTAGE_TIMEOUT
    last_stale_check: float = -math.inf


def _record_result(trial: optuna.Trial, result: Any, fraction: float, path: Path, totals: dict[str, float]) -> None:
    totals["elapsed_seconds"] = totals.get("elapsed_seconds", 0.0) + float(result.elapsed_seconds or 0.0)
    totals["samples_processed"] = totals.get("samples_processed", 0) + int(result.samples_processed or 0)
    attrs = {
        "fraction": fraction,
        "metrics": {k: v for k, v in (result.metrics or {}).items() if isinstance(v, (int, float))},
        "result_path": str(path),
        "trainable_params": result.trainable_params,
        "train_samples": result.train_samples,
        "samples_processed": totals["samples_processed"],
        "elapsed_seconds": round(totals["elapsed_seconds"], 3),
    }
    if result.ok:
        # a failed rung's status is written last, by _run_one, right before the trial ends FAIL:
        # until then a trial cut off by a dead worker must not look like a verdict
        attrs["status"] = result.status.value
    if result.message:
        attrs["message"] = str(result.message)[:1000]
    for k, v in attrs.items():
        trial.set_user_attr(k, _jsonable(v))


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return v


def _outcome(result: Any) -> float:
    """A TrialResult's objective, or the exception that ends the trial."""
    from hpscout.runner import TrialStatus

    if result.status is TrialStatus.PRUNED:
        raise optuna.TrialPruned(result.message or "pruned by the runner")
    if not result.ok:
        status = result.status.value if result.status is not TrialStatus.COMPLETE else TrialStatus.FAILED.value
        if result.status is TrialStatus.COMPLETE and result.objective is not None and not math.isfinite(result.objective):
            status = TrialStatus.DIVERGED.value
        raise TrialFailed(status, result.message or f"trial ended {status} (objective {result.objective!r})")
    return float(result.objective)


def _default_objective(trial: optuna.Trial, cfg: ExperimentConfig, ctx: _Context) -> float:
    """Train the trial's config with the runner: on each fraction rung, or once with eval-step pruning."""
    try:
        from hpscout.runner import TrialPruned as RunnerPruned
        from hpscout.runner import run_trial
    except ImportError as exc:
        raise SearchError(f"hpscout.runner.run_trial is not available: {exc}") from None
    tdir = ctx.layout.trial_dir(f"t{trial.number:04d}")
    totals: dict[str, float] = {}
    if ctx.config.search.fidelity == "fraction":
        last: dict[str, Any] = {}

        def evaluate(f: float) -> float:
            out = tdir / f"f{f:g}"
            try:
                res = run_trial(cfg, out_dir=out, fraction=f)
            except RunnerPruned as exc:
                raise optuna.TrialPruned(str(exc)) from None
            last["result"] = res
            _record_result(trial, res, f, tdir / "result.json", totals)
            return _outcome(res)

        try:
            return run_rungs(trial, evaluate, ctx.ladder)
        finally:
            if "result" in last:
                last["result"].save(tdir / "result.json")
    reporter = TrialReporter(trial)
    top = ctx.ladder[-1]
    try:
        res = run_trial(cfg, out_dir=tdir, fraction=top, reporter=reporter)
    except RunnerPruned as exc:
        if reporter.error is not None:
            raise reporter.error from None
        raise optuna.TrialPruned(str(exc)) from None
    if reporter.error is not None:
        raise reporter.error
    if not (tdir / "result.json").exists():
        res.save(tdir / "result.json")
    _record_result(trial, res, top, tdir / "result.json", totals)
    return _outcome(res)


def _call_objective(trial: optuna.Trial, ctx: _Context) -> float:
    updates = suggest_updates(trial, ctx.config.search.space, ctx.config)
    if updates != trial.params:  # derived parameters: keep the values the config really got
        trial.set_user_attr("updates", _jsonable(updates))
    cfg = apply_updates(ctx.config, updates, source=f"trial {trial.number} parameters")
    if ctx.objective is None:
        return _default_objective(trial, cfg, ctx)
    result = ctx.objective(trial, cfg) if _wants_config(ctx.objective) else ctx.objective(trial)
    if hasattr(result, "status") and hasattr(result, "objective"):
        return _outcome(result)
    return float(result)


# --------------------------------------------------------------------------- one trial


class _Heartbeater:
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
        from optuna.storages._heartbeat import is_heartbeat_enabled

        if not is_heartbeat_enabled(storage):
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


_HEARTBEATER = _Heartbeater()


def _fail_and_requeue(study: optuna.Study, trial_id: int, reason: str) -> None:
    """End an interrupted trial FAIL (no hpscout status) and queue it again with the same params."""
    storage = study._storage
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


def _recover_from_outage(study: optuna.Study, trial_id: int, exc: BaseException, ctx: _Context) -> None:
    _say(ctx, f"[search] storage unreachable during trial (id {trial_id}): {str(exc).splitlines()[0][:200]}; waiting")
    deadline = time.monotonic() + ctx.outage_timeout
    while True:
        wait_for_storage(study._storage, timeout=max(1.0, deadline - time.monotonic()))
        try:
            _fail_and_requeue(study, trial_id, f"storage outage: {str(exc).splitlines()[0][:200]}")
            return
        except Exception as again:
            if not is_storage_outage(again) or time.monotonic() > deadline:
                raise


def _say(ctx: _Context, message: str) -> None:
    if ctx.progress is not None and ctx.progress.enabled:
        print(message, file=sys.stderr, flush=True)


def _run_one(study: optuna.Study, trial: optuna.Trial, ctx: _Context) -> None:
    """Run the objective on a claimed trial and tell the study how it ended."""
    trial_id = trial._trial_id
    state = TrialState.FAIL
    value: float | None = None
    status: str | None = None
    message: str | None = None
    reraise: BaseException | None = None
    with _HEARTBEATER.running(study._storage, trial_id):
        try:
            frozen = study._storage.get_trial(trial_id)
            if "failed_trial" in frozen.system_attrs:
                # a retry carries the user attrs of the trial it replaces (status, fraction, ...): start clean
                for key, old in frozen.user_attrs.items():
                    if old is not None:
                        trial.set_user_attr(key, None)
            value = _call_objective(trial, ctx)
            if math.isfinite(value):
                state, status = TrialState.COMPLETE, "complete"
            else:
                status, message = "diverged", f"objective value is {value}"
                value = None
        except optuna.TrialPruned as exc:
            state, status, message = TrialState.PRUNED, "pruned", str(exc) or None
        except TrialFailed as exc:
            status, message = exc.status, exc.message
        except KeyboardInterrupt as exc:
            _fail_and_requeue(study, trial_id, "interrupted (Ctrl-C)")
            raise exc
        except Exception as exc:
            if is_storage_outage(exc):
                _recover_from_outage(study, trial_id, exc, ctx)
                return
            status, message = "failed", f"{type(exc).__name__}: {exc}"
            if isinstance(exc, HpscoutError):
                reraise = exc
            else:
                _say(ctx, f"[search] trial {trial.number} failed: {message}\n{traceback.format_exc(limit=5)}")
    deadline = time.monotonic() + ctx.outage_timeout
    while True:
        try:
            if state == TrialState.FAIL and status is not None:  # COMPLETE/PRUNED say it themselves
                trial.set_user_attr("status", status)
            if message:
                trial.set_user_attr("message", message[:1000])
            if state == TrialState.COMPLETE:
                study.tell(trial, value, skip_if_finished=True)
            else:
                study.tell(trial, state=state, skip_if_finished=True)
            break
        except Exception as exc:
            if not is_storage_outage(exc):
                raise
            if time.monotonic() > deadline:
                _recover_from_outage(study, trial_id, exc, ctx)
                break
            # the result is in hand: wait for the storage and record it, rather than re-run the trial
            _say(ctx, f"[search] storage unreachable while recording trial {trial.number}; waiting")
            wait_for_storage(study._storage, timeout=max(1.0, deadline - time.monotonic()))
    if reraise is not None:
        raise reraise


# --------------------------------------------------------------------------- the worker loop

_STOP = "stop"
_WAIT = "wait"


def _claim(study: optuna.Study, ctx: _Context) -> optuna.Trial | str:
    """Under the study lock: fail stale trials, count, and ask for a trial (or say stop/wait)."""
    with claim_lock(study._storage, study.study_name), warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # we run heartbeats ourselves around ask/tell, which Optuna only expects from optimize()
        warnings.filterwarnings("ignore", message="Heartbeat of storage")
        now = time.monotonic()
        if now - ctx.last_stale_check >= ctx.poll:  # staleness has grace-period resolution anyway
            optuna.storages.fail_stale_trials(study)
            ctx.last_stale_check = now
        trials = study.get_trials(deepcopy=False)
        counted = running = 0
        waiting = False
        for t in trials:  # one pass: this runs before every trial
            state = t.state
            if state == TrialState.RUNNING:
                running += 1
            elif state == TrialState.WAITING:
                waiting = True
            elif state == TrialState.COMPLETE or state == TrialState.PRUNED or is_failed_verdict(t):
                counted += 1
        if waiting:
            return study.ask()
        if ctx.budget is not None and counted + running >= ctx.budget:
            return _WAIT if running else _STOP
        if ctx.cells is not None:
            taken = {
                cell_key(t.system_attrs.get("fixed_params", t.params))
                for t in trials
                if counts_toward_budget(t) or t.state in (TrialState.RUNNING, TrialState.WAITING)
            }
            free = [c for c in ctx.cells if cell_key(c) not in taken]
            if not free:
                return _WAIT if running else _STOP
            study.enqueue_trial(free[0])
        return study.ask()


def _make_context(
    config: ExperimentConfig,
    *,
    budget: int | None,
    objective: Callable[..., Any] | str | None,
    progress: Progress | None,
    deadline: float | None = None,
) -> _Context:
    ladder = check_ladder(config.scout.fidelities)
    cells = grid_cells(config.search.space, config) if config.search.sampler.lower() == "grid" else None
    return _Context(
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
    from hpscout.search._workers import apply_threads

    validate_search(config, trials, objective=objective)
    apply_threads(config.search.threads)
    budget = budget_of(config, trials)
    if deadline is None and config.search.timeout is not None:
        deadline = time.monotonic() + config.search.timeout
    study = open_study(config, storage=storage, seed_offset=seed_offset)
    prog = progress if isinstance(progress, Progress) else Progress(
        budget=budget, metric=config.search.metric, direction=config.search.direction, enabled=bool(progress),
        timeout=config.search.timeout,
    )
    ctx = _make_context(config, budget=budget, objective=objective, progress=prog, deadline=deadline)
    try:
        return _loop(study, ctx)
    finally:
        if prog is not progress:  # a Progress the caller passed is the caller's to close
            prog.close()


def _loop(study: optuna.Study, ctx: _Context) -> int:
    with _quiet_optuna():
        return _loop_inner(study, ctx)


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna's per-trial INFO lines would interleave with hpscout's progress table."""
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)


def _loop_inner(study: optuna.Study, ctx: _Context) -> int:
    n_run = 0
    while True:
        if ctx.deadline is not None and time.monotonic() >= ctx.deadline:
            break
        try:
            claimed = _claim(study, ctx)
        except Exception as exc:
            if not is_storage_outage(exc):
                raise
            _say(ctx, f"[search] storage unreachable: {str(exc).splitlines()[0][:200]}; waiting")
            wait_for_storage(study._storage, timeout=ctx.outage_timeout)
            continue
        if claimed == _STOP:
            break
        if claimed == _WAIT:
            _show(study, ctx)
            time.sleep(ctx.poll)
            continue
        _run_one(study, claimed, ctx)  # type: ignore[arg-type]
        n_run += 1
        _show(study, ctx)
    return n_run


def _show(study: optuna.Study, ctx: _Context) -> None:
    if ctx.progress is None or not ctx.progress.enabled:
        return
    try:
        ctx.progress.update(study.get_trials(deepcopy=False))
    except Exception as exc:
        if not is_storage_outage(exc):
            raise


def run_search(
    config: ExperimentConfig,
    *,
    storage: str | None = None,
    trials: int | None = None,
    workers: int | None = None,
    objective: Callable[..., Any] | str | None = None,
    progress: bool = True,
) -> SearchSummary:
    """Run (or resume) the search of ``config`` to its budget and write the top-k configs.

    Validates the space before any trial; continues an existing study (``trials`` is the
    total budget, counted as described in this module); runs ``workers`` local processes
    (default ``search.workers``; one per GPU when GPUs exist); then writes
    ``<run_dir>/top/top1.yaml ...``.

    ``objective`` (advanced, tests, benchmarks) replaces training: ``objective(trial,
    config) -> float`` (or ``objective(trial)``), where ``config`` already holds the trial's
    sampled parameters; it may call :func:`run_rungs`, raise ``optuna.TrialPruned`` or
    :class:`TrialFailed`, or return a ``TrialResult``. With ``workers > 1`` it must be a
    module-level function (or a ``'module:function'`` string) so worker processes can import it.

    Example:
        >>> summary = run_search(load_config("sst2.yaml"), trials=30, workers=2)  # doctest: +SKIP
        >>> summary.top_paths[0]  # doctest: +SKIP
        PosixPath('runs/sst2/top/top1.yaml')
    """
    from hpscout.search._workers import apply_threads, run_local_workers

    start = time.monotonic()
    n_workers = workers if workers is not None else config.search.workers
    if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
        raise SearchError(f"--workers must be a whole number >= 1, but got {n_workers!r}")
    validate_search(config, trials, objective=objective)
    budget = budget_of(config, trials)
    fn = resolve_objective(objective)
    if n_workers > 1 and fn is not None and not isinstance(objective, str):
        _check_picklable(fn)
    layout = RunLayout.of(config)
    layout.root.mkdir(parents=True, exist_ok=True)
    save_config(config, layout.config, header="the resolved config of this run (written by hpscout search)")
    study = open_study(config, storage=storage)
    prog = Progress(
        budget=budget, metric=config.search.metric, direction=config.search.direction, enabled=progress,
        timeout=config.search.timeout,
    )
    before = {t.number for t in study.get_trials(deepcopy=False)}
    deadline = start + config.search.timeout if config.search.timeout is not None else None
    errors: list[str] = []
    try:
        if n_workers == 1:
            apply_threads(config.search.threads)
            ctx = _make_context(config, budget=budget, objective=fn, progress=prog, deadline=deadline)
            _show(study, ctx)
            _loop(study, ctx)
        else:
            errors = run_local_workers(
                config, storage=storage, trials=trials, objective=objective, n=n_workers, progress=prog, study=study
            )
    finally:
        prog.close()
    summary = summarize(config, study, storage=storage, before=before, budget=budget)
    summary.top_paths = write_top_configs(config, study)
    summary.elapsed = time.monotonic() - start
    if errors:
        raise SearchError(
            f"{len(errors)} of {n_workers} workers failed ({'; '.join(errors)}); the study keeps "
            f"{summary.n_finished} finished trials and top configs were written; run the same command to continue"
        )
    return summary


def _check_picklable(fn: Callable[..., Any]) -> None:
    import pickle

    try:
        pickle.dumps(fn)
    except Exception as exc:
        raise SearchError(
            f"with --workers > 1 the objective must be a module-level function (worker processes import it), "
            f"but {getattr(fn, '__qualname__', fn)!r} cannot be pickled: {exc}"
        ) from None


def summarize(
    config: ExperimentConfig,
    study: optuna.Study,
    *,
    storage: str | None = None,
    before: set[int] | None = None,
    budget: int | None = None,
) -> SearchSummary:
    """Counts and the best trial of a study."""
    trials = study.get_trials(deepcopy=False)
    best = top_trials(study, 1, config.search.direction)
    return SearchSummary(
        study_name=study.study_name,
        storage=mask_url(storage_url(config, storage)),
        budget=budget,
        n_complete=sum(1 for t in trials if t.state == TrialState.COMPLETE),
        n_pruned=sum(1 for t in trials if t.state == TrialState.PRUNED),
        n_failed=sum(1 for t in trials if is_failed_verdict(t)),
        n_running=sum(1 for t in trials if t.state == TrialState.RUNNING),
        n_new=sum(1 for t in trials if before is not None and t.number not in before and counts_toward_budget(t)),
        best_value=best[0].value if best else None,
        best_params=dict(best[0].params) if best else {},
        best_trial=best[0].number if best else None,
    )


# --------------------------------------------------------------------------- reading a study


def trial_row(t: FrozenTrial) -> dict[str, Any]:
    """One trial as plain data (what ``hpscout trials --json`` prints)."""
    status = t.user_attrs.get("status")
    if t.state == TrialState.COMPLETE:
        status = "complete"
    elif t.state == TrialState.PRUNED:
        status = "pruned"
    elif t.state != TrialState.FAIL:
        status = None
    duration = None
    if t.datetime_start is not None and t.datetime_complete is not None:
        duration = round((t.datetime_complete - t.datetime_start).total_seconds(), 3)
    value = t.value if t.value is not None and math.isfinite(t.value) else None
    retry_of = t.system_attrs.get("failed_trial")
    return {
        "number": t.number,
        "state": t.state.name,
        "value": value,
        "params": dict(t.params),
        "fraction": t.user_attrs.get("fraction"),
        "status": status,
        "result_path": t.user_attrs.get("result_path"),
        "duration_seconds": duration,
        "retry_of": retry_of,
        "message": t.user_attrs.get("message") or t.user_attrs.get("interrupted"),
        "metrics": t.user_attrs.get("metrics"),
    }


def trials_table(config: ExperimentConfig, storage: str | None = None, *, suffix: str = "") -> list[dict[str, Any]]:
    """Every trial of the study as a dict: number, state (COMPLETE|PRUNED|FAIL|RUNNING|WAITING),
    value, params, fraction (highest rung reached), status, result_path, duration_seconds.

    Example:
        >>> rows = trials_table(config)  # doctest: +SKIP
        >>> [r["number"] for r in rows if r["state"] == "COMPLETE"]  # doctest: +SKIP
    """
    study = load_study(config, storage=storage, suffix=suffix)
    return [trial_row(t) for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)]


def top_trials(study: optuna.Study, k: int, direction: str | StudyDirection | None = None) -> list[FrozenTrial]:
    """The ``k`` best COMPLETE trials with finite values; failed or diverged trials are never ranked.

    Ties go to the earlier trial.
    """
    if direction is None:
        direction = study.direction
    maximize = (direction == StudyDirection.MAXIMIZE) if isinstance(direction, StudyDirection) else str(direction).lower() == "maximize"
    done = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.value is not None and math.isfinite(t.value)
    ]
    done.sort(key=lambda t: ((-t.value if maximize else t.value), t.number))  # type: ignore[operator]
    return done[: max(0, int(k))]


def _absolute_data_paths(cfg: ExperimentConfig) -> ExperimentConfig:
    updates = {}
    for key in ("train", "eval"):
        value = getattr(cfg.data, key)
        if isinstance(value, str) and value and "://" not in value and not Path(value).is_absolute() and Path(value).exists():
            updates[f"data.{key}"] = str(Path(value).resolve())
    return apply_updates(cfg, updates, source="top config") if updates else cfg


def write_top_configs(config: ExperimentConfig, study: optuna.Study, k: int | None = None) -> list[Path]:
    """Write the ``k`` best trials (default ``search.top_k``) as ``<run_dir>/top/top1.yaml ...``.

    Each file is the base config with the trial's parameters applied and a header naming
    the study, trial number, value and fraction; ``hpscout train`` accepts it.
    """
    k = config.search.top_k if k is None else k
    layout = RunLayout.of(config)
    best = top_trials(study, k, config.search.direction)
    paths: list[Path] = []
    for i, t in enumerate(best, start=1):
        updates = params_to_updates(t.params, config.search.space, config)
        cfg = _absolute_data_paths(apply_updates(config, updates, source=f"trial {t.number} parameters"))
        frac = t.user_attrs.get("fraction")
        path = layout.top_dir / f"top{i}.yaml"
        header = "\n".join(
            [
                f"hpscout top-{i} of study '{study.study_name}'",
                f"trial {t.number}: {config.search.metric} = {t.value:.6g}" + (f" at fraction {frac:g}" if frac else ""),
                "parameters: " + ", ".join(f"{k_}={v!r}" for k_, v in updates.items()),
                f"train it: hpscout train {path}",
            ]
        )
        paths.append(save_config(cfg, path, header=header))
    if layout.top_dir.exists():
        for old in layout.top_dir.glob("top*.yaml"):
            stem = old.stem[3:]
            if stem.isdigit() and int(stem) > len(best):
                old.unlink()
    return paths

