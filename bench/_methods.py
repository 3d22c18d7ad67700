"""The search methods the benchmark compares, all on the installed Optuna.

A method turns (scenario fidelity, seed) into a :class:`Plan`: an Optuna
sampler and pruner, the ladder of fidelity fractions its trials climb, and the
function that runs one trial's rungs. The harness owns everything else (the
search space, the budget ledger, scoring), so every method is charged and
scored the same way.

* ``hpscout`` -- what ``hpscout run`` does out of the box, built by the package itself:
  the search with ``DEFAULT_STRATEGY`` (``make_sampler``/``make_pruner``/``run_rungs``)
  on ``ScoutConfig()``'s ladder, then the transfer check with ``TransferConfig()``'s
  defaults: the top ``k`` (``hpscout.search.top_trials``) re-run at
  ``TransferConfig().resolve_fraction(scout fraction)``; the incumbent is the best re-run,
  as ``choose_final`` picks. Run anytime: every configuration that enters the top-k is
  re-run as soon as it does (see :func:`transfer_every_topk_entrant`). Nothing is copied.
* ``hpscout-ladder3`` (only on request) -- the same workflow on the example configs'
  three-rung ladder 1% < 2% < 5%.
* ``hpscout-search-only`` (only on request) -- ``DEFAULT_STRATEGY`` alone on the eta=3
  ladder up to maximum fidelity: what this benchmark called ``hpscout`` before the
  workflow was benchmarked (effectively TPE + Hyperband).
* ``hpscout-scout`` (only on request) -- the search on ``ScoutConfig``'s default ladder
  (one rung at 5%) with no transfer check: picks at the scout fraction.
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
EvaluateTrial = Callable[[int, float], float]


@dataclass(frozen=True)
class Plan:
    """How one method runs on one scenario with one seed."""

    sampler: optuna.samplers.BaseSampler
    pruner: optuna.pruners.BasePruner
    #: Ascending fractions of the maximum fidelity that a trial climbs.
    ladder: tuple[float, ...]
    #: Runs one trial: evaluate its rungs (``evaluate(fraction) -> value``), report, prune.
    run_trial: Callable[[optuna.Trial, Evaluate], float]
    #: Called after every finished trial with the study, the trial and
    #: ``evaluate_trial(number, fraction) -> value`` (re-evaluates an earlier trial's
    #: configuration, charged to the budget like any evaluation); None for most methods.
    after_trial: Callable[[optuna.Study, Any, EvaluateTrial], None] | None = None


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
    from hpscout.config import ParamSpec

    def when_of(conds: Sequence[Any]) -> dict[str, Any] | None:
        if not conds:
            return None
        from ConfigSpace import conditions as C  # only scenarios with conditions need ConfigSpace

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


def _hpscout_search_only(seed: int, min_fraction: float, params: Sequence[Any]) -> Plan:
    return _hpscout_plan(seed, params, hpscout_ladder(min_fraction))


def transfer_every_topk_entrant(k: int, fraction: float) -> Callable[[optuna.Study, Any, EvaluateTrial], None]:
    """The workflow's transfer check, run anytime: re-evaluate at ``fraction`` every trial
    that enters the search's top ``k`` (``hpscout.search.top_trials``) and was not re-run yet.

    The workflow re-runs the final top-k once, after the search; a budget-based benchmark
    needs an answer at every budget, so here each configuration that is ever in the top-k
    gets its re-run as soon as it gets there. That is a superset of the final top-k
    (about k * ln(n / k) extra re-runs after n trials): the cost is charged, never hidden.
    The incumbent is then the best re-run, which is how ``choose_final`` picks.
    """
    from hpscout.search import top_trials

    done: set[int] = set()

    def after_trial(study: optuna.Study, trial: Any, evaluate_trial: EvaluateTrial) -> None:
        for t in top_trials(study, k):
            if t.number not in done:
                done.add(t.number)
                evaluate_trial(t.number, fraction)

    return after_trial


def _workflow_plan(seed: int, min_fraction: float, params: Sequence[Any], scout: Any) -> Plan:
    """hpscout's default workflow: the search on ``scout.fidelities``, then the transfer check
    with ``TransferConfig``'s defaults (k configs at 4 x the scout fraction)."""
    from hpscout.config import TransferConfig

    transfer = TransferConfig()
    plan = _hpscout_plan(seed, params, _clip_ladder(scout.fidelities, min_fraction))
    large = max(transfer.resolve_fraction(scout.fraction), min_fraction)
    return Plan(plan.sampler, plan.pruner, plan.ladder, plan.run_trial, transfer_every_topk_entrant(transfer.k, large))


def _hpscout(seed: int, min_fraction: float, params: Sequence[Any]) -> Plan:
    """What ``hpscout run`` does out of the box: ``ScoutConfig()`` and ``TransferConfig()`` defaults."""
    from hpscout.config import ScoutConfig

    return _workflow_plan(seed, min_fraction, params, ScoutConfig())


def _hpscout_ladder3(seed: int, min_fraction: float, params: Sequence[Any]) -> Plan:
    """The workflow with the example configs' three-rung ladder 1% < 2% < 5% (Hyperband prunes between rungs)."""
    from hpscout.config import ScoutConfig

    return _workflow_plan(seed, min_fraction, params, ScoutConfig(fraction=0.05, fidelities=[0.01, 0.02, 0.05]))


def _hpscout_scout(seed: int, min_fraction: float, params: Sequence[Any]) -> Plan:
    """hpscout's default strategy on its default scouting ladder (``ScoutConfig().fidelities``)."""
    from hpscout.config import ScoutConfig

    return _hpscout_plan(seed, params, _clip_ladder(ScoutConfig().fidelities, min_fraction))


#: name -> (builder, one-line description), in the order tables list them.
METHODS: dict[str, tuple[Callable[[int, float, Sequence[Any]], Plan], str]] = {
    "hpscout": (
        _hpscout,
        "hpscout's default workflow: DEFAULT_STRATEGY search on ScoutConfig()'s ladder, "
        "then TransferConfig()'s transfer check (top-k re-run at 4x the scout fraction)",
    ),
    "random": (_random, "Optuna RandomSampler, every trial at max fidelity"),
    "tpe": (_tpe, "Optuna TPESampler, no pruning"),
    "tpe-median": (_tpe_median, "TPESampler + MedianPruner on the eta=3 ladder"),
    "tpe-hyperband": (_tpe_hyperband, "TPESampler + HyperbandPruner(eta=3) on the eta=3 ladder"),
    "random-sha": (_random_sha, "RandomSampler + SuccessiveHalvingPruner(eta=3) on the eta=3 ladder"),
    # Extras, not run unless asked (--methods).
    "hpscout-ladder3": (
        _hpscout_ladder3,
        "hpscout's workflow with the 1% < 2% < 5% ladder of the example configs",
    ),
    "hpscout-search-only": (
        _hpscout_search_only,
        "DEFAULT_STRATEGY alone on the eta=3 ladder up to max fidelity (no scout fraction, no transfer)",
    ),
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
