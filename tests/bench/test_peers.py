"""bench/peers.py: incumbents over time, the retrain plan, the summary and verdict, the budget; the smoke run (slow)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _bench import load_bench

REPO = Path(__file__).resolve().parents[2]




res = load_bench("_peers_result")
setup_mod = load_bench("_peers_setup")
hf = load_bench("_peers_hf")

A = {"learning_rate": 1e-3, "lora_r": 4, "warmup_ratio": 0.0}
B = {"learning_rate": 2e-3, "lora_r": 8, "warmup_ratio": 0.06}
C = {"learning_rate": 4e-3, "lora_r": 16, "warmup_ratio": 0.1}


def _trial(n, state, value, params, start, end, kind="search", fraction=1.0, **kw):
    return res.TrialRecord(n, state, value, dict(params), fraction, start, end, kind=kind, **kw)


def _run(name, trials, incumbents, pick, wall, budget=100.0):
    return res.CompetitorRun(
        name=name, label=name, budget_s=budget, wall_s=wall, trials=trials, incumbents=incumbents, pick=pick, best_value=None
    )


def test_the_incumbent_is_the_best_complete_trial_so_far():
    trials = [
        _trial(0, "complete", 0.70, A, 0, 10),
        _trial(1, "pruned", 0.95, B, 10, 12),  # a pruned trial's last value never makes it the incumbent
        _trial(2, "cut", None, B, 12, 30),
        _trial(3, "complete", 0.69, C, 30, 40),
        _trial(4, "complete", 0.80, C, 40, 55),
    ]
    changes = res.best_complete_changes(trials)
    assert changes == [(10, A), (55, C)]
    assert res.incumbent_at(changes, 5) is None
    assert res.incumbent_at(changes, 54.9) == A
    assert res.incumbent_at(changes, 55) == C


def test_hpscouts_incumbent_moves_to_the_highest_decided_rung():
    trials = [
        _trial(0, "complete", 0.80, A, 0, 20, fraction=0.05),
        _trial(1, "complete", 0.85, B, 0, 25, fraction=0.05),
        _trial(2, "complete", 0.70, C, 20, 40, fraction=0.05),
        _trial(1, "complete", 0.82, B, 40, 100, kind="transfer", fraction=0.1),
        _trial(0, "complete", 0.86, A, 100, 110, kind="transfer", fraction=0.1),
        _trial(0, "complete", 0.90, A, 110, 200, kind="transfer", fraction=0.2),
        _trial(1, "complete", 0.91, B, 200, 260, kind="transfer", fraction=0.2),
    ]
    rungs = [
        {"fraction": 0.1, "trials": [1, 0], "values": [0.82, 0.86]},
        {"fraction": 0.2, "trials": [0, 1], "values": [0.90, 0.91]},
    ]
    changes = res.climb_changes(trials, rungs)
    assert res.incumbent_at(changes, 105) == B  # rung 0.1 is not decided until its last re-run ends at 110
    assert res.incumbent_at(changes, 150) == A
    assert res.incumbent_at(changes, 259) == A
    assert res.incumbent_at(changes, 260) == B


def test_curve_points_and_the_time_the_pick_was_found():
    run = _run("tpe", [], [(10.0, A), (40.0, B)], B, wall=100.0)
    points = res.curve_points(run)
    assert [p["seconds"] for p in points] == [25.0, 50.0, 75.0, 100.0]
    assert [p["params"] for p in points] == [A, B, B, B]
    assert res.time_to_pick(run) == 40.0
    back = _run("tpe", [], [(10.0, A), (40.0, B), (70.0, A)], A, wall=100.0)
    assert res.time_to_pick(back) == 70.0  # the pick held only from its last return
    early = _run("hf", [], [(30.0, C)], C, wall=100.0)
    assert [p["params"] for p in res.curve_points(early)][0] is None  # nothing finished by 25 s


def test_the_retrain_plan_trains_each_config_and_seed_once():
    one = _run("hpscout", [], [(10.0, A), (60.0, B)], B, wall=100.0)
    two = _run("tpe", [], [(80.0, B)], B, wall=100.0)
    plan = res.retrain_plan([one, two], seeds=(0, 1))
    keys = [res.retrain_key(p, s) for p, s in plan]
    assert len(keys) == len(set(keys))
    assert sorted((p["lora_r"], s) for p, s in plan) == [(4, 0), (8, 0), (8, 1)]  # curve configs: first seed only


def test_the_retrain_plan_gives_every_pick_its_first_seed_first_and_can_skip_the_curve():
    one = _run("hpscout", [], [(10.0, A), (60.0, B)], B, wall=100.0)
    two = _run("tpe", [], [(80.0, C)], C, wall=100.0)
    plan = res.retrain_plan([one, two], seeds=(0, 1), curve=False)
    assert [(p["lora_r"], s) for p, s in plan] == [(B["lora_r"], 0), (C["lora_r"], 0), (B["lora_r"], 1), (C["lora_r"], 1)]
    assert len(res.retrain_plan([one, two], seeds=(0, 1))) == 5  # + A, hpscout's incumbent at 25%


def _rows(accuracy):
    """{(params name, seed): accuracy} -> retrain rows by key."""
    out = {}
    for (name, seed), acc in accuracy.items():
        params = {"A": A, "B": B, "C": C}[name]
        row = {"seed": seed, "fraction": 1.0, **params, "status": "complete", "eval_accuracy": str(acc)}
        out[res.retrain_key(params, seed)] = row
    return out


def test_summary_pairs_the_seeds_and_reads_both_goals():
    hp = _run("hpscout", [_trial(0, "complete", 0.8, A, 0, 30, fraction=0.05, samples=2000)], [(30.0, A)], A, wall=100.0)
    tpe = _run(
        "tpe",
        [_trial(0, "complete", 0.85, B, 0, 300, samples=40000), _trial(1, "cut", None, C, 300, 400)],
        [(300.0, B)],
        B,
        wall=400.0,
        budget=400.0,
    )
    rows = _rows({("A", 0): 0.90, ("A", 1): 0.91, ("B", 0): 0.89, ("B", 1): 0.895})
    summary = res.summarize([hp, tpe], rows, seeds=(0, 1))
    paired = summary["paired"]["tpe"]
    assert paired["n"] == 2 and paired["mean"] == pytest.approx(0.0125)
    assert paired["ci_low"] < paired["mean"] < paired["ci_high"]
    verdict = summary["verdict"]
    assert verdict["quality"] is True and verdict["best_peer"] == "tpe"
    assert verdict["wall_ratio"] == pytest.approx(0.25) and verdict["wall"] is True
    assert verdict["wall_ratio_to_pick"] == pytest.approx(100 / 300)
    by_name = {r["name"]: r for r in summary["rows"]}
    assert by_name["tpe"]["cut"] == 1 and by_name["tpe"]["samples"] == 40000
    assert by_name["hpscout"]["curve"][0]["chance"] is True  # no incumbent at 25 s
    header, table = res.table_rows(summary)
    assert [len(r) for r in table] == [len(header)] * 2
    assert "competitor" in res.format_table(summary).splitlines()[0]
    # a worse hpscout pick misses the quality goal
    worse = res.summarize([hp, tpe], _rows({("A", 0): 0.80, ("A", 1): 0.81, ("B", 0): 0.89, ("B", 1): 0.895}), seeds=(0, 1))
    assert worse["verdict"]["quality"] is False and "NOT MET" in worse["verdict"]["line"]


def test_the_summary_counts_search_trials_that_repeated_earlier_parameters():
    trials = [
        _trial(0, "complete", 0.8, A, 0, 30),
        _trial(1, "complete", 0.7, B, 0, 31),
        _trial(2, "failed", None, {}, 0, 5),  # no params: never a repeat
        _trial(3, "complete", 0.8, dict(A), 31, 60),  # A again
        _trial(4, "complete", 0.8, A, 60, 90, kind="transfer"),  # the climb re-runs on purpose
    ]
    run = _run("hpscout", trials, [(30.0, A)], A, wall=100.0)
    assert res.repeated_trials(run) == 1
    summary = res.summarize([run], {}, seeds=(0,))
    assert summary["rows"][0]["repeated"] == 1
    header, (row,) = res.table_rows(summary)
    assert row[header.index("trials")] == "4 (1 repeated)"
    clean = _run("tpe", trials[:2], [(30.0, A)], A, wall=100.0)
    assert res.table_rows(res.summarize([clean], {}, seeds=(0,)))[1][0][header.index("trials")] == "2"


def test_a_summary_without_retrains_says_so():
    hp = _run("hpscout", [], [(30.0, A)], A, wall=100.0)
    summary = res.summarize([hp], {}, seeds=(0,))
    assert summary["rows"][0]["full_accuracy_mean"] is None
    assert summary["verdict"]["quality"] is None


def test_time_shares_split_each_rung():
    run = _run(
        "hpscout",
        [
            _trial(0, "complete", 0.8, A, 0, 10, fraction=0.05, setup_s=2.0, eval_s=1.0, evals=2),
            _trial(1, "complete", 0.8, A, 10, 20, fraction=0.05, setup_s=4.0, eval_s=1.0, evals=2),
            _trial(0, "complete", 0.8, A, 20, 40, fraction=0.1, kind="transfer", eval_s=4.0, evals=2),
            _trial(2, "cut", None, A, 40, 50, fraction=0.05, eval_s=0.0),
        ],
        [],
        A,
        wall=50.0,
    )
    shares = {(g["kind"], g["fraction"]): g for g in res.time_shares(run)}
    scout = shares[("search", 0.05)]
    assert scout["trials"] == 2 and scout["mean_s"] == 10.0
    assert scout["eval_share"] == pytest.approx(0.1) and scout["setup_share"] == pytest.approx(0.3)
    assert shares[("transfer", 0.1)]["setup_share"] is None


def test_a_competitor_run_round_trips_through_json():
    run = _run("tpe", [_trial(0, "complete", 0.8, A, 0, 10)], [(10.0, A)], A, wall=20.0)
    back = res.CompetitorRun.from_dict(json.loads(json.dumps(run.to_dict())))
    assert back == run


def test_the_deadline_stops_the_trial_in_training_and_then_every_new_one():
    clock = setup_mod.Clock(time.time())
    deadline = setup_mod.Deadline(clock, budget_s=0.3)
    deadline.arm()
    started = time.perf_counter()
    try:
        with pytest.raises(setup_mod.BudgetSpent):
            with deadline.training():
                while time.perf_counter() - started < 10:
                    sum(range(1000))
    finally:
        deadline.disarm()
    assert 0.2 < time.perf_counter() - started < 5
    assert deadline.expired and deadline.cut and not deadline.in_training
    with pytest.raises(setup_mod.BudgetSpent):
        with deadline.training():
            pass


def test_hf_trials_join_the_recorders_train_calls_and_the_last_one_cut_by_the_budget_is_cut():
    import datetime as dt

    import optuna

    launched = time.time()
    clock = setup_mod.Clock(launched)
    study = optuna.create_study(direction="maximize", storage=optuna.storages.InMemoryStorage(), study_name="hf")
    dist = {
        "lora_r": optuna.distributions.CategoricalDistribution([4, 8, 16]),
        "learning_rate": optuna.distributions.FloatDistribution(3e-4, 1e-2, log=True),
        "warmup_ratio": optuna.distributions.CategoricalDistribution([0.0, 0.06, 0.1]),
    }
    at = lambda s: dt.datetime.fromtimestamp(launched + s)  # noqa: E731
    params = {"lora_r": 8, "learning_rate": 2e-3, "warmup_ratio": 0.06}
    for state, value, inter, start, end in (
        (optuna.trial.TrialState.COMPLETE, 0.8, {62: 0.7, 124: 0.8}, 5, 40),
        (optuna.trial.TrialState.PRUNED, None, {62: 0.5}, 40, 60),
        (optuna.trial.TrialState.PRUNED, None, {}, 60, 90),
    ):
        frozen = optuna.trial.create_trial(
            state=state, value=value, params=params, distributions=dist, intermediate_values=inter
        )
        frozen.datetime_start, frozen.datetime_complete = at(start), at(end)
        study.add_trial(frozen)
    runs = [
        {"train_begin": 8.0, "epoch": 2.0, "eval_s": 4.0, "evals": 2},
        {"train_begin": 42.0, "epoch": 1.0, "eval_s": 2.0, "evals": 1},
        {"train_begin": 63.0, "epoch": 0.5, "eval_s": 0.0, "evals": 0},
    ]
    deadline = setup_mod.Deadline(clock, budget_s=90.0)
    deadline.expired = deadline.cut = True
    records = hf._hf_records(study, runs, clock, rows=1000, fraction=0.05, deadline=deadline)
    assert [r.state for r in records] == ["complete", "pruned", "cut"]
    assert [r.samples for r in records] == [2000, 1000, 500]
    assert records[1].value == 0.5  # a pruned trial keeps its last intermediate value
    assert records[0].setup_s == pytest.approx(3.0, abs=0.01) and records[0].train_s == pytest.approx(28.0, abs=0.01)
    assert records[0].params == {"learning_rate": 2e-3, "lora_r": 8, "warmup_ratio": 0.06}
    assert res.best_complete_changes(records)[0][1] == records[0].params


def test_a_reduced_sample_scales_the_step_floor_so_the_ladder_keeps_its_shape(tmp_path):
    setup = setup_mod.Setup(
        mode="quick", budget_s=10.0, seeds=(0,), train_rows=1000, eval_rows=300, tiny_model=False,
        probe_fractions=None, probe_full_sample=True, work=tmp_path / "w", scratch=tmp_path / "s",
    )
    updates = setup_mod.mode_updates(setup)
    assert updates["scout.min_steps"] == 5  # 100 steps on 20,000 rows -> 5 on 1,000
    with open(updates["data.train"], newline="") as fh:
        labels = [row["label"] for row in csv.DictReader(fh, delimiter="\t")]
    assert len(labels) == 1000 and abs(labels.count("1") - labels.count("0")) <= 120  # stratified like the sample
    config = setup_mod.competitor_config(setup)
    assert setup_mod.scouting_fraction(config) == pytest.approx(0.05)
    full = setup_mod.competitor_config(setup, full_sample=True)
    assert full.scout.min_steps == 100 and setup_mod.scouting_fraction(full) == pytest.approx(0.05)


@pytest.mark.slow
def test_the_smoke_run_prints_the_table_and_resumes(tmp_path):
    """Every competitor runs (tiny BERT, 20 s each), the picks are retrained, a rerun redoes nothing."""
    work, scratch = tmp_path / "work", tmp_path / "scratch"
    cmd = [sys.executable, str(REPO / "bench" / "peers.py"), "--smoke", "--work", str(work), "--scratch", str(scratch)]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    first = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    result = json.loads((work / "peers.json").read_text())
    assert set(result["competitors"]) == {"hpscout", "hf-scout", "hf-full", "tpe", "tpe-hyperband"}
    rows = {r["name"]: r for r in result["summary"]["rows"]}
    for name, row in rows.items():
        assert row["wall_s"] > 0 and row["trials"] >= 1, name
        assert row["trials"] == row["complete"] + row["pruned"] + row["cut"] + row["failed"], name
    hp = rows["hpscout"]
    assert hp["pick"] is not None and hp["samples"] > 0 and hp["reruns"] >= 1
    assert 0.0 <= hp["full_accuracy"]["0"] <= 1.0  # the pick was retrained at full scale
    assert result["fixed_costs"]["probe"]["rungs"][0]["eval_s"] >= 0
    assert result["versions"]["transformers"] and result["versions"]["optuna"]
    table = first.stdout[first.stdout.index("competitor") :].splitlines()
    assert [line.split()[0] for line in table[1:6]] == ["hpscout", "hf-scout", "hf-full", "tpe", "tpe-hyperband"]
    assert "VERDICT" in first.stdout
    assert (work / "peers.png").stat().st_size > 0
    retrains = (work / "retrains.csv").read_text()

    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert again.stdout.count("done earlier, skipped") == 6
    assert (work / "retrains.csv").read_text() == retrains  # nothing retrained twice
