"""Ablation: cells, resumption and verdicts on an objective where only the learning rate matters."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from _analysis_fakes import LrOnlyObjective, failing, make_config, need_search, search_study

from hpscout._errors import ConfigError, SearchError
from hpscout.analysis import (
    AblationLevel,
    CellRun,
    ablation_plan,
    apply_ablation_verdicts,
    check_pattern,
    default_factors,
    read_analysis,
    resolve_baseline,
    resolve_level,
    run_ablation,
    summarize_ablation,
)
from hpscout.config import save_config
from hpscout.runner import TrialStatus

optuna.logging.set_verbosity(optuna.logging.WARNING)

FACTORS = {
    "train.learning_rate": ["x0.2", "x0.5", "x2", "x5"],
    "train.lora.r": [8, 16, 32, 64],
    "train.weight_decay": [0.0, 0.1],
    "train.lr_scheduler": ["linear", "cosine"],
}


def _study(name: str = "demo-ablation") -> optuna.Study:
    return optuna.create_study(study_name=name, direction="minimize")


def test_only_the_learning_rate_matters(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    objective = LrOnlyObjective(noise=0.01, diverge_above=4e-4)
    out = run_ablation(cfg, factors=FACTORS, seeds=3, run_cell=objective, study=_study(), baseline_config=cfg)

    factors = out["factors"]
    assert factors["train.learning_rate"]["verdict"] == "matters"
    assert factors["train.learning_rate"]["best_level"] == "x2"
    for key in ("train.lora.r", "train.weight_decay", "train.lr_scheduler"):
        assert factors[key]["verdict"] == "no detectable effect", (key, factors[key])
    assert out["test"] == "welch" and out["correction"] == "holm"

    lr_rows = {r["level"]: r for r in factors["train.learning_rate"]["levels"]}
    assert [r["level"] for r in factors["train.learning_rate"]["levels"]] == ["x0.2", "x0.5", "x1", "x2", "x5"]
    assert lr_rows["x1"]["is_baseline"] and lr_rows["x1"]["p_value"] is None
    assert lr_rows["x2"]["effect"] == "better" and lr_rows["x2"]["delta"] < 0
    assert lr_rows["x0.2"]["effect"] == "worse" and lr_rows["x0.2"]["p_adjusted"] < 0.05
    assert lr_rows["x5"]["n"] == 0 and lr_rows["x5"]["n_failed"] == 3 and lr_rows["x5"]["effect"] == "failed"
    assert lr_rows["x5"]["failed_statuses"] == {"diverged": 3}
    assert lr_rows["x2"]["n"] == 3 and lr_rows["x2"]["ci_low"] < lr_rows["x2"]["mean"] < lr_rows["x2"]["ci_high"]
    assert lr_rows["x2"]["value"] == pytest.approx(2e-4)
    # the LR optimum is inside the range and the highest LR diverges: the expected pattern
    assert factors["train.learning_rate"]["pattern_matches"] is True
    assert factors["train.weight_decay"]["pattern_matches"] is True  # small effect expected and seen

    # the baseline cell ran once per seed and is shared: 3 baseline + (4 + 3 + 1 + 1) levels x 3 seeds
    assert len(objective.calls) == 3 * (1 + 4 + 3 + 1 + 1)
    assert out["runs"] == {"cells": 30, "ran": 30, "reused": 0, "baseline_cells": 3}
    assert out["baseline"]["n"] == 3 and out["seed_list"] == [42, 43, 44]

    # written to analysis.json, with trial folders named after the cells
    assert read_analysis(cfg)["ablation"]["factors"]["train.learning_rate"]["verdict"] == "matters"
    run = tmp_path / "run" / "ablation"
    assert (run / "baseline_s42" / "result.json").exists()
    assert (run / "train.learning_rate_x0.5_s43" / "result.json").exists()
    assert json.loads((run / "train.lora.r_64_s44" / "result.json").read_text())["status"] == "complete"


def test_rerun_resumes_only_missing_cells(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    study = _study()
    factors = {"train.learning_rate": ["x0.5", "x2"]}
    first = LrOnlyObjective()
    run_ablation(cfg, factors=factors, seeds=2, run_cell=first, study=study, baseline_config=cfg)
    assert len(first.calls) == 6

    again = LrOnlyObjective()
    out = run_ablation(cfg, factors=factors, seeds=2, run_cell=again, study=study, baseline_config=cfg)
    assert again.calls == []
    assert out["runs"]["reused"] == 6

    more = LrOnlyObjective()  # one more seed: only the new seed runs
    out = run_ablation(cfg, factors=factors, seeds=3, run_cell=more, study=study, baseline_config=cfg)
    assert sorted({c[0] for c in more.calls}) == [44] and len(more.calls) == 3
    assert out["factors"]["train.learning_rate"]["levels"][0]["n"] == 3


def test_diverged_is_recorded_but_failed_reruns(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    study = _study()
    factors = {"train.learning_rate": ["x5"]}
    flaky = failing(TrialStatus.FAILED, lambda c: c.train.learning_rate > 4e-4, LrOnlyObjective())
    out = run_ablation(cfg, factors=factors, seeds=2, run_cell=flaky, study=study, baseline_config=cfg)
    assert out["factors"]["train.learning_rate"]["verdict"] == "hurts"
    assert study.trials[-1].state == optuna.trial.TrialState.FAIL

    retry = LrOnlyObjective(diverge_above=4e-4)
    run_ablation(cfg, factors=factors, seeds=2, run_cell=retry, study=study, baseline_config=cfg)
    assert len(retry.calls) == 2  # the failed cells ran again (baseline cells reused)

    again = LrOnlyObjective(diverge_above=4e-4)
    out = run_ablation(cfg, factors=factors, seeds=2, run_cell=again, study=study, baseline_config=cfg)
    assert again.calls == []  # diverged is an outcome: not rerun
    row = out["factors"]["train.learning_rate"]["levels"][-1]
    assert row["failed_statuses"] == {"diverged": 2} and "counted as worse" in row["note"]


def test_changed_baseline_reruns_cells(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    study = _study()
    run_ablation(cfg, factors={"train.weight_decay": [0.1]}, seeds=1, run_cell=LrOnlyObjective(), study=study,
                 baseline_config=cfg)
    other = make_config(tmp_path, train__learning_rate=2e-4)
    obj = LrOnlyObjective()
    run_ablation(cfg, factors={"train.weight_decay": [0.1]}, seeds=1, run_cell=obj, study=study, baseline_config=other)
    assert len(obj.calls) == 2 and {c[1] for c in obj.calls} == {2e-4}


def test_one_seed_gives_null_p_and_says_why(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    out = run_ablation(cfg, factors={"train.lora.r": [16]}, seeds=1, run_cell=LrOnlyObjective(), study=_study(),
                       baseline_config=cfg)
    f = out["factors"]["train.lora.r"]
    assert f["verdict"] == "not enough seeds"
    row = [r for r in f["levels"] if not r["is_baseline"]][0]
    assert row["p_value"] is None and "n=1" in row["note"] and row["ci_low"] is None


def test_fraction_factor_runs_cells_at_that_fraction(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    obj = LrOnlyObjective()
    out = run_ablation(cfg, factors={"scout.fraction": ["1%", 0.02, 0.05]}, seeds=2, run_cell=obj, study=_study(),
                       baseline_config=cfg)
    assert sorted({c[2] for c in obj.calls}) == [0.01, 0.02, 0.05]
    levels = out["factors"]["scout.fraction"]["levels"]
    assert [r["value"] for r in levels] == [0.01, 0.02, 0.05] and levels[-1]["is_baseline"]
    assert out["factors"]["scout.fraction"]["verdict"] == "no detectable effect"


def test_default_factors_follow_the_method(tmp_path: Path) -> None:
    lora = default_factors(make_config(tmp_path))
    assert lora["train.lora.r"] == [8, 16, 32, 64] and lora["train.learning_rate"] == ["x0.2", "x0.5", "x2", "x5"]
    assert lora["scout.fraction"] == [0.01, 0.02, 0.05, 0.10]
    full = default_factors(make_config(tmp_path, train__method="full"))
    assert "train.lora.r" not in full and "train.lora.target" not in full and "train.weight_decay" in full


def test_config_factors_are_used_when_none_given(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, ablation={"factors": {"train.warmup_ratio": [0.1]}, "seeds": 2})
    out = run_ablation(cfg, run_cell=LrOnlyObjective(), study=_study(), baseline_config=cfg)
    assert list(out["factors"]) == ["train.warmup_ratio"] and out["seeds"] == 2


def test_levels_resolve_and_validate(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, train__lora={"r": 16})
    assert resolve_level(cfg, "train.learning_rate", "x2") == pytest.approx(2e-4)
    assert resolve_level(cfg, "train.lora.r", "x2") == 32
    assert resolve_level(cfg, "train.lora.target", "qkvo") == "qkvo"
    with pytest.raises(ConfigError, match="integer"):
        resolve_level(cfg, "train.lora.r", "x0.3")
    with pytest.raises(ConfigError, match="numeric"):
        resolve_level(cfg, "train.lr_scheduler", "x2")
    with pytest.raises(ConfigError, match="look like 'x0.5'"):
        resolve_level(cfg, "train.learning_rate", "xfast")
    with pytest.raises(ConfigError, match="lr_scheduler"):
        ablation_plan(cfg, {"train.lr_scheduler": ["warp"]})
    with pytest.raises(ConfigError, match="does not exist"):
        ablation_plan(cfg, {"train.nope": [1]})
    with pytest.raises(ConfigError, match=r"\(0, 1\]"):
        ablation_plan(cfg, {"scout.fraction": [2.0]})
    plan = ablation_plan(cfg, {"train.lora.r": [64, 8, 16], "train.lora.target": ["all-linear", "qv"]})
    assert [lv.value for lv in plan["train.lora.r"]] == [8, 16, 64]
    assert [lv.is_baseline for lv in plan["train.lora.r"]] == [False, True, False]
    assert [lv.value for lv in plan["train.lora.target"]] == ["qv", "all-linear"]


def test_warmup_ratio_cells_clear_warmup_steps(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, train__warmup_steps=10)
    seen = []

    def run(config, out_dir, fraction):
        seen.append((config.train.warmup_steps, config.train.warmup_ratio))
        return LrOnlyObjective()(config, out_dir, fraction)

    run_ablation(cfg, factors={"train.warmup_ratio": [0.1]}, seeds=1, run_cell=run, study=_study(), baseline_config=cfg)
    assert (None, 0.1) in seen and (10, 0.0) in seen


def test_rank_levels_keep_alpha_over_r_when_the_search_ties_them(tmp_path: Path) -> None:
    """alpha = k x r in the search (multiplier_of): a rank level scales alpha too, so rank and scale are not
    confounded; without the tie, alpha stays as it is."""
    space = {
        "train.learning_rate": {"type": "float", "low": 1e-5, "high": 1e-2, "log": True},
        "train.lora.alpha": {"type": "categorical", "choices": [1, 2], "multiplier_of": "train.lora.r"},
    }
    cfg = make_config(tmp_path, train__lora={"r": 8, "alpha": 16}, search__space=space)
    seen = []

    def run(config, out_dir, fraction):
        seen.append((config.train.lora.r, config.train.lora.alpha))
        return LrOnlyObjective()(config, out_dir, fraction)

    run_ablation(cfg, factors={"train.lora.r": [4, 32]}, seeds=1, run_cell=run, study=_study(), baseline_config=cfg)
    assert sorted(seen) == [(4, 8.0), (8, 16.0), (32, 64.0)]

    untied = make_config(tmp_path, train__lora={"r": 8, "alpha": 16})
    seen.clear()
    run_ablation(untied, factors={"train.lora.r": [32]}, seeds=1, run_cell=run, study=_study(), baseline_config=untied)
    assert sorted(seen) == [(8, 16.0), (32, 16.0)]


def test_significant_verdicts_are_applied_and_named(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, train__learning_rate=1e-3, train__lora={"r": 8, "alpha": 16})
    section = {
        "baseline": {"trial": 4},
        "factors": {
            "train.learning_rate": {"verdict": "matters", "best_level": "x0.5",
                                    "levels": [{"level": "x0.5", "value": 5e-4, "p_adjusted": 0.004}]},
            "train.lora.r": {"verdict": "no detectable effect", "best_level": None, "levels": []},
            "scout.fraction": {"verdict": "matters", "best_level": 0.1, "levels": [{"level": 0.1, "value": 0.1}]},
        },
    }
    new, applied = apply_ablation_verdicts(cfg, section, baseline_trial=4)
    assert new.train.learning_rate == pytest.approx(5e-4) and new.train.lora.r == 8
    assert new.scout.fraction == cfg.scout.fraction  # more data is not a hyperparameter to apply
    assert applied == ["train.learning_rate = 0.0005 (ablation level x0.5, Holm-adjusted p = 0.004)"]
    # an ablation around another config is not applied
    same, none = apply_ablation_verdicts(cfg, section, baseline_trial=7)
    assert same is cfg and none == []


def test_baseline_from_search_trials_and_file(tmp_path: Path) -> None:
    need_search()
    cfg = make_config(tmp_path)
    study = search_study(cfg, [(1e-3, 0.5), (3e-4, 0.1), (1e-5, 0.9)])
    base, info = resolve_baseline(cfg, "best", search_study=study)
    assert base.train.learning_rate == pytest.approx(3e-4) and info["trial"] == 1
    base, info = resolve_baseline(cfg, "trial:2", search_study=study)
    assert base.train.learning_rate == pytest.approx(1e-5)
    with pytest.raises(SearchError, match="no trial 7"):
        resolve_baseline(cfg, "trial:7", search_study=study)
    with pytest.raises(ConfigError, match="integer N"):
        resolve_baseline(cfg, "trial:x", search_study=study)
    with pytest.raises(SearchError, match="no COMPLETE search trial"):
        resolve_baseline(cfg, "best", search_study=optuna.create_study(study_name="demo"))

    path = save_config(make_config(tmp_path, train__learning_rate=7e-4, name="other"), tmp_path / "b.yaml")
    base, info = resolve_baseline(cfg, str(path))
    assert base.train.learning_rate == pytest.approx(7e-4) and base.name == "demo" and info["source"] == str(path)
    with pytest.raises(ConfigError, match="no such file"):
        resolve_baseline(cfg, str(tmp_path / "missing.yaml"))


def test_summarize_counts_majority_failures_as_worse() -> None:
    base = [CellRun(s, "complete", 1.0 + 0.01 * s) for s in range(3)]
    lv = AblationLevel("train.lora.r", 64, 64)
    runs = [CellRun(0, "oom", None), CellRun(1, "oom", None), CellRun(2, "complete", 1.0)]
    out = summarize_ablation(
        base, {"train.lora.r": [(AblationLevel("train.lora.r", 8, 8, True), base), (lv, runs)]}, direction="maximize"
    )
    f = out["factors"]["train.lora.r"]
    assert f["verdict"] == "hurts" and f["levels"][1]["effect"] == "failed" and f["levels"][1]["n_failed"] == 2


def test_summarize_direction_matters() -> None:
    base = [CellRun(s, "complete", v) for s, v in enumerate([0.80, 0.81, 0.79])]
    high = [CellRun(s, "complete", v) for s, v in enumerate([0.90, 0.91, 0.89])]
    entries = {"train.weight_decay": [(AblationLevel("train.weight_decay", 0.0, 0.0, True), base),
                                      (AblationLevel("train.weight_decay", 0.1, 0.1), high)]}
    assert summarize_ablation(base, entries, direction="maximize")["factors"]["train.weight_decay"]["verdict"] == "matters"
    assert summarize_ablation(base, entries, direction="minimize")["factors"]["train.weight_decay"]["verdict"] == "hurts"
    with pytest.raises(ValueError, match="direction"):
        summarize_ablation(base, entries, direction="up")


def _rows(means: list[float], half: float | None = 0.01, values: list | None = None, **extra) -> list[dict]:
    return [
        {"mean": m, "ci_low": None if half is None else m - half, "ci_high": None if half is None else m + half,
         "n": 3, "n_failed": 0, "value": (values or list(range(1, len(means) + 1)))[i], **extra}
        for i, m in enumerate(means)
    ]


def test_pattern_checks() -> None:
    # rank: rises then flat (maximize)
    assert check_pattern("train.lora.r", _rows([0.80, 0.85, 0.86, 0.86]), direction="maximize")[1] is True
    assert check_pattern("train.lora.r", _rows([0.80, 0.90, 0.70, 0.95]), direction="maximize")[1] is False
    assert check_pattern("train.lora.r", _rows([0.80, 0.85, 0.90, 0.95]), direction="maximize")[1] is False  # no plateau
    assert check_pattern("train.lora.r", _rows([0.8, 0.9, 0.9], half=None), direction="maximize")[1] is None
    # learning rate (minimize): optimum inside, too high is worse beyond the CI
    lr = _rows([0.5, 0.2, 0.9], values=[1e-5, 1e-4, 1e-3])
    assert check_pattern("train.learning_rate", lr, direction="minimize")[1] is True
    lr = _rows([0.5, 0.3, 0.2], values=[1e-5, 1e-4, 1e-3])
    exp, ok, how = check_pattern("train.learning_rate", lr, direction="minimize")
    assert ok is False and "highest" in how and "optimum" in exp
    # fraction: diminishing returns (maximize)
    frac = _rows([0.60, 0.75, 0.80, 0.82], values=[0.01, 0.02, 0.05, 0.1])
    assert check_pattern("scout.fraction", frac, direction="maximize")[1] is True
    frac = _rows([0.60, 0.61, 0.70, 0.95], values=[0.01, 0.02, 0.05, 0.1])
    assert check_pattern("scout.fraction", frac, direction="maximize")[1] is False
    # target: more capacity at more cost
    tgt = _rows([0.8, 0.85, 0.86], values=["qv", "qkvo", "all-linear"])
    for r, p in zip(tgt, [100, 200, 400], strict=True):
        r["trainable_params"] = p
    assert check_pattern("train.lora.target", tgt, direction="maximize")[1] is True
    # unknown factor
    assert check_pattern("train.max_grad_norm", _rows([1, 2]), direction="maximize") == (
        None, None, "no expected pattern for this factor")


@pytest.mark.slow
def test_ablation_through_the_real_runner(tmp_path: Path) -> None:
    """1 factor x 2 levels x 2 seeds on a tiny random BERT: cells train, record, resume."""
    pytest.importorskip("torch")  # the hf extra
    need_search()
    import csv
    import random

    from hpscout.config import config_from_dict

    rng = random.Random(0)
    for name, rows in (("train.csv", 48), ("eval.csv", 16)):
        with open(tmp_path / name, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["text", "label"])
            for i in range(rows):
                word = rng.choice(["good", "great", "fine"] if i % 2 else ["bad", "awful", "dull"])
                w.writerow([f"the film was {word}", i % 2])
    cfg = config_from_dict(
        {
            "name": "tiny-ablation",
            "seed": 1,
            "task": "sequence-classification",
            "model": {"from_config": {"model_type": "bert", "vocab_size": 30522, "hidden_size": 32,
                                      "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}},
            "data": {"train": str(tmp_path / "train.csv"), "eval": str(tmp_path / "eval.csv"), "max_length": 16},
            "scout": {"fraction": 1.0},
            "train": {"learning_rate": 1e-3, "batch_size": 16, "epochs": 1, "logging_steps": 1, "method": "full"},
            "search": {"metric": "eval_loss", "direction": "minimize"},
            "output_dir": str(tmp_path / "run"),
        }
    )
    factors = {"train.learning_rate": ["x0.1", "x3"]}
    out = run_ablation(cfg, factors=factors, seeds=2, baseline_config=cfg)
    rows = out["factors"]["train.learning_rate"]["levels"]
    assert [r["level"] for r in rows] == ["x0.1", "x1", "x3"]
    assert all(r["n"] + r["n_failed"] == 2 for r in rows)
    assert out["runs"]["ran"] == 6 and out["study"] == "tiny-ablation-ablation"
    assert out["factors"]["train.learning_rate"]["verdict"] in (
        "matters", "hurts", "no detectable effect", "not enough seeds")
    result = json.loads((tmp_path / "run" / "ablation" / "train.learning_rate_x3_s2" / "result.json").read_text())
    assert result["config"]["train"]["learning_rate"] == pytest.approx(3e-3) and result["seed"] == 2
    assert read_analysis(cfg)["ablation"]["baseline"]["n"] + out["baseline"]["n_failed"] == 2

    def must_not_run(*_a, **_k):
        raise AssertionError("a finished cell ran again")

    again = run_ablation(cfg, factors=factors, seeds=2, baseline_config=cfg, run_cell=must_not_run)
    assert again["runs"]["reused"] == 6
