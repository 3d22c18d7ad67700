"""The search methods the benchmark compares, all on the installed Optuna.

A method turns (scenario fidelity, seed) into a :class:`Plan`: an Optuna
sampler and pruner, the ladder of fidelity fractions its trials climb, and the
function that runs one trial's rungs. The harness owns everything else (the
search space, the budget ledger, scoring), so every method is charged and
scored the same way.

* ``hpscout`` -- hpscout's default strategy, built by the package itself
  (:mod:`hpscout.search`): ``make_sampler``/``make_pruner`` with
  ``DEFAULT_STRATEGY``'s names and settings, and ``run_rungs`` for each trial.
  Nothing of it is copied here. ``DEFAULT_STRATEGY`` names no ladder (hpscout
  takes it from the user's ``scout.fidelities``), so the ladder is the same
  geometric eta=3 one the baselines climb (see :func:`hpscout_ladder`).
* ``hpscout-scout`` (only on request) -- the same strategy on ``ScoutConfig``'s
  default ladder (one rung at 5%): hpscout out of the box, picking at 5%.
* ``random`` / ``tpe`` -- every trial trains at the maximum fidelity.
* ``tpe-median`` / ``tpe-hyperband`` / ``random-sha`` -- Optuna's pruners with
  their default settings, except that the reduction factor is 3 (SHA's default
  is 4) so that it matches the ladder: fractions ``1/27, 1/9, 1/3, 1`` of the
  maximum fidelity (as many eta=3 rungs as fit above the scenario's minimum),
  reported at steps ``1, 3, 9, 27``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import optuna

#: The reduction factor of the baselines' geometric ladder (Hyperband's usual eta).
ETA = 3

Evaluate = Callable[[float], float]


@dataclass(frozen=True)
class Plan:
    """How one method runs on one scenario with one seed."""

    sampler: optuna.samplers.BaseSampler
    pruner: optuna.pruners.BasePruner
    #: Ascending fractions of the maximum fidelity that a trial climbs.
    ladder: tuple[float, ...]
    #: Runs one trial: evaluate its rungs (``evaluate(fraction) -> value``), report, prune.
    run_trial: Callable[[optuna.Trial, Evaluate], float]


def geometric_ladder(min_fraction: float, eta: int = ETA) -> tuple[float, ...]:
    """``1, 1/eta, 1/eta**2, ...`` down to the smallest one >= ``min_fraction``, ascending."""
    if not 0 < min_fraction <= 1:
        raise ValueError(f"min_fraction must be in (0, 1], but got {min_fraction}")
    rungs = [1.0]
    while rungs[-1] / eta >= min_fraction - 1e-12:
        rungs.append(rungs[-1] / eta)
    return tuple(reversed(rungs))


def _full_fidelity(trial: optuna.Trial, evaluate: Evaluate) -> float:
    return evaluate(1.0)


def _climb(ladder: Sequence[float]) -> Callable[[optuna.Trial, Evaluate], float]:
    """Evaluate each rung, report at steps eta**k, stop when the pruner says so."""
    steps = [ETA**k for k in range(len(ladder))]

    def run_trial(trial: optuna.Trial, evaluate: Evaluate) -> float:
        value = float("nan")
        for k, (fraction, step) in enumerate(zip(ladder, steps, strict=True)):
            value = evaluate(fraction)
            trial.report(value, step)
            if k < len(ladder) - 1 and trial.should_prune():
                raise optuna.TrialPruned(f"pruned at rung {fraction:.4g}")
        return value

    return run_trial


def _random(seed: int, min_fraction: float, params: Sequence[Any]) -> Plan:
    return Plan(optuna.samplers.RandomSampler(seed=seed), optuna.pruners.NopPruner(), (1.0,), _full_fidelity)


def _tpe(seed: int, min_fraction: float, params: Sequence[Any]) -> Plan:
    return Plan(optuna.samplers.TPESampler(seed=seed), optuna.pruners.NopPruner(), (1.0,), _full_fidelity)


def _tpe_median(seed: int, min_fraction: float, params: Sequence[Any]) -> Plan:
    ladder = geometric_ladder(min_fraction)
    return Plan(optuna.samplers.TPESampler(seed=seed), optuna.pruners.MedianPruner(), ladder, _climb(ladder))


def _tpe_hyperband(seed: int, min_fraction: float, params: Sequence[Any]) -> Plan:
    ladder = geometric_ladder(min_fraction)
    pruner = optuna.pruners.HyperbandPruner(
        min_resource=1, max_resource=ETA ** (len(ladder) - 1), reduction_factor=ETA
    )
    return Plan(optuna.samplers.TPESampler(seed=seed), pruner, ladder, _climb(ladder))


def _random_sha(seed: int, min_fraction: float, params: Sequence[Any]) -> Plan:
    ladder = geometric_ladder(min_fraction)
    pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=ETA)
    return Plan(optuna.samplers.RandomSampler(seed=seed), pruner, ladder, _climb(ladder))


def _clip_ladder(ladder: Sequence[float], min_fraction: float) -> tuple[float, ...]:
    """Rungs below the scenario's smallest fidelity move up to it (duplicates dropped)."""
    rungs = sorted({max(float(f), min_fraction) for f in ladder})
    return tuple(rungs)


