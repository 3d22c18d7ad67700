"""Hyperparameter importance over the search trials, with Optuna's own evaluators.

Two views: PED-ANOVA (``optuna.importance.PedAnovaImportanceEvaluator``: which
parameters separate the top trials from the rest) and fANOVA
(``FanovaImportanceEvaluator``: the share of the objective's variance a
parameter explains, from a random forest; needs scikit-learn). Both are
normalised to sum to 1 (``optuna.importance.get_param_importances``).

Only COMPLETE trials at the top fraction are used (user attribute ``fraction``
equal to ``scout.fraction`` when the trial carries one): values measured at
different fractions are not comparable.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import optuna

from hpscout.analysis._analysis_file import write_section
from hpscout.config import ExperimentConfig
from hpscout.search import load_study

__all__ = ["MIN_TRIALS", "best_first", "importance_from_trials", "compute_importance", "top_fraction_trials"]

#: fewer COMPLETE trials than this give an explicit "not enough trials" entry
MIN_TRIALS = 3


def top_fraction_trials(study: Any, fraction: float) -> list[Any]:
    """COMPLETE trials with a finite value measured at ``fraction`` (trials without the attribute count)."""
    out = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        if t.value is None or not math.isfinite(t.value):
            continue
        frac = t.user_attrs.get("fraction")
        if frac is not None and not math.isclose(float(frac), fraction, rel_tol=1e-9):
            continue
        out.append(t)
    return out


def best_first(study: Any, config: ExperimentConfig) -> list[Any]:
    """:func:`top_fraction_trials` at ``scout.fraction``, best first (ties keep the study's order)."""
    sign = 1 if config.greater_is_better else -1
    return sorted(top_fraction_trials(study, config.scout.fraction), key=lambda t: -sign * t.value)


def importance_from_trials(
    trials: Sequence[Any], *, direction: str, seed: int = 0, min_trials: int = MIN_TRIALS
) -> dict[str, Any]:
    """PED-ANOVA and fANOVA importances of the parameters shared by ``trials``.

    Args:
        trials: COMPLETE ``FrozenTrial``s (with distributions), all measured at one fraction.
        direction: the study direction.
        seed: fANOVA's random-forest seed.
        min_trials: below this, return a "not enough trials" entry instead of numbers.

    Returns:
        ``{"status", "n_trials", "params", "ped_anova", "fanova", "normalized", "note"}``; an evaluator
        that fails records ``{"error": message}`` in its place.

    Example:
        >>> importance_from_trials([], direction="minimize")["status"]
        'not enough trials'
    """
    from optuna.importance import (  # lazy: it imports scikit-learn, scipy and pandas
        FanovaImportanceEvaluator,
        PedAnovaImportanceEvaluator,
        get_param_importances,
    )

    if direction not in ("maximize", "minimize"):
        raise ValueError(f"direction must be 'maximize' or 'minimize', but got {direction!r}")
    n = len(trials)
    out: dict[str, Any] = {"n_trials": n, "normalized": True, "ped_anova": None, "fanova": None, "note": None}
    shared = set(trials[0].params) if trials else set()
    for t in trials[1:]:
        shared &= set(t.params)
    # a parameter that never changed explains nothing; leaving it in only adds noise to fANOVA's forest
    params = sorted(p for p in shared if len({repr(t.params[p]) for t in trials}) > 1)
    out["params"] = params
    if n < min_trials:
        out["status"] = "not enough trials"
        out["note"] = f"importance needs >= {min_trials} COMPLETE trials at the top fraction, but there are {n}"
        return out
    if len(params) < 2:
        out["status"] = "not enough parameters"
        out["note"] = (
            f"importance compares parameters, but only {len(params)} searched parameter varies across the trials "
            f"({', '.join(params) or 'none'})"
        )
        return out

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the scratch study is an implementation detail: no INFO line
    try:
        study = optuna.create_study(direction="maximize" if direction == "maximize" else "minimize")  # typed literal
    finally:
        optuna.logging.set_verbosity(level)
    study.add_trials(list(trials))
    evaluators = {
        "ped_anova": PedAnovaImportanceEvaluator(),
        "fanova": FanovaImportanceEvaluator(seed=seed),
    }
    for name, evaluator in evaluators.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                values = get_param_importances(study, evaluator=evaluator, params=params, normalize=True)
            out[name] = {k: float(v) for k, v in values.items()}
        except (ValueError, RuntimeError, ImportError) as exc:
            # recorded in the output, not hidden: one evaluator failing must not lose the other
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
    out["status"] = "ok"
    return out


def compute_importance(
    config: ExperimentConfig, *, storage: str | None = None, study: Any = None, write: bool = True
) -> dict[str, Any]:
    """Importance over the search study's COMPLETE trials at ``scout.fraction``; writes ``importance``.

    Example:
        >>> compute_importance(cfg)["fanova"]  # doctest: +SKIP
        {'train.learning_rate': 0.81, 'train.lora.r': 0.19}
    """
    if study is None:
        study = load_study(config, storage=storage)
    trials = top_fraction_trials(study, config.scout.fraction)
    section = importance_from_trials(trials, direction=config.search.direction, seed=config.seed)
    section.update({"fraction": config.scout.fraction, "metric": config.search.metric, "study": study.study_name})
    if write:
        write_section(config, "importance", section)
    return section
