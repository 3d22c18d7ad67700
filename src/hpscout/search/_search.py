"""``hpscout search``: validate, open or resume the study, run its workers to the budget, write the top-k configs."""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable
from typing import Any, TypedDict

from hpscout._errors import SearchError
from hpscout.config import ExperimentConfig, save_config
from hpscout.search._claim import make_context, work
from hpscout.search._devices import apply_threads
from hpscout.search._objective import resolve_objective
from hpscout.search._progress import Progress, show_trials
from hpscout.search._results import SearchSummary, summarize, write_top_configs
from hpscout.search._study import budget_of, open_study, validate_search
from hpscout.search._workers import run_local_workers
from hpscout.store import RunLayout

__all__ = ["SearchOptions", "run_search"]


class SearchOptions(TypedDict, total=False):
    """The keyword arguments of :func:`run_search`, for functions that pass them on."""

    storage: str | None
    trials: int | None
    workers: int | None
    objective: Callable[..., Any] | str | None
    progress: bool


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
    total budget, counted as described in :mod:`hpscout.search._claim`); runs ``workers``
    local processes (default ``search.workers``; one per GPU when GPUs exist); then writes
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
    prog = Progress.for_search(config, budget, enabled=progress)
    before = {t.number for t in study.get_trials(deepcopy=False)}
    deadline = start + config.search.timeout if config.search.timeout is not None else None
    errors: list[str] = []
    try:
        if n_workers == 1:
            apply_threads(config.search.threads)
            ctx = make_context(config, budget=budget, objective=fn, progress=prog, deadline=deadline)
            show_trials(prog, study)
            work(study, ctx)
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
    try:
        pickle.dumps(fn)
    except Exception as exc:
        raise SearchError(
            f"with --workers > 1 the objective must be a module-level function (worker processes import it), "
            f"but {getattr(fn, '__qualname__', fn)!r} cannot be pickled: {exc}"
        ) from None
