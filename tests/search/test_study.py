"""The study lifecycle with injected cheap objectives: budget, resume, grid, top-k, failures."""

from __future__ import annotations

import json
import math

import optuna
import pytest
from _objectives import quadratic
from optuna.trial import TrialState

import hpscout
import hpscout.runner
from hpscout import SearchError
from hpscout.config import builtin_path, config_from_dict, load_config
from hpscout.runner import TrialResult, TrialStatus
from hpscout.search import (
    TrialFailed,
    open_study,
    run_search,
    top_trials,
    trials_table,
)

pytestmark = pytest.mark.filterwarnings("ignore:Heartbeat of storage")

SPACE = {
    "train.learning_rate": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
    "train.batch_size": {"type": "categorical", "choices": [8, 16, 32]},
}


def make_config(tmp_path, name="study-test", **search):
    search = {"trials": 8, "sampler": "random", "space": SPACE, **search}
    return config_from_dict(
        {
            "name": name,
            "output_dir": str(tmp_path / name),
            # real data (the 20,000-row SST-2 sample): a search checks it before the first trial
            "data": {"train": str(builtin_path("builtin:sst2/train.tsv")), "text_column": "sentence"},
            "scout": {"fraction": 0.05, "fidelities": [0.01, 0.02, 0.05]},
            "search": search,
        }
    )


def states(cfg):
    out: dict[str, int] = {}
    for t in open_study(cfg).get_trials(deepcopy=False):
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out


def test_resume_adds_trials_only_up_to_the_budget(tmp_path):
    cfg = make_config(tmp_path, trials=6)
    first = run_search(cfg, objective=quadratic, progress=False)
    assert first.n_finished == 6 and first.n_new == 6 and first.n_complete >= 1
    again = run_search(cfg, objective=quadratic, progress=False)
    assert again.n_new == 0 and again.n_finished == 6  # budget reached: nothing re-run
    more = run_search(cfg, objective=quadratic, trials=9, progress=False)
    assert more.n_new == 3 and more.n_finished == 9
    numbers = [t.number for t in open_study(cfg).get_trials()]
    assert numbers == list(range(9))


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_a_resumed_search_never_repeats_the_draws_it_already_made(tmp_path, sampler):
    """A seeded sampler restarts its sequence; resuming must not spend the budget on the same trials again."""
    space = {"train.learning_rate": SPACE["train.learning_rate"]}
    cfg = make_config(tmp_path, sampler=sampler, trials=4, space=space)
    run_search(cfg, objective=quadratic, progress=False)
    run_search(cfg, objective=quadratic, trials=8, progress=False)
    lrs = [t.params["train.learning_rate"] for t in open_study(cfg).get_trials()]
    assert len(lrs) == 8 and len(set(lrs)) == 8, lrs
    # a new study is still seeded by config.seed alone: the same first draws as before resumes existed
    fresh = make_config(tmp_path, name="fresh", sampler=sampler, trials=4, space=space)
    run_search(fresh, objective=quadratic, progress=False)
    assert [t.params["train.learning_rate"] for t in open_study(fresh).get_trials()] == lrs[:4]
    # and resuming is deterministic: the same study resumed the same way draws the same trials
    twin = make_config(tmp_path, name="twin", sampler=sampler, trials=4, space=space)
    run_search(twin, objective=quadratic, progress=False)
    run_search(twin, objective=quadratic, trials=8, progress=False)
    assert [t.params["train.learning_rate"] for t in open_study(twin).get_trials()] == lrs


def test_budget_counts_pruned_and_failed_verdicts(tmp_path):
    calls = []

    def objective(trial, config):
        calls.append(trial.number)
        if trial.number == 1:
            raise TrialFailed("diverged", "loss exploded at step 3")
        if trial.number == 2:
            raise optuna.TrialPruned("pruned")
        if trial.number == 3:
            return float("nan")
        if trial.number == 4:
            raise RuntimeError("bug in objective")
        return float(trial.number)

    cfg = make_config(tmp_path, trials=6)
    summary = run_search(cfg, objective=objective, progress=False)
    assert len(calls) == 6
    assert (summary.n_complete, summary.n_pruned, summary.n_failed) == (2, 1, 3)
    rows = {r["number"]: r for r in trials_table(cfg)}
    assert rows[1]["status"] == "diverged" and "exploded" in rows[1]["message"]
    assert rows[3]["status"] == "diverged"
    assert rows[4]["status"] == "failed" and "bug in objective" in rows[4]["message"]
    # failed or diverged trials are never ranked
    assert [t.number for t in top_trials(open_study(cfg), 5, "minimize")] == [0, 5]
    assert summary.best_trial == 0


