"""Data fraction as a fidelity: rungs, reported steps, and what the pruners do with them."""

from __future__ import annotations

import math

import optuna
import pytest

from hpscout import SearchError
from hpscout.search import check_ladder, fraction_step, make_pruner, run_rungs, step_fraction

LADDER = [0.01, 0.02, 0.05]


def test_fraction_step():
    assert [fraction_step(f) for f in (0.0001, 0.01, 0.02, 0.05, 1.0)] == [1, 100, 200, 500, 10_000]
    assert step_fraction(fraction_step(0.05)) == 0.05
    with pytest.raises(SearchError):
        fraction_step(0)
    with pytest.raises(SearchError):
        fraction_step(1.5)


def test_check_ladder():
    assert check_ladder([0.01, 0.05]) == [0.01, 0.05]
    for bad in ([], [0.05, 0.01], [0.01, 0.01]):
        with pytest.raises(SearchError):
            check_ladder(bad)


def _loss(lr: float, fraction: float) -> float:
    # best at lr = 1e-3; more data helps every config a little, and never changes the ranking
    return (math.log10(lr) + 3) ** 2 + 0.01 / fraction


def _run(pruner, n_trials=40, seed=0):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed), pruner=pruner)
    seen: dict[int, list[float]] = {}

    def objective(trial):
        lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)

        def evaluate(f):
            seen.setdefault(trial.number, []).append(f)
            return _loss(lr, f)

        return run_rungs(trial, evaluate, LADDER)

    study.optimize(objective, n_trials=n_trials)
    return study, seen


@pytest.mark.parametrize("name", ["successive-halving", "hyperband"])
def test_bad_trials_pruned_early_good_ones_reach_the_top_rung(name):
    study, seen = _run(make_pruner(name, ladder=LADDER))
    steps = {fraction_step(f) for f in LADDER}
    pruned = study.get_trials(states=(optuna.trial.TrialState.PRUNED,))
    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert pruned and complete
    for t in study.trials:
        assert set(t.intermediate_values) <= steps  # only fraction steps are reported
        assert t.user_attrs["fraction"] == max(seen[t.number])
    for t in complete:
        assert seen[t.number] == LADDER  # promoted trials climbed every rung, in order
        assert max(t.intermediate_values) == fraction_step(LADDER[-1])
    for t in pruned:
        assert seen[t.number][-1] < LADDER[-1]  # pruned before the top rung
    # pruning happens at the cheap rungs, and it removes the worse configs
    def quality(t):
        return _loss(t.params["lr"], LADDER[-1])

    mean = lambda ts: sum(quality(t) for t in ts) / len(ts)  # noqa: E731
    assert all(t.user_attrs["fraction"] in LADDER[:-1] for t in pruned)
    assert mean(pruned) > mean(complete)
    at_first = [t for t in pruned if t.user_attrs["fraction"] == LADDER[0]]
    assert at_first and mean(at_first) > mean(complete)
    # the best trial is never pruned
    best_lr = min(study.trials, key=lambda t: abs(math.log10(t.params["lr"]) + 3))
    assert best_lr.state == optuna.trial.TrialState.COMPLETE


def test_no_pruning_means_every_trial_climbs_every_rung():
    study, seen = _run(make_pruner("none"), n_trials=5)
    assert all(s == LADDER for s in seen.values())
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert study.trials[0].value == pytest.approx(_loss(study.trials[0].params["lr"], 0.05))


def test_last_rung_never_asks_the_pruner():
    calls = []

    class Always(optuna.pruners.BasePruner):
        def prune(self, study, trial):
            calls.append(trial.last_step)
            return True

    study = optuna.create_study(pruner=Always())
    study.optimize(lambda t: run_rungs(t, lambda f: 1.0, [0.05]), n_trials=1)
    assert calls == [] and study.trials[0].state == optuna.trial.TrialState.COMPLETE
