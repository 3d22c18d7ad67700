"""The search methods the benchmark compares, all on the installed Optuna.

A method turns (seed, what it may know of the scenario: :class:`Facts`) into a
:class:`Plan`: an Optuna sampler and pruner, the ladder of fidelity fractions its
trials climb, the function that runs one trial's rungs, and optionally what it does
after each trial (re-runs, a transfer check) through a :class:`Context`. The harness
owns everything else (the search space, the budget ledger, scoring), so every method
is charged and scored the same way.

* ``hpscout`` -- what ``hpscout run`` does out of the box (issue 14), built by the package:
  the ladder ``ScoutConfig()`` gives after the step floor (``hpscout.search.resolve_scout``;
  only where the scenario knows its optimizer steps -- the real fine-tuning table; YAHPO
  has no steps, so its ladder stays ``ScoutConfig().fidelities``), the search with
  ``DEFAULT_STRATEGY``, then the *climbing* transfer check with ``TransferConfig()``'s
  defaults: the top ``k`` re-run one rung at a time up ``TransferConfig.climb_fractions``,
  as far as ``hpscout.analysis.climb_cost`` lets ``transfer.budget`` go; after each rung
  ``hpscout.analysis.soft_agreement`` compares the two largest rungs with epsilon = seed
  noise (the rung's top config re-run with one more seed: :meth:`Context.seed_noise`);
  stop on agreement; the pick is the best at the highest rung reached. Run anytime: the
  climb runs after every trial on the current top-k; each (config, rung) and each
  epsilon run is evaluated and charged once (see :func:`climb_after_every_trial`).
* ``hpscout-v1`` -- round 2's default: ``ScoutConfig(min_steps=0)``'s ladder (5%), the
  one-shot check (``TransferConfig(climb=False)``: the top-k re-run at 4 x 5% = 20%);
  the pick is the best re-run. Anytime: each top-k entrant is re-run when it enters.
* ``naive-5pct`` -- the same search on 5% of the data; the pick is the best at 5%, no check.
* ``random`` / ``tpe`` -- every trial trains at the maximum fidelity (the full data).
* ``tpe-median`` / ``tpe-hyperband`` / ``random-sha`` -- Optuna's pruners with
  their default settings, except that the reduction factor is 3 (SHA's default
  is 4) so that it matches the ladder: fractions ``..., 1/27, 1/9, 1/3, 1`` of the
  maximum fidelity (as many eta=3 rungs as fit above the scenario's minimum),
  reported at steps ``1, 3, 9, ...``.
* Extras (only on request): ``hpscout-unbounded`` (the climb with ``transfer.budget:
  null``: how far it climbs when the budget does not stop it), ``hpscout-ladder3``
  (round 2's workflow on the example configs' ladder 1% < 2% < 5%),
  ``hpscout-search-only`` (``DEFAULT_STRATEGY`` alone on the eta=3 ladder up to the
  maximum fidelity), ``hpscout-scout`` (the search on ``ScoutConfig``'s written ladder,
  picking there; the same as ``naive-5pct`` while that ladder is 5%).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import optuna

#: The reduction factor of the baselines' geometric ladder (Hyperband's usual eta).
ETA = 3
#: Where ``naive-5pct`` picks.
NAIVE_FRACTION = 0.05

Evaluate = Callable[[float], float]


class Context(Protocol):
    """What a method's after-trial step may do; every call that trains is charged to the budget."""

    def cost(self, fraction: float) -> float:
        """What one run at ``fraction`` is charged (the scenario's fidelity resolution)."""
        ...

    def evaluate(self, number: int, fraction: float) -> float:
        """Re-run trial ``number``'s configuration at ``fraction`` (same seed) and return its value."""
        ...

    def seed_noise(self, number: int, fraction: float) -> float | None:
        """Re-run trial ``number``'s configuration at ``fraction`` with one more seed; the |difference|
        from its first seed (None: the scenario cannot tell)."""
        ...

    def pick(self, number: int) -> None:
        """Declare trial ``number`` the method's pick from now on (its incumbent)."""
        ...

    def note(self, **info: Any) -> None:
        """Attach plain data about this step (climb decisions) to the run's trace."""
        ...