def test_setup_errors_stop_the_search(tmp_path):
    def objective(trial, config):
        raise SearchError("the model path does not exist")

    cfg = make_config(tmp_path, trials=5)
    with pytest.raises(SearchError, match="model path"):
        run_search(cfg, objective=objective, progress=False)
    assert states(cfg) == {"FAIL": 1}


def test_grid_never_repeats_a_cell_even_on_resume(tmp_path):
    space = {
        "train.learning_rate": {"type": "categorical", "choices": [1e-4, 1e-3, 1e-2]},
        "train.batch_size": {"type": "categorical", "choices": [8, 16]},
    }
    cfg = make_config(tmp_path, sampler="grid", space=space, trials=6, pruner="none")

    def interrupted(trial, config):
        if trial.number == 3:
            raise KeyboardInterrupt
        return quadratic(trial, config)

    with pytest.raises(KeyboardInterrupt):
        run_search(cfg, objective=interrupted, progress=False)
    run_search(cfg, objective=quadratic, progress=False)
    run_search(cfg, objective=quadratic, progress=False)  # grid exhausted: no-op
    trials = open_study(cfg).get_trials()
    done = [tuple(sorted(t.params.items())) for t in trials if t.state == TrialState.COMPLETE]
    assert len(done) == 6 and len(set(done)) == 6
    (lost,) = [t for t in trials if t.state == TrialState.FAIL]
    assert "interrupted" in lost.user_attrs["interrupted"]
    assert tuple(sorted(lost.params.items())) in done  # retried with the same cell, not a new one
    assert len(trials) == 7


def test_grid_with_conditional_params(tmp_path):
    space = {
        "train.method": {"type": "categorical", "choices": ["lora", "full"]},
        "train.lora.r": {"type": "categorical", "choices": [4, 8], "when": {"train.method": "lora"}},
    }
    cfg = make_config(tmp_path, sampler="grid", space=space, trials=None, pruner="none")
    summary = run_search(cfg, objective=lambda trial, config: float(config.train.lora.r), progress=False)
    assert summary.budget == 3 and summary.n_complete == 3
    params = sorted(json.dumps(t.params, sort_keys=True) for t in open_study(cfg).get_trials())
    assert params == sorted(
        json.dumps(p, sort_keys=True)
        for p in ({"train.method": "full"}, {"train.method": "lora", "train.lora.r": 4}, {"train.method": "lora", "train.lora.r": 8})
    )


def test_top_k_configs_load_and_hold_the_trial_params(tmp_path):
    cfg = make_config(tmp_path, trials=8, top_k=3, direction="minimize")
    summary = run_search(cfg, objective=quadratic, progress=False)
    assert [p.name for p in summary.top_paths] == ["top1.yaml", "top2.yaml", "top3.yaml"][: len(summary.top_paths)]
    best = top_trials(open_study(cfg), 3, "minimize")
    for path, trial in zip(summary.top_paths, best, strict=True):
        loaded = load_config(path)
        assert loaded.train.learning_rate == pytest.approx(trial.params["train.learning_rate"])
        assert loaded.train.batch_size == trial.params["train.batch_size"]
        text = path.read_text()
        assert f"trial {trial.number}: eval_loss = " in text and "at fraction 0.05" in text
    # fewer top files on a later run with a smaller k: stale ones are removed
    run_search(cfg.model_copy(update={"search": cfg.search.model_copy(update={"top_k": 1})}), objective=quadratic, progress=False)
    assert sorted(p.name for p in (tmp_path / "study-test" / "top").iterdir()) == ["top1.yaml"]


