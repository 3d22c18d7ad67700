"""Importance with Optuna's PED-ANOVA and fANOVA on trials where only the learning rate matters."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import optuna
from _analysis_fakes import make_config

from hpscout.analysis import compute_importance, importance_from_trials, read_analysis, top_fraction_trials

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _study(n: int, fraction: float = 0.05, params: tuple[str, ...] = ("train.learning_rate", "train.lora.r")) -> optuna.Study:
    rng = np.random.default_rng(0)
    study = optuna.create_study(study_name="demo", sampler=optuna.samplers.RandomSampler(seed=0))

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("train.learning_rate", 1e-5, 1e-2, log=True)
        if "train.lora.r" in params:
            trial.suggest_categorical("train.lora.r", [8, 16, 32, 64])
        trial.set_user_attr("fraction", fraction)
        return (math.log10(lr) + 3.5) ** 2 + float(rng.normal(0, 0.01))

    study.optimize(objective, n_trials=n)
    return study


def test_learning_rate_dominates_both_evaluators() -> None:
    study = _study(40)
    out = importance_from_trials(study.trials, direction="minimize", seed=0)
    assert out["status"] == "ok" and out["n_trials"] == 40 and out["normalized"]
    assert out["params"] == ["train.learning_rate", "train.lora.r"]
    for name in ("ped_anova", "fanova"):
        imp = out[name]
        assert set(imp) == {"train.learning_rate", "train.lora.r"}
        assert imp["train.learning_rate"] > imp["train.lora.r"], (name, imp)
        assert sum(imp.values()) == __import__("pytest").approx(1.0)


def test_too_few_trials_is_an_entry_not_a_crash() -> None:
    out = importance_from_trials(_study(2).trials, direction="minimize")
    assert out["status"] == "not enough trials" and "2" in out["note"] and out["fanova"] is None


def test_single_parameter_is_an_entry_not_a_crash() -> None:
    out = importance_from_trials(_study(10, params=("train.learning_rate",)).trials, direction="minimize")
    assert out["status"] == "not enough parameters" and "train.learning_rate" in out["note"]


def test_only_top_fraction_complete_trials_count(tmp_path: Path) -> None:
    study = _study(12)
    low = _study(5, fraction=0.01)
    study.add_trials(low.trials)
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, user_attrs={"fraction": 0.05}))
    assert len(top_fraction_trials(study, 0.05)) == 12
    cfg = make_config(tmp_path)
    out = compute_importance(cfg, study=study)
    assert out["n_trials"] == 12 and out["fraction"] == 0.05 and out["study"] == "demo"
    assert read_analysis(cfg)["importance"]["status"] == "ok"
