"""Samplers and pruners by name; the default strategy."""

from __future__ import annotations

import optuna
import pytest

from hpscout import SearchError
from hpscout.config import ParamSpec
from hpscout.search import (
    DEFAULT_STRATEGY,
    default_startup_trials,
    fraction_step,
    ladder_reduction_factor,
    make_pruner,
    make_sampler,
)

SPACE = {
    "train.learning_rate": ParamSpec(type="float", low=1e-5, high=1e-1, log=True),
    "train.batch_size": ParamSpec(type="categorical", choices=[8, 16]),
}


def test_default_strategy_is_multivariate_tpe_with_hyperband_over_fractions():
    assert DEFAULT_STRATEGY.sampler == "tpe" and DEFAULT_STRATEGY.pruner == "hyperband"
    assert DEFAULT_STRATEGY.fidelity == "fraction"
    assert DEFAULT_STRATEGY.sampler_kwargs["multivariate"] is True


def test_tpe_defaults_and_overrides():
    s = make_sampler("tpe", seed=1, space=SPACE)
    assert isinstance(s, optuna.samplers.TPESampler)
    assert s._multivariate is True and s._n_startup_trials == 10 and s._group is False
    s2 = make_sampler("TPE", n_startup_trials=3)
    assert s2._n_startup_trials == 3


def test_tpe_groups_conditional_spaces():
    space = {**SPACE, "train.lora.r": ParamSpec(type="int", low=4, high=8, when={"train.method": "lora"})}
    assert make_sampler("tpe", space=space)._group is True


def test_startup_trials_scale_with_budget():
    assert [default_startup_trials(n) for n in (None, 10, 20, 100, 1000)] == [10, 5, 5, 10, 20]


def test_grid_random_and_class_names():
    grid = make_sampler("grid", space=SPACE)
    assert isinstance(grid, optuna.samplers.GridSampler)
    assert isinstance(make_sampler("random", seed=0), optuna.samplers.RandomSampler)
    assert isinstance(make_sampler("CmaEsSampler", seed=0), optuna.samplers.CmaEsSampler)
    assert isinstance(make_sampler("qmc", seed=0), optuna.samplers.QMCSampler)
    assert isinstance(make_sampler("QMCSampler", seed=0, qmc_type="halton"), optuna.samplers.QMCSampler)


def test_unknown_sampler_lists_names():
    with pytest.raises(SearchError) as info:
        make_sampler("bayes")
    text = str(info.value)
    assert "grid, random, tpe" in text and "CmaEsSampler" in text and "'bayes'" in text


def test_bad_sampler_kwargs_and_grid_without_space():
    with pytest.raises(SearchError, match="sampler_kwargs"):
        make_sampler("random", nonsense=1)
    with pytest.raises(SearchError, match="needs the search space"):
        make_sampler("grid")


def test_pruner_resources_come_from_the_ladder():
    ladder = [0.01, 0.02, 0.05]
    sha = make_pruner("successive-halving", ladder=ladder)
    assert isinstance(sha, optuna.pruners.SuccessiveHalvingPruner)
    assert sha._min_resource == fraction_step(0.01) == 100 and sha._reduction_factor == 2
    hb = make_pruner("hyperband", ladder=ladder)
    assert isinstance(hb, optuna.pruners.HyperbandPruner)
    assert (hb._min_resource, hb._max_resource, hb._reduction_factor) == (100, 500, 2)
    assert ladder_reduction_factor([0.01, 0.05, 0.25]) == 5
    assert make_pruner("hyperband", ladder=ladder, reduction_factor=3)._reduction_factor == 3


def test_other_pruners_and_eval_fidelity():
    assert isinstance(make_pruner("none"), optuna.pruners.NopPruner)
    assert isinstance(make_pruner("median", ladder=[0.01, 0.05]), optuna.pruners.MedianPruner)
    hb = make_pruner("hyperband", fidelity="eval")
    assert hb._max_resource == "auto"


def test_bad_pruner_inputs():
    with pytest.raises(SearchError, match="none, median, successive-halving, hyperband"):
        make_pruner("asha-plus", ladder=[0.01])
    with pytest.raises(SearchError, match="needs the ladder"):
        make_pruner("hyperband")
    with pytest.raises(SearchError, match="strictly ascending"):
        make_pruner("hyperband", ladder=[0.05, 0.01])
    with pytest.raises(SearchError, match="pruner_kwargs"):
        make_pruner("median", ladder=[0.01], bogus=1)