def test_trials_table_fields(tmp_path):
    cfg = make_config(tmp_path, trials=5)
    run_search(cfg, objective=quadratic, progress=False)
    rows = trials_table(cfg)
    assert [r["number"] for r in rows] == list(range(5))
    for r in rows:
        assert r["state"] in ("COMPLETE", "PRUNED")
        assert set(r["params"]) == set(SPACE)
        assert r["fraction"] in (0.01, 0.02, 0.05)
        assert r["duration_seconds"] is not None and r["value"] is not None
        assert (r["fraction"] == 0.05) == (r["state"] == "COMPLETE")


def test_bad_space_reported_before_any_trial(tmp_path):
    cfg = make_config(tmp_path, space={"train.learning_rat": SPACE["train.learning_rate"]})
    with pytest.raises(SearchError, match="did you mean 'train.learning_rate'"):
        run_search(cfg, objective=quadratic, progress=False)
    assert not (tmp_path / "study-test" / "study.log").exists()


def test_direction_mismatch_on_resume(tmp_path):
    cfg = make_config(tmp_path, trials=2)
    run_search(cfg, objective=quadratic, progress=False)
    flipped = cfg.model_copy(update={"search": cfg.search.model_copy(update={"direction": "maximize"})})
    with pytest.raises(SearchError, match="created to minimize"):
        open_study(flipped)


def test_study_user_attrs_hold_config_and_ladder(tmp_path):
    cfg = make_config(tmp_path, trials=1)
    run_search(cfg, objective=quadratic, progress=False)
    attrs = open_study(cfg).user_attrs
    assert attrs["ladder"] == [0.01, 0.02, 0.05] and attrs["metric"] == "eval_loss"
    assert "name: study-test" in attrs["config"]
    assert open_study(cfg, suffix="-ablation").study_name == "study-test-ablation"


def test_progress_line_and_table_on_stderr(tmp_path, capsys):
    cfg = make_config(tmp_path, trials=3)
    run_search(cfg, objective=quadratic, progress=True)
    err = capsys.readouterr().err
    assert "[search] 3/3 finished" in err and "best eval_loss" in err and "ETA" in err
    assert "state" in err and "train.learning_rate=" in err


# --------------------------------------------------------------------------- the default objective


def _fake_runner(calls):
    """Stands in for hpscout.runner.run_trial (written elsewhere): value from lr, cost from fraction."""

    def run_trial(config, *, out_dir, fraction=None, reporter=None):
        calls.append((fraction, str(out_dir)))
        lr = config.train.learning_rate
        if lr > 0.05:
            result = TrialResult(status=TrialStatus.DIVERGED, message="loss is nan at step 4", fraction=fraction)
        else:
            loss = (math.log10(lr) + 3) ** 2 + 0.01 / fraction
            result = TrialResult(
                status=TrialStatus.COMPLETE,
                metrics={"eval_loss": loss},
                objective=loss,
                elapsed_seconds=1.5,
                trainable_params=1000,
                train_samples=int(fraction * 10_000),
                samples_processed=int(fraction * 20_000),
                fraction=fraction,
            )
        if reporter is not None:
            reporter.report(result.objective or 0.0, 10)
        result.save(out_dir / "result.json")
        return result

    return run_trial


