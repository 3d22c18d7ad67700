"""The search space: distributions, conditional and derived parameters, and every bad input."""

from __future__ import annotations

import optuna
import pytest

from hpscout import ConfigError, SearchError
from hpscout.config import ParamSpec, config_from_dict
from hpscout.search import (
    config_for_params,
    grid_cells,
    grid_values,
    params_to_updates,
    suggest_updates,
    to_distribution,
    validate_space,
)


def make_config(space=None, **search):
    return config_from_dict(
        {
            "name": "space-test",
            "data": {"train": "train.csv"},
            "search": {"trials": 50, "space": space or {}, **search},
        }
    )


def spec(**kw):
    return ParamSpec(**kw)


# --------------------------------------------------------------------------- distributions


def test_every_distribution_kind():
    f = to_distribution(spec(type="float", low=1e-5, high=1e-2, log=True))
    assert isinstance(f, optuna.distributions.FloatDistribution) and f.log and f.low == 1e-5
    fs = to_distribution(spec(type="float", low=0.0, high=0.2, step=0.05))
    assert fs.step == 0.05
    i = to_distribution(spec(type="int", low=4, high=64, log=True))
    assert isinstance(i, optuna.distributions.IntDistribution) and i.log and (i.low, i.high) == (4, 64)
    i2 = to_distribution(spec(type="int", low=1, high=9, step=2))
    assert i2.step == 2
    c = to_distribution(spec(type="categorical", choices=["linear", "cosine"]))
    assert isinstance(c, optuna.distributions.CategoricalDistribution) and c.choices == ("linear", "cosine")


def _sample(space, base, params=None):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    if params:
        study.enqueue_trial(params)
    trial = study.ask()
    return trial, suggest_updates(trial, space, base)


def test_suggest_names_params_after_config_keys():
    space = {
        "train.learning_rate": spec(type="float", low=1e-5, high=1e-2, log=True),
        "train.batch_size": spec(type="categorical", choices=[8, 16]),
        "train.lora.r": spec(type="int", low=4, high=16, step=4),
    }
    base = make_config(space)
    trial, updates = _sample(space, base)
    assert set(trial.params) == set(space) == set(updates)
    assert 1e-5 <= updates["train.learning_rate"] <= 1e-2
    assert updates["train.lora.r"] in (4, 8, 12, 16)


def test_conditional_param_sampled_only_when_condition_holds():
    space = {
        "train.method": spec(type="categorical", choices=["lora", "full"]),
        "train.lora.r": spec(type="int", low=4, high=16, when={"train.method": "lora"}),
    }
    base = make_config(space)
    _, on = _sample(space, base, {"train.method": "lora", "train.lora.r": 8})
    assert on == {"train.method": "lora", "train.lora.r": 8}
    trial, off = _sample(space, base, {"train.method": "full"})
    assert off == {"train.method": "full"} and "train.lora.r" not in trial.params


def test_condition_reads_base_config_when_key_not_searched():
    space = {"train.lora.r": spec(type="int", low=4, high=16, when={"train.method": ["lora", "qlora"]})}
    lora = make_config(space)
    full = config_from_dict({**lora.model_dump(mode="json"), "train": {"method": "full"}})
    assert params_to_updates({"train.lora.r": 8}, space, lora) == {"train.lora.r": 8}
    assert params_to_updates({"train.lora.r": 8}, space, full) == {}


def test_derived_param_multiplies_resolved_target():
    space = {
        "train.lora.alpha": spec(type="categorical", choices=[1, 2, 4], multiplier_of="train.lora.r"),
        "train.lora.r": spec(type="categorical", choices=[8, 16]),
    }
    base = make_config(space)
    trial, updates = _sample(space, base, {"train.lora.r": 16, "train.lora.alpha": 2})
    assert trial.params["train.lora.alpha"] == 2  # Optuna keeps the multiplier
    assert updates == {"train.lora.r": 16, "train.lora.alpha": 32}  # the config gets the product
    cfg = config_for_params(base, {"train.lora.r": 8, "train.lora.alpha": 4})
    assert cfg.train.lora.alpha == 32 and cfg.train.lora.r == 8


def test_derived_param_of_unsearched_key_uses_base_value():
    space = {"train.lora.alpha": spec(type="float", low=0.5, high=4, multiplier_of="train.lora.r")}
    base = make_config(space)  # lora.r defaults to 8
    assert params_to_updates({"train.lora.alpha": 2.0}, space, base) == {"train.lora.alpha": 16.0}


# --------------------------------------------------------------------------- grid


def test_grid_values_expand_ranges():
    assert grid_values(spec(type="categorical", choices=["a", "b"])) == ["a", "b"]
    assert grid_values(spec(type="int", low=1, high=4)) == [1, 2, 3, 4]
    assert grid_values(spec(type="int", low=8, high=32, step=8)) == [8, 16, 24, 32]
    assert grid_values(spec(type="float", low=0.0, high=0.2, step=0.1)) == [0.0, 0.1, 0.2]
    logs = grid_values(spec(type="float", low=1e-5, high=1e-1, log=True))
    assert logs == pytest.approx([1e-5, 1e-4, 1e-3, 1e-2, 1e-1])
    wide = grid_values(spec(type="int", low=1, high=1000, log=True))
    assert len(wide) == 5 and wide[0] == 1 and wide[-1] == 1000