def hpscout_ladder(min_fraction: float) -> tuple[float, ...]:
    """hpscout's default ladder on a scenario, as fractions of the maximum fidelity.

    ``DEFAULT_STRATEGY.ladder`` when hpscout's default strategy defines one (rungs
    below the scenario's minimum are raised to it); otherwise the geometric eta=3
    ladder up to the maximum fidelity, the same rungs the pruned baselines climb.
    """
    from hpscout.search import DEFAULT_STRATEGY

    ladder = getattr(DEFAULT_STRATEGY, "ladder", None)
    if ladder:
        return _clip_ladder(ladder, min_fraction)
    return geometric_ladder(min_fraction)


def hpscout_space(params: Sequence[Any]) -> dict[str, Any]:
    """The scenario's space as hpscout ``ParamSpec``s (``when`` from ConfigSpace conditions).

    hpscout's sampler reads the space only to see whether it is conditional
    (multivariate TPE then groups parameters); sampling itself goes through the
    harness's ``suggest`` so every method samples the same space the same way.
    """
    from ConfigSpace import conditions as C

    from hpscout.config import ParamSpec

    def when_of(conds: Sequence[Any]) -> dict[str, Any] | None:
        when: dict[str, Any] = {}
        stack = list(conds)
        while stack:
            c = stack.pop()
            if isinstance(c, C.EqualsCondition):
                when[c.parent.name] = c.value
            elif isinstance(c, C.InCondition):
                when[c.parent.name] = list(c.values)
            elif isinstance(c, C.AndConjunction):
                stack.extend(c.components)
            else:  # other condition types have no `when` form; the parameter still samples conditionally
                return None
        return when or None

    out = {}
    for p in params:
        when = when_of(p.conditions)
        if p.kind == "categorical":
            out[p.name] = ParamSpec(type="categorical", choices=list(p.choices), when=when)
        else:
            out[p.name] = ParamSpec(type=p.kind, low=p.low, high=p.high, log=p.log, when=when)
    return out


def _hpscout_plan(seed: int, params: Sequence[Any], ladder: tuple[float, ...]) -> Plan:
    from hpscout.search import DEFAULT_STRATEGY, make_pruner, make_sampler, run_rungs

    if DEFAULT_STRATEGY.fidelity != "fraction":
        raise NotImplementedError(
            f"the harness runs fraction fidelities, but DEFAULT_STRATEGY.fidelity is {DEFAULT_STRATEGY.fidelity!r}"
        )
    sampler = make_sampler(
        DEFAULT_STRATEGY.sampler,
        seed=seed,
        space=hpscout_space(params),
        **dict(DEFAULT_STRATEGY.sampler_kwargs),
    )
    pruner = make_pruner(
        DEFAULT_STRATEGY.pruner,
        ladder=list(ladder),
        fidelity="fraction",
        **dict(DEFAULT_STRATEGY.pruner_kwargs),
    )

    def run_trial(trial: optuna.Trial, evaluate: Evaluate) -> float:
        return run_rungs(trial, evaluate, list(ladder))

    return Plan(sampler, pruner, ladder, run_trial)


def _hpscout(seed: int, min_fraction: float, params: Sequence[Any]) -> Plan:
    return _hpscout_plan(seed, params, hpscout_ladder(min_fraction))


def _hpscout_scout(seed: int, min_fraction: float, params: Sequence[Any]) -> Plan:
    """hpscout's default strategy on its default scouting ladder (``ScoutConfig().fidelities``)."""
    from hpscout.config import ScoutConfig

    return _hpscout_plan(seed, params, _clip_ladder(ScoutConfig().fidelities, min_fraction))


#: name -> (builder, one-line description), in the order tables list them.
METHODS: dict[str, tuple[Callable[[int, float, Sequence[Any]], Plan], str]] = {
    "hpscout": (
        _hpscout,
        "hpscout's default strategy (hpscout.search.DEFAULT_STRATEGY), ladder from hpscout_ladder()",
    ),
    "random": (_random, "Optuna RandomSampler, every trial at max fidelity"),
    "tpe": (_tpe, "Optuna TPESampler, no pruning"),
    "tpe-median": (_tpe_median, "TPESampler + MedianPruner on the eta=3 ladder"),
    "tpe-hyperband": (_tpe_hyperband, "TPESampler + HyperbandPruner(eta=3) on the eta=3 ladder"),
    "random-sha": (_random_sha, "RandomSampler + SuccessiveHalvingPruner(eta=3) on the eta=3 ladder"),
    # Extra, not run unless asked (--methods): hpscout out of the box, scouting on its default 5% fraction only.
    "hpscout-scout": (
        _hpscout_scout,
        "hpscout's default strategy on ScoutConfig's default ladder (picks at the top scout rung)",
    ),
}
#: What runs when --methods is not given.
DEFAULT_METHODS = ("hpscout", "random", "tpe", "tpe-median", "tpe-hyperband", "random-sha")
#: The reference method for ``budget_to_match_tpe``.
REFERENCE_METHOD = "tpe"
#: The method whose claims the verdict checks.
CANDIDATE_METHOD = "hpscout"


def build(name: str, seed: int, min_fraction: float, params: Sequence[Any]) -> Plan:
    """The :class:`Plan` of method ``name`` for a scenario.

    Args:
        seed: the run's seed (the same for every method: runs are paired).
        min_fraction: the scenario's smallest fidelity as a fraction of its maximum.
        params: the scenario's searchable parameters (``_yahpo.Param``).
    """
    if name not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, but got {name!r}")
    return METHODS[name][0](seed, min_fraction, params)