def test_default_objective_climbs_rungs_and_records_results(tmp_path, monkeypatch):
    calls: list = []
    monkeypatch.setattr(hpscout.runner, "run_trial", _fake_runner(calls), raising=False)
    space = {"train.learning_rate": {"type": "categorical", "choices": [1e-3, 0.09]}}
    cfg = make_config(tmp_path, trials=2, sampler="grid", space=space, pruner="none")
    summary = run_search(cfg, progress=False)
    assert (summary.n_complete, summary.n_failed) == (1, 1)
    by_lr = {t.params["train.learning_rate"]: t for t in open_study(cfg).get_trials()}
    good, bad = by_lr[1e-3], by_lr[0.09]
    tdir = tmp_path / "study-test" / "trials" / f"t{good.number:04d}"
    assert [f for f, _ in calls if f"t{good.number:04d}" in _] == [0.01, 0.02, 0.05]
    for f in ("0.01", "0.02", "0.05"):
        assert (tdir / f"f{f}" / "result.json").exists()
    top = TrialResult.load(tdir / "result.json")
    assert top.fraction == 0.05
    attrs = good.user_attrs
    assert attrs["fraction"] == 0.05 and attrs["status"] == "complete"
    assert attrs["result_path"] == str(tdir / "result.json")
    assert attrs["samples_processed"] == int(0.01 * 20_000) + int(0.02 * 20_000) + int(0.05 * 20_000)
    assert attrs["elapsed_seconds"] == pytest.approx(4.5) and attrs["trainable_params"] == 1000
    assert attrs["metrics"]["eval_loss"] == pytest.approx(good.value)
    # a diverged trial ends FAIL at its first rung and is never ranked
    assert bad.state == TrialState.FAIL and bad.user_attrs["status"] == "diverged"
    assert bad.user_attrs["fraction"] == 0.01 and "nan" in bad.user_attrs["message"]
    assert summary.best_trial == good.number


def test_default_objective_eval_fidelity_passes_a_reporter(tmp_path, monkeypatch):
    calls: list = []
    monkeypatch.setattr(hpscout.runner, "run_trial", _fake_runner(calls), raising=False)
    cfg = make_config(tmp_path, trials=2, fidelity="eval", pruner="median")
    summary = run_search(cfg, progress=False)
    assert summary.n_finished == 2
    assert [f for f, _ in calls] == [0.05, 0.05]  # one run per trial at the top fraction
    trial = open_study(cfg).get_trials()[0]
    assert list(trial.intermediate_values) == [10] or trial.state == TrialState.FAIL


# --------------------------------------------------------------------------- the real command runner

SCRIPT = """
import json, math, os, sys
args = dict(a.lstrip("-").split("=", 1) for a in sys.argv[1:] if "=" in a)
lr = float(args["learning_rate"])
fraction = float(os.environ["HPSCOUT_FRACTION"])
loss = (math.log10(lr) + 3) ** 2 + 0.01 / fraction
with open(os.environ["HPSCOUT_METRICS_FILE"], "a") as fh:
    fh.write(json.dumps({"step": 1, "eval_loss": loss, "train_samples": int(fraction * 1000)}) + "\\n")
"""


def test_default_objective_with_the_command_runner(tmp_path):
    import sys

    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    cfg = config_from_dict(
        {
            "name": "command-search",
            "task": "command",
            "command": {"argv": [sys.executable, str(script)]},
            "output_dir": str(tmp_path / "run"),
            "data": {"train": "train.csv"},
            "scout": {"fraction": 0.05, "fidelities": [0.01, 0.05]},
            "search": {
                "trials": 3,
                "sampler": "grid",
                "pruner": "none",
                "space": {"train.learning_rate": {"type": "categorical", "choices": [1e-4, 1e-3, 1e-2]}},
            },
        }
    )
    summary = run_search(cfg, progress=False)
    assert summary.n_complete == 3
    best = open_study(cfg).trials[summary.best_trial]
    assert best.params["train.learning_rate"] == 1e-3
    assert best.value == pytest.approx(0.01 / 0.05)
    assert list(best.intermediate_values) == [100, 500]
    tdir = tmp_path / "run" / "trials" / f"t{best.number:04d}"
    assert TrialResult.load(tdir / "result.json").fraction == 0.05
    assert (tdir / "f0.01" / "result.json").exists()
    assert load_config(summary.top_paths[0]).train.learning_rate == 1e-3


def test_runner_setting_errors_stop_before_any_trial(tmp_path):
    cfg = make_config(tmp_path, trials=2)
    bad = config_from_dict({**cfg.model_dump(mode="json"), "search": {**cfg.search.model_dump(mode="json"), "metric": "eval_acc"}})
    with pytest.raises(hpscout.HpscoutError, match="eval_acc"):
        run_search(bad, progress=False)
    assert not (tmp_path / "study-test" / "study.log").exists()