AfterTrial = Callable[[optuna.Study, Any, Context], None]


@dataclass(frozen=True)
class Facts:
    """What a method may know of a scenario.

    Attributes:
        min_fraction: the smallest fidelity as a fraction of the maximum.
        params: the searchable parameters (``_yahpo.Param``).
        train_rows: training rows at fraction 1.0 when the scenario trains on data rows and
            counts optimizer steps (the fine-tuning table); None: no steps (YAHPO), no step floor.
        config: the ``ExperimentConfig`` the scenario's runs trained with (batch, epochs and
            space for the step floor); None: a minimal config (only ``scout``/``transfer`` matter).
        max_fraction: the largest fraction the scenario measures (a climb does not go above it).
    """

    min_fraction: float
    params: Sequence[Any]
    train_rows: int | None = None
    config: Any = None
    max_fraction: float = 1.0


@dataclass(frozen=True)
class Plan:
    """How one method runs on one scenario with one seed."""

    sampler: optuna.samplers.BaseSampler
    pruner: optuna.pruners.BasePruner
    #: Ascending fractions of the maximum fidelity that a trial climbs.
    ladder: tuple[float, ...]
    #: Runs one trial: evaluate its rungs (``evaluate(fraction) -> value``), report, prune.
    run_trial: Callable[[optuna.Trial, Evaluate], float]
    #: Called after every finished trial with the study, the trial and a :class:`Context`; None for most methods.
    after_trial: AfterTrial | None = None
    #: Plain data for reports: the ladder after the step floor, the climb's rungs, ...
    info: dict[str, Any] = field(default_factory=dict)


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


def _random(seed: int, facts: Facts) -> Plan:
    return Plan(optuna.samplers.RandomSampler(seed=seed), optuna.pruners.NopPruner(), (1.0,), _full_fidelity)


def _tpe(seed: int, facts: Facts) -> Plan:
    return Plan(optuna.samplers.TPESampler(seed=seed), optuna.pruners.NopPruner(), (1.0,), _full_fidelity)


def _tpe_median(seed: int, facts: Facts) -> Plan:
    ladder = geometric_ladder(facts.min_fraction)
    return Plan(optuna.samplers.TPESampler(seed=seed), optuna.pruners.MedianPruner(), ladder, _climb(ladder))


def _tpe_hyperband(seed: int, facts: Facts) -> Plan:
    ladder = geometric_ladder(facts.min_fraction)
    pruner = optuna.pruners.HyperbandPruner(
        min_resource=1, max_resource=ETA ** (len(ladder) - 1), reduction_factor=ETA
    )
    return Plan(optuna.samplers.TPESampler(seed=seed), pruner, ladder, _climb(ladder))


def _random_sha(seed: int, facts: Facts) -> Plan:
    ladder = geometric_ladder(facts.min_fraction)
    pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=ETA)
    return Plan(optuna.samplers.RandomSampler(seed=seed), pruner, ladder, _climb(ladder))


def _clip_ladder(ladder: Sequence[float], min_fraction: float) -> tuple[float, ...]:
    """Rungs below the scenario's smallest fidelity move up to it (duplicates dropped)."""
    rungs = sorted({max(float(f), min_fraction) for f in ladder})
    return tuple(rungs)