def test_grid_cells_collapse_inactive_conditionals():
    space = {
        "train.method": spec(type="categorical", choices=["lora", "full"]),
        "train.lora.r": spec(type="categorical", choices=[4, 8, 16], when={"train.method": "lora"}),
    }
    cells = grid_cells(space, make_config(space))
    assert len(cells) == 4  # 3 lora cells + 1 full cell, not 2 x 3
    assert {"train.method": "full"} in cells


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        ({"type": "float", "low": 1.0, "high": 0.1}, "low must be <= high"),
        ({"type": "float", "low": 0.0, "high": 0.1, "log": True}, "low must be > 0 when log=true"),
        ({"type": "categorical", "choices": []}, "non-empty"),
        ({"type": "int", "low": 1.5, "high": 4}, "integer bounds"),
        ({"type": "float", "low": 1e-4}, "both 'low' and 'high'"),
    ],
)
def test_bad_spec_rejected_at_config_load_naming_the_key(bad, needle):
    with pytest.raises(ConfigError) as info:
        make_config({"train.learning_rate": bad})
    assert needle in str(info.value)
    assert "search.space.train.learning_rate" in str(info.value)


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        ({"type": "float", "low": 1.0, "high": 0.1}, "low must be <= high"),
        ({"type": "float", "low": -1.0, "high": 0.1, "log": True}, "low must be > 0 when log=true"),
        ({"type": "categorical", "choices": []}, "non-empty"),
    ],
)
def test_bad_spec_as_plain_dict_is_a_search_error(bad, needle):
    with pytest.raises(SearchError) as info:
        validate_space({"train.learning_rate": bad}, make_config())
    assert needle in str(info.value) and "search.space.train.learning_rate" in str(info.value)


def test_unknown_key_with_did_you_mean():
    space = {"train.learning_rat": spec(type="float", low=1e-5, high=1e-3, log=True)}
    with pytest.raises(SearchError, match=r"search\.space\.train\.learning_rat.*maps to no config key.*did you mean 'train\.learning_rate'"):
        validate_space(space, make_config())


def test_key_without_section_suggests_full_key():
    space = {"learning_rate": spec(type="float", low=1e-5, high=1e-3, log=True)}
    with pytest.raises(SearchError, match=r"did you mean 'train\.learning_rate'"):
        validate_space(space, make_config())


def test_free_form_keys_are_accepted():
    space = {"train.scheduler_kwargs.num_cycles": spec(type="int", low=1, high=3)}
    assert validate_space(space, make_config())


def test_value_the_schema_rejects():
    space = {"train.learning_rate": spec(type="float", low=1e-3, high=20.0, log=True)}
    with pytest.raises(SearchError, match=r"search\.space\.train\.learning_rate: the value 20\.0 is not valid"):
        validate_space(space, make_config())
    sched = {"train.lr_scheduler": spec(type="categorical", choices=["cosine", "cosin"])}
    with pytest.raises(SearchError, match="'cosin' is not valid"):
        validate_space(sched, make_config())


def test_section_and_forbidden_keys():
    with pytest.raises(SearchError, match="is a section"):
        validate_space({"train.lora": spec(type="categorical", choices=[1])}, make_config())
    with pytest.raises(SearchError, match="cannot be searched"):
        validate_space({"scout.fraction": spec(type="float", low=0.01, high=0.1)}, make_config())


def test_step_must_divide_range():
    with pytest.raises(SearchError, match="multiple of step"):
        validate_space({"train.warmup_ratio": spec(type="float", low=0.0, high=0.25, step=0.1)}, make_config())


def test_empty_space():
    with pytest.raises(SearchError, match="search.space is empty"):
        validate_space({}, make_config())


def test_when_reads_unknown_key():
    space = {"train.lora.r": spec(type="int", low=4, high=8, when={"train.methd": "lora"})}
    with pytest.raises(SearchError, match=r"when reads 'train\.methd'.*did you mean 'train\.method'"):
        validate_space(space, make_config())


def test_multiplier_checks():
    with pytest.raises(SearchError, match=r"multiplier_of reads 'train\.lora\.rr'"):
        validate_space({"train.lora.alpha": spec(type="float", low=1, high=2, multiplier_of="train.lora.rr")}, make_config())
    with pytest.raises(SearchError, match="must be a number to multiply"):
        validate_space({"train.lora.alpha": spec(type="float", low=1, high=2, multiplier_of="train.optimizer")}, make_config())
    with pytest.raises(SearchError, match="is not valid for train.lora.dropout"):
        validate_space({"train.lora.dropout": spec(type="float", low=1, high=4, multiplier_of="train.lora.r")}, make_config())


def test_dependency_cycle():
    space = {
        "train.method": spec(type="categorical", choices=["lora", "full"], when={"train.lora.r": 8}),
        "train.lora.r": spec(type="categorical", choices=[8, 16], when={"train.method": "lora"}),
    }
    with pytest.raises(SearchError, match="cycle"):
        validate_space(space, make_config())


def test_grid_too_large_for_budget():
    space = {
        "train.learning_rate": spec(type="float", low=1e-5, high=1e-1, log=True),  # 5 points
        "train.batch_size": spec(type="categorical", choices=[8, 16, 32]),
    }
    with pytest.raises(SearchError, match=r"the grid has 15 cells but the budget is 10 trials"):
        validate_space(space, make_config(space), budget=10, sampler="grid")
    assert validate_space(space, make_config(space), budget=15, sampler="grid")
