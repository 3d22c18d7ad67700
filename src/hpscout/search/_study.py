"""The study lifecycle: check a search before it starts, create or resume its study, load it back.

A study is ``config.name`` (plus a suffix such as ``-ablation``) in the storage of
:func:`hpscout.search.resolve_storage`. Opening it again with the same config resumes it:
the budget (:func:`budget_of`) counts every trial with an outcome, old or new, so a resumed
search only adds trials up to it. How workers claim trials under that budget is
:mod:`hpscout.search._claim`; running one trial is :mod:`hpscout.search._trial`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
from optuna.study import StudyDirection

from hpscout._errors import SearchError, StorageError
from hpscout.config import ExperimentConfig, dump_config
from hpscout.runner import validate_trial_config
from hpscout.search._fidelity import check_ladder
from hpscout.search._pruners import make_pruner
from hpscout.search._samplers import default_startup_trials, make_sampler
from hpscout.search._space import grid_cells, validate_space
from hpscout.search._storage import is_storage_outage, mask_url, resolve_storage, storage_kind, storage_url

__all__ = [
    "budget_of",
    "validate_search",
    "open_study",
    "load_study",
    "storage_warnings",
    "quiet_optuna",
]


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
        validate_trial_config(config, ladder[0])


def sampler_seed(seed: int, seed_offset: int = 0, resumed_after: int = 0) -> int:
    """The sampler seed of a worker: ``seed + seed_offset`` on a new study.

    A study that already holds ``resumed_after`` trials gets a seed mixed from all three, so
    the resumed sampler does not replay the random draws the study already made (a seeded
    sampler restarts its sequence: a search continued to more trials, or restarted after a
    crash, would otherwise repeat its first trials' parameters). Still deterministic: the same
    study resumed the same way draws the same trials.
    """
    if not resumed_after:
        return seed + seed_offset
    import numpy as np

    return int(np.random.SeedSequence([seed, seed_offset, resumed_after]).generate_state(1)[0])


def _make_sampler(config: ExperimentConfig, seed_offset: int, resumed_after: int = 0) -> optuna.samplers.BaseSampler:
    kwargs = dict(config.search.sampler_kwargs)
    if config.search.sampler.lower() == "tpe" and "n_startup_trials" not in kwargs:
        kwargs["n_startup_trials"] = default_startup_trials(config.search.trials)
    seed = sampler_seed(config.seed, seed_offset, resumed_after)
    return make_sampler(config.search.sampler, seed=seed, space=config.search.space or None, **kwargs)


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
    ``seed_offset`` gives parallel workers different sampler seeds; a study that already
    has trials gets a fresh one (:func:`sampler_seed`), so resuming never repeats old draws.

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
        with quiet_optuna():
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
    existing = len(study.get_trials(deepcopy=False))
    if existing:
        study.sampler = _make_sampler(config, seed_offset, resumed_after=existing)
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


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna's per-trial INFO lines would interleave with hpscout's progress table."""
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)