def hpscout_ladder(min_fraction: float) -> tuple[float, ...]:
    """hpscout's default strategy's ladder on a scenario, as fractions of the maximum fidelity.

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

    return Plan(sampler, pruner, ladder, run_trial, info={"ladder": list(ladder)})


def _hpscout_search_only(seed: int, facts: Facts) -> Plan:
    return _hpscout_plan(seed, facts.params, hpscout_ladder(facts.min_fraction))


# ----------------------------------------------------------------------------- the workflow's pieces


def bench_config(facts: Facts, scout: Any = None, transfer: Any = None) -> Any:
    """The scenario's ``ExperimentConfig`` with ``scout``/``transfer`` (default: their defaults, as
    ``hpscout run`` has them out of the box). Only the keys the package's ladder and climb rules
    read matter: batch, epochs and space (the step floor), scout and transfer."""
    from hpscout.config import ScoutConfig, TransferConfig, config_from_dict

    base = (
        facts.config
        if facts.config is not None
        else config_from_dict({"name": "bench", "data": {"train": "bench.csv"}})
    )
    return base.model_copy(update={"scout": scout or ScoutConfig(), "transfer": transfer or TransferConfig()})


def resolved_ladder(facts: Facts, config: Any) -> tuple[Any, dict[str, Any]]:
    """``config`` with the ladder in force, and what the floor did (plain data for reports).

    With ``facts.train_rows`` the step floor applies (``hpscout.search.resolve_scout``);
    without (no optimizer steps: YAHPO), the written ladder stays and the report says why.
    """
    from hpscout.search import resolve_scout

    if facts.train_rows is None:
        return config, {
            "fidelities": list(config.scout.fidelities),
            "fraction": config.scout.fraction,
            "floor": "not applied: the scenario has no optimizer steps (the written ladder stays)",
        }
    resolved, plan = resolve_scout(config, train_rows=facts.train_rows)
    return resolved, {**plan.to_dict(), "fidelities": plan.fidelities, "floor": plan.message()}


def _best(values: Sequence[float | None], maximize: bool) -> int:
    """Index of the best finite value (ties: the first)."""
    sign = 1.0 if maximize else -1.0
    finite = [i for i, v in enumerate(values) if v is not None and math.isfinite(v)]
    return max(finite, key=lambda i: (sign * float(values[i]), -i))  # type: ignore[arg-type]


def separated(values: Sequence[float | None], epsilon: float | None, maximize: bool) -> bool:
    """Does the best finished value lead every other one by more than ``epsilon``? (the rung resolves its pick)

    Example:
        >>> separated([0.86, 0.85, 0.80], 0.005, True), separated([0.86, 0.85, 0.80], 0.02, True)
        (True, False)
    """
    sign = 1.0 if maximize else -1.0
    done = sorted((sign * float(v) for v in values if v is not None and math.isfinite(v)), reverse=True)
    if len(done) < 2:
        return False
    return done[0] - done[1] > max(0.0, epsilon or 0.0)


def climb_after_every_trial(
    config: Any, rungs: Sequence[float], stop_reason: str, *, resolve: bool = False
) -> AfterTrial:
    """The climbing transfer check of ``hpscout.analysis.run_transfer``, run after every trial.

    On the current top ``transfer.k`` (``hpscout.search.top_trials``, values at the scout
    fraction) it climbs ``rungs`` (the climb fractions ``climb_cost`` allows): at each rung
    every config is evaluated, and the rung's top config is re-run with one more seed for
    epsilon (``_rung_epsilon``'s rule: |difference| of two single runs); the two largest rungs
    are compared with ``soft_agreement`` at epsilon = the larger of the two rungs' (the first
    rung is compared with the search's values, whose epsilon is not measured); the climb stops
    on agreement, at the full data or after the last allowed rung (``stop_reason``: "budget"
    or "max_fraction"). The pick is the best at the highest rung reached. With ``resolve``
    (a candidate rule), agreement also needs the larger rung to separate its best from the
    runner-up by more than epsilon (:func:`separated`): top configs tied within the noise are
    not taken as settled.

    A (trial, rung) value and a rung's epsilon run are evaluated once and reused by later
    climbs (run_transfer resumes the same way), so a climb after trial n pays only for
    configs that are new to the top-k. That is a superset of the one climb ``hpscout run``
    makes after its last trial: the cost is charged, never hidden.
    """
    from hpscout.analysis import soft_agreement
    from hpscout.search import top_trials

    k, direction = config.transfer.k, config.search.direction
    values: dict[tuple[int, float], float] = {}
    noise: dict[tuple[int, float], float | None] = {}

    def after_trial(study: optuna.Study, trial: Any, ctx: Context) -> None:
        maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
        ranked = top_trials(study, k)
        if len(ranked) < 2 or not rungs:
            return  # run_transfer needs two finished trials
        prev: list[float | None] = [float(t.value) for t in ranked]
        prev_eps: float | None = None
        reached: tuple[float, list[float | None]] | None = None
        stop, agreed = stop_reason, False
        for i, frac in enumerate(rungs):
            for t in ranked:
                if (t.number, frac) not in values:
                    values[(t.number, frac)] = ctx.evaluate(t.number, frac)
            means: list[float | None] = [values[(t.number, frac)] for t in ranked]
            top = ranked[_best(means, maximize)].number
            if (top, frac) not in noise:
                noise[(top, frac)] = ctx.seed_noise(top, frac)
            eps = noise[(top, frac)]
            both = max((e for e in (eps, prev_eps) if e is not None), default=None)
            soft = soft_agreement(prev, means, direction=direction, epsilon=both)
            reached = (frac, means)
            if soft["agree"] and (not resolve or separated(means, both, maximize)):
                stop, agreed = "agreed", True
                break
            if frac >= 1.0 - 1e-12:
                stop = "full data"
                break
            if i == len(rungs) - 1:
                break
            prev, prev_eps = means, eps
        if reached is None:  # unreachable: rungs is not empty
            return
        frac, means = reached
        pick = ranked[_best(means, maximize)].number
        ctx.pick(pick)
        # what this climb would cost on its own, as hpscout run makes it once after its last trial
        one_climb = sum((len(ranked) + 1) * ctx.cost(f) for f in rungs if f <= frac + 1e-12)
        ctx.note(
            final_fraction=frac,
            stop=stop,
            agreed=agreed,
            pick=pick,
            top_k=[t.number for t in ranked],
            check_cost=round(one_climb, 9),
        )

    return after_trial


def rerun_every_topk_entrant(k: int, fraction: float) -> AfterTrial:
    """Round 2's one-shot check, run anytime: re-evaluate at ``fraction`` every trial that
    enters the search's top ``k`` (``hpscout.search.top_trials``) and was not re-run yet;
    the pick is the best re-run (``choose_final``'s rule).

    The workflow re-runs the final top-k once, after the search; a budget-based benchmark
    needs an answer at every budget, so each configuration that is ever in the top-k gets
    its re-run as soon as it gets there: a superset of the final top-k (about k * ln(n / k)
    extra re-runs after n trials), charged.
    """
    from hpscout.search import top_trials

    done: dict[int, float] = {}

    def after_trial(study: optuna.Study, trial: Any, ctx: Context) -> None:
        maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
        top = top_trials(study, k)
        for t in top:
            if t.number not in done:
                done[t.number] = ctx.evaluate(t.number, fraction)
        if done:
            numbers = list(done)
            ctx.pick(numbers[_best([done[n] for n in numbers], maximize)])
            # hpscout run re-runs the final top-k once: the pick among them, and that one check's cost
            final = top[_best([done[t.number] for t in top], maximize)].number
            ctx.note(final_pick=final, check_cost=round(len(top) * ctx.cost(fraction), 9))

    return after_trial


def _workflow(seed: int, facts: Facts, scout: Any, transfer: Any, *, floor: bool, resolve: bool = False) -> Plan:
    """The search on the ladder in force, then the transfer check ``transfer`` describes."""
    from hpscout.analysis import climb_cost

    config = bench_config(facts, scout, transfer)
    info: dict[str, Any]
    if floor:
        config, info = resolved_ladder(facts, config)
    else:
        info = {
            "fidelities": list(config.scout.fidelities),
            "fraction": config.scout.fraction,
            "floor": "off",
        }
    plan = _hpscout_plan(seed, facts.params, _clip_ladder(config.scout.fidelities, facts.min_fraction))
    t = config.transfer
    if not t.climb:
        large = max(t.resolve_fraction(config.scout.fraction), facts.min_fraction)
        info["transfer"] = {"climb": False, "k": t.k, "fraction": large}
        return replace(plan, after_trial=rerun_every_topk_entrant(t.k, large), info={**plan.info, **info})
    wanted = t.climb_fractions(config.scout.fraction)
    _, allowed = climb_cost(config)
    rungs = [f for f in allowed if f <= facts.max_fraction + 1e-12]
    stop = "budget" if len(allowed) < len(wanted) else "max_fraction"
    if len(rungs) < len(allowed):
        stop = "table max"  # the scenario measures nothing above facts.max_fraction
    info["transfer"] = {
        "climb": True,
        "k": t.k,
        "budget": t.budget,
        "climb_fractions": wanted,
        "rungs_within_budget": allowed,
        "rungs_replayed": rungs,
        "stop_after_last_rung": stop,
    }
    info["transfer"]["resolve"] = resolve
    after = climb_after_every_trial(config, rungs, stop, resolve=resolve)
    return replace(plan, after_trial=after, info={**plan.info, **info})


def _hpscout(seed: int, facts: Facts) -> Plan:
    """What ``hpscout run`` does out of the box: ``ScoutConfig()`` after the step floor, ``TransferConfig()``."""
    return _workflow(seed, facts, None, None, floor=True)


def _hpscout_unbounded(seed: int, facts: Facts) -> Plan:
    """The default workflow with ``transfer.budget: null``: the climb goes until agreement or the full data."""
    from hpscout.config import TransferConfig

    return _workflow(seed, facts, None, TransferConfig(budget=None), floor=True)


def _hpscout_budget(budget: float) -> Callable[[int, Facts], Plan]:
    """The default workflow with ``transfer.budget: budget`` (candidates for the default between 1 and none)."""

    def build(seed: int, facts: Facts) -> Plan:
        from hpscout.config import TransferConfig

        return _workflow(seed, facts, None, TransferConfig(budget=budget), floor=True)

    return build


def _hpscout_resolved(budget: float | None) -> Callable[[int, Facts], Plan]:
    """The default workflow whose climb takes agreement only when the larger rung separates its pick
    from the runner-up by more than epsilon (:func:`separated`), with ``transfer.budget: budget``."""

    def build(seed: int, facts: Facts) -> Plan:
        from hpscout.config import TransferConfig

        return _workflow(seed, facts, None, TransferConfig(budget=budget), floor=True, resolve=True)

    return build


def _hpscout_v1(seed: int, facts: Facts) -> Plan:
    """Round 2's default: the 5% ladder (no step floor), the one-shot check at 4 x 5%."""
    from hpscout.config import ScoutConfig, TransferConfig

    return _workflow(seed, facts, ScoutConfig(min_steps=0), TransferConfig(climb=False), floor=False)


def _hpscout_ladder3(seed: int, facts: Facts) -> Plan:
    """Round 2's workflow with the example configs' three-rung ladder 1% < 2% < 5% (Hyperband prunes between rungs)."""
    from hpscout.config import ScoutConfig, TransferConfig

    scout = ScoutConfig(fraction=0.05, fidelities=[0.01, 0.02, 0.05], min_steps=0)
    return _workflow(seed, facts, scout, TransferConfig(climb=False), floor=False)


def _naive_5pct(seed: int, facts: Facts) -> Plan:
    """The default search on 5% of the data; the pick is the best there (no transfer check)."""
    return _hpscout_plan(seed, facts.params, _clip_ladder((NAIVE_FRACTION,), facts.min_fraction))


def _hpscout_scout(seed: int, facts: Facts) -> Plan:
    """hpscout's default strategy on ScoutConfig's written ladder (picks at the top scout rung)."""
    from hpscout.config import ScoutConfig

    return _hpscout_plan(seed, facts.params, _clip_ladder(ScoutConfig().fidelities, facts.min_fraction))


#: name -> (builder, one-line description), in the order tables list them.
METHODS: dict[str, tuple[Callable[[int, Facts], Plan], str]] = {
    "hpscout": (
        _hpscout,
        "hpscout run out of the box (issue 14): ScoutConfig()'s ladder after the step floor, DEFAULT_STRATEGY search, "
        "then the climbing transfer check (TransferConfig(): top-k up ~2x rungs within transfer.budget, epsilon from "
        "one extra seed, stop when two rungs agree)",
    ),
    "hpscout-v1": (
        _hpscout_v1,
        "round 2's default: DEFAULT_STRATEGY search on 5% (no step floor), one-shot check (top-k re-run at 20%)",
    ),
    "naive-5pct": (
        _naive_5pct,
        "DEFAULT_STRATEGY search on 5% of the data; the best at 5% is the pick (no check)",
    ),
    "random": (_random, "Optuna RandomSampler, every trial at max fidelity"),
    "tpe": (_tpe, "Optuna TPESampler, no pruning, every trial at max fidelity"),
    "tpe-median": (_tpe_median, "TPESampler + MedianPruner on the eta=3 ladder"),
    "tpe-hyperband": (_tpe_hyperband, "TPESampler + HyperbandPruner(eta=3) on the eta=3 ladder"),
    "random-sha": (_random_sha, "RandomSampler + SuccessiveHalvingPruner(eta=3) on the eta=3 ladder"),
    # Extras, not run unless asked (--methods).
    "hpscout-unbounded": (
        _hpscout_unbounded,
        "the default workflow with transfer.budget: null (the climb is stopped only by agreement or the full data)",
    ),
    "hpscout-budget2": (
        _hpscout_budget(2.0),
        "the default workflow with transfer.budget: 2 (the climb may spend two full-data runs)",
    ),
    "hpscout-budget3": (
        _hpscout_budget(3.0),
        "the default workflow with transfer.budget: 3 (the climb may spend three full-data runs)",
    ),
    "hpscout-resolved": (
        _hpscout_resolved(1.0),
        "the default workflow whose climb counts agreement only when the larger rung separates its pick from the "
        "runner-up by more than epsilon (transfer.budget: 1: what changes is the trust label)",
    ),
    "hpscout-resolved-unbounded": (
        _hpscout_resolved(None),
        "hpscout-resolved with transfer.budget: null (it climbs until a rung separates its pick, or the full data)",
    ),
    "hpscout-ladder3": (
        _hpscout_ladder3,
        "round 2's workflow with the 1% < 2% < 5% ladder of the example configs (one-shot check at 20%)",
    ),
    "hpscout-search-only": (
        _hpscout_search_only,
        "DEFAULT_STRATEGY alone on the eta=3 ladder up to max fidelity (no scout fraction, no transfer)",
    ),
    "hpscout-scout": (
        _hpscout_scout,
        "hpscout's default strategy on ScoutConfig's written ladder (picks at the top scout rung)",
    ),
}
#: What search_efficiency.py runs when --methods is not given.
DEFAULT_METHODS = ("hpscout", "random", "tpe", "tpe-median", "tpe-hyperband", "random-sha")
#: The reference method for ``budget_to_match_tpe``.
REFERENCE_METHOD = "tpe"
#: The method whose claims the verdict checks.
CANDIDATE_METHOD = "hpscout"


def build(name: str, seed: int, facts: Facts) -> Plan:
    """The :class:`Plan` of method ``name`` for a scenario.

    Args:
        seed: the run's seed (the same for every method: runs are paired).
        facts: what the method may know of the scenario.
    """
    if name not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, but got {name!r}")
    return METHODS[name][0](seed, facts)
