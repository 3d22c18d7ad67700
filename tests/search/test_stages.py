"""Staged search: narrowing rules, stage configs, and a resumable two-stage run with a cheap objective."""

from __future__ import annotations

import math

import pytest
from _objectives import quadratic

from hpscout._errors import ConfigError, SearchError
from hpscout.config import ParamSpec, config_from_dict
from hpscout.search import load_study, narrow_spec, run_staged_search, stage_config

SPACE = {
    "train.learning_rate": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
    "train.batch_size": {"type": "categorical", "choices": [8, 16, 32]},
    "train.warmup_ratio": {"type": "float", "low": 0.0, "high": 0.2},
    "train.lora.r": {"type": "categorical", "choices": [4, 8, 16]},
}
STAGES = [
    {"params": ["train.learning_rate", "train.batch_size"], "trials": 6, "top": 2},
    {"params": ["train.warmup_ratio", "train.lora.r"], "trials": 5},
]


def make_config(tmp_path, **search):
    return config_from_dict({
        "name": "staged",
        "output_dir": str(tmp_path / "run"),
        "data": {"train": "train.csv"},
        "scout": {"fraction": 0.05, "fidelities": [0.05], "min_steps": 0},
        "search": {"sampler": "tpe", "pruner": "none", "space": SPACE, "stages": STAGES, **search},
    })


def test_narrowing_rules() -> None:
    log = ParamSpec(type="float", low=1e-5, high=1e-2, log=True)
    n = narrow_spec(log, [2e-4, 4e-4])
    assert n.low == pytest.approx(2e-4 / 1.5) and n.high == pytest.approx(4e-4 * 1.5) and n.log
    assert narrow_spec(log, [1e-5]).low == 1e-5  # never below the original bound
    lin = ParamSpec(type="float", low=0.0, high=0.2)
    n = narrow_spec(lin, [0.1])
    assert (n.low, n.high) == pytest.approx((0.08, 0.12))
    ints = ParamSpec(type="int", low=1, high=64, log=True)
    n = narrow_spec(ints, [8, 16])
    assert (n.low, n.high) == (5, 24)
    stepped = ParamSpec(type="float", low=0.0, high=1.0, step=0.25)
    n = narrow_spec(stepped, [0.5])
    assert (n.low, n.high) == (0.25, 0.75)
    cat = ParamSpec(type="categorical", choices=[4, 8, 16])
    assert narrow_spec(cat, [8, 16, 8]).choices == [8, 16]
    assert narrow_spec(cat, []) is cat


def test_stage_configs(tmp_path) -> None:
    cfg = make_config(tmp_path)
    first = stage_config(cfg, 0, None)
    assert set(first.search.space) == {"train.learning_rate", "train.batch_size"}
    assert first.name == "staged-stage1" and first.run_dir == tmp_path / "run" / "stages" / "stage1"
    assert first.search.trials == 6
    top = [{"train.learning_rate": 1e-3, "train.batch_size": 16}, {"train.learning_rate": 2e-3, "train.batch_size": 16}]
    last = stage_config(cfg, 1, top)
    assert last.name == "staged" and last.run_dir == tmp_path / "run"  # the last stage is the run's study
    assert set(last.search.space) == set(SPACE) and last.search.trials == 5
    lr = last.search.space["train.learning_rate"]
    assert lr.low == pytest.approx(1e-3 / 1.5) and lr.high == pytest.approx(2e-3 * 1.5)
    assert last.search.space["train.batch_size"].choices == [16]
    assert last.search.space["train.lora.r"].choices == [4, 8, 16]  # its own stage: full range


def test_stages_must_cover_the_space_once(tmp_path) -> None:
    with pytest.raises(ConfigError, match="'train.nope', which is not in search.space"):
        make_config(tmp_path, stages=[{"params": ["train.nope"], "trials": 2}])
    with pytest.raises(ConfigError, match="is in stage 1 and stage 2"):
        make_config(tmp_path, stages=[{"params": list(SPACE), "trials": 2}, {"params": ["train.lora.r"], "trials": 2}])
    with pytest.raises(ConfigError, match="train.lora.r has none"):
        make_config(tmp_path, stages=[{"params": [k for k in SPACE if k != "train.lora.r"], "trials": 2}])


def test_two_stages_run_narrow_and_resume(tmp_path) -> None:
    cfg = make_config(tmp_path)
    said: list[str] = []
    summary = run_staged_search(cfg, objective=quadratic, progress=False, say=said.append)
    assert summary.study_name == "staged" and summary.n_finished == 5
    first = load_study(stage_config(cfg, 0, None))
    assert first.study_name == "staged-stage1" and len(first.trials) == 6
    # the last stage searched the learning rate only near stage 1's two best
    best_two = sorted((t for t in first.trials if t.value is not None), key=lambda t: t.value)[:2]
    lrs = [t.params["train.learning_rate"] for t in best_two]
    last = load_study(cfg)
    for t in last.trials:
        assert min(lrs) / 1.5 - 1e-12 <= t.params["train.learning_rate"] <= max(lrs) * 1.5 + 1e-12
        assert {"train.warmup_ratio", "train.lora.r"} <= set(t.params)
    assert said[0].startswith("search stage 1/2: 6 trials") and "narrowed: train.learning_rate" in said[1]
    assert (tmp_path / "run" / "top" / "top1.yaml").exists()
    # resume: nothing new in either stage
    again = run_staged_search(cfg, objective=quadratic, progress=False)
    assert again.n_new == 0 and len(load_study(stage_config(cfg, 0, None)).trials) == 6
    with pytest.raises(SearchError, match="does not apply to a staged search"):
        run_staged_search(cfg, trials=3, objective=quadratic, progress=False)
    assert math.isfinite(summary.best_value)
