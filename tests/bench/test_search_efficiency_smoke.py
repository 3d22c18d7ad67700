"""bench/search_efficiency.py: pure helpers, and a seconds-long run on real YAHPO surrogates.

yahpo-gym needs numpy<2, so it lives in its own venv (``.venv-bench``, see
bench/README.md). The end-to-end test runs the harness with the first Python
that can import it: ``$HPSCOUT_BENCH_PYTHON``, this interpreter, or
``.venv-bench/bin/python``; it is skipped, with the reason, when none can.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from _bench import load_bench

REPO = Path(__file__).resolve().parents[2]
HARNESS = REPO / "bench" / "search_efficiency.py"




se = load_bench("search_efficiency")


# ----------------------------------------------------------------------------- pure helpers


def test_geometric_ladder_stays_within_the_scenario_range():
    geometric_ladder = se._methods.geometric_ladder
    assert geometric_ladder(0.03) == pytest.approx((1 / 27, 1 / 9, 1 / 3, 1.0))
    assert geometric_ladder(1 / 52) == pytest.approx((1 / 27, 1 / 9, 1 / 3, 1.0))
    assert geometric_ladder(0.5) == (1.0,)


def test_incumbent_is_the_best_at_the_highest_fidelity_reached():
    # (spent, trial, fraction, value), maximised
    records = [
        (0.1, 0, 0.1, 0.9),
        (0.2, 1, 0.1, 0.95),
        (0.5, 1, 0.3, 0.7),
        (0.8, 2, 0.3, 0.8),
        (1.1, 3, 0.1, 0.99),
    ]
    assert [inc for _, inc in se.incumbents(records, maximize=True)] == [0, 1, 1, 2, 2]
    assert [inc for _, inc in se.incumbents(records, maximize=False)] == [0, 0, 1, 1, 1]


def test_ledger_charges_the_whole_rung_or_the_increment():
    retrain, cont = se.Ledger(10, continuation=False), se.Ledger(10, continuation=True)
    for ledger in (retrain, cont):
        for f in (1 / 9, 1 / 3, 1.0):
            ledger.charge(0, f)
    assert retrain.spent == pytest.approx(1 / 9 + 1 / 3 + 1)
    assert cont.spent == pytest.approx(1.0)
    full = se.Ledger(1, continuation=False)
    full.charge(0, 1.0)
    with pytest.raises(se.BudgetSpent):
        full.charge(1, 0.1)


class FakeContext:
    """A :class:`_methods.Context` over a table of values: (trial, fraction) -> value; records every call."""

    def __init__(self, values=None, noise=0.0):
        self.values, self.noise = values or {}, noise
        self.evaluated: list[tuple[int, float]] = []
        self.noise_runs: list[tuple[int, float]] = []
        self.picks: list[int] = []
        self.notes: dict = {}

    def cost(self, fraction):
        return fraction

    def evaluate(self, number, fraction):
        self.evaluated.append((number, fraction))
        return self.values.get((number, fraction), 0.0)

    def seed_noise(self, number, fraction):
        self.noise_runs.append((number, fraction))
        return self.noise

    def pick(self, number):
        self.picks.append(number)

    def note(self, **info):
        self.notes.update(info)


def _study(values, direction="maximize"):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(direction=direction)
    for v in values:
        study.add_trial(optuna.trial.create_trial(value=v))
    return study


def test_one_shot_check_reruns_every_topk_entrant_once_and_picks_the_best_rerun():
    after = se._methods.rerun_every_topk_entrant(k=2, fraction=0.2)
    study = _study([])
    ctx = FakeContext({(0, 0.2): 0.3, (1, 0.2): 0.8, (2, 0.2): 0.9, (3, 0.2): 0.4, (5, 0.2): 0.5})
    import optuna

    for value in (0.5, 0.7, 0.6, 0.9, 0.1, 0.95):
        study.add_trial(optuna.trial.create_trial(value=value))
        after(study, study.trials[-1], ctx)
    # top-2 after each trial: {0}, {1,0}, {1,2}, {3,1}, {3,1}, {5,3}: each entrant re-run once, in order
    assert ctx.evaluated == [(0, 0.2), (1, 0.2), (2, 0.2), (3, 0.2), (5, 0.2)]
    assert ctx.picks[-1] == 2  # the best re-run so far (anytime)
    # what hpscout run would pick: the best re-run of the final top-2 {5, 3}, and that one check's cost
    assert ctx.notes == {"final_pick": 5, "check_cost": pytest.approx(0.4)}


def test_climb_stops_when_the_two_largest_rungs_agree():
    from hpscout.config import TransferConfig

    config = se._methods.bench_config(se._methods.Facts(0.01, []), transfer=TransferConfig(k=3))
    climb = se._methods.climb_after_every_trial(config, [0.1, 0.2, 0.4], "max_fraction")
    study = _study([0.80, 0.79, 0.70])  # trials 0, 1, 2 at the scout fraction
    # 0.1 swaps the top two by 0.05 (> epsilon 0.01): climb; 0.2 orders them like 0.1: stop there
    values = {(0, 0.1): 0.80, (1, 0.1): 0.85, (2, 0.1): 0.70, (0, 0.2): 0.81, (1, 0.2): 0.86, (2, 0.2): 0.72}
    ctx = FakeContext(values, noise=0.01)
    climb(study, study.trials[-1], ctx)
    assert sorted(ctx.evaluated) == sorted(values)  # each config once per rung reached; nothing at 0.4
    assert ctx.noise_runs == [(1, 0.1), (1, 0.2)]  # the rung's top config, one extra seed per rung
    assert ctx.picks == [1]
    assert ctx.notes["stop"] == "agreed" and ctx.notes["final_fraction"] == 0.2
    assert ctx.notes["check_cost"] == pytest.approx(4 * 0.1 + 4 * 0.2)  # 3 configs + 1 epsilon run per rung
    # the next trial does not enter the top-3: the climb reuses every value and epsilon run
    import optuna

    study.add_trial(optuna.trial.create_trial(value=0.1))
    climb(study, study.trials[-1], ctx)
    assert len(ctx.evaluated) == 6 and len(ctx.noise_runs) == 2 and ctx.picks == [1, 1]


def test_climb_that_never_agrees_stops_after_its_last_rung_and_picks_there():
    config = se._methods.bench_config(se._methods.Facts(0.01, []))
    climb = se._methods.climb_after_every_trial(config, [0.1], "budget")
    study = _study([0.80, 0.79])
    ctx = FakeContext({(0, 0.1): 0.70, (1, 0.1): 0.85}, noise=0.0)
    climb(study, study.trials[-1], ctx)
    assert ctx.picks == [1] and ctx.notes["stop"] == "budget" and not ctx.notes["agreed"]


def test_hpscout_method_is_the_default_workflow():
    from hpscout.analysis import climb_cost
    from hpscout.config import ScoutConfig, TransferConfig

    facts = se._methods.Facts(0.03, [])
    plan = se._methods.build("hpscout", 0, facts)
    assert plan.ladder == tuple(ScoutConfig().fidelities)  # no steps (YAHPO): the floor cannot apply
    assert plan.after_trial is not None
    transfer = plan.info["transfer"]
    assert transfer["climb_fractions"] == TransferConfig().climb_fractions(ScoutConfig().fraction)
    assert transfer["rungs_within_budget"] == climb_cost(se._methods.bench_config(facts))[1]
    # round 2's default: one-shot at 4 x 5%
    v1 = se._methods.build("hpscout-v1", 0, facts)
    assert v1.info["transfer"] == {"climb": False, "k": TransferConfig().k, "fraction": pytest.approx(0.2)}
    assert se._methods.build("naive-5pct", 0, facts).ladder == (0.05,)
    # baselines have no after-trial step
    assert se._methods.build("tpe", 0, facts).after_trial is None


def test_hpscout_method_applies_the_step_floor_where_steps_are_known():
    from hpscout.config import config_from_dict

    # 2,000 rows, batch 16, 1 epoch: 5% is 100 rows = 7 steps; the floor (100 steps) needs ~1,585 rows
    config = config_from_dict(
        {"name": "x", "data": {"train": "t.csv"}, "train": {"batch_size": 16, "epochs": 1}}
    )
    plan = se._methods.build("hpscout", 0, se._methods.Facts(0.001, [], train_rows=2000, config=config))
    assert len(plan.ladder) == 1 and 0.78 < plan.ladder[0] <= 0.8
    assert plan.info["raised"] and plan.info["rungs"][0]["steps"] == 100
    assert plan.info["transfer"]["climb_fractions"] == [1.0]


def test_declared_picks_override_the_incumbent_rule_and_noise_runs_are_spent_not_candidates():
    ledger = se.Ledger(10, continuation=False)
    ledger.charge(0, 0.05)
    ledger.record(0, 0.05, 0.9)
    ledger.charge(1, 0.05)
    ledger.record(1, 0.05, 0.8)
    ledger.charge(1, 0.1)
    ledger.record(1, 0.1, 0.7)
    ledger.charge_fresh(1, 0.1)  # an epsilon run: charged in full, recorded without a value
    ledger.pick(0)
    assert ledger.spent == pytest.approx(0.3)
    records = ledger.records
    assert [inc for _, inc in se.incumbents(records, True)] == [0, 0, 1, 1]
    assert [inc for _, inc in se.incumbents(records, True, ledger.picks)] == [0, 0, 1, 0]
    assert se.incumbents(records, True, ledger.picks)[-1][0] == pytest.approx(0.3)


def test_merge_pairs_curves_it_kept_and_carries_older_reports_as_reported(tmp_path: Path):
    cps = se.make_checkpoints(3.0)
    base = {"scenario": "s", "instances": ["a"], "budget": 3.0, "checkpoints": cps.tolist(), "seeds": 2}
    curve = np.linspace(0.5, 0.1, len(cps))
    old = {
        **base,
        "methods": {
            "hpscout": {"iqm_regret": curve.tolist(), "final_regret_per_run": [[0.1, 0.2]]},
            "tpe": {"iqm_regret": curve.tolist(), "per_run_regret": [[curve.tolist(), curve.tolist()]]},
        },
    }
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    paired, unpaired = se.load_merge(path, {"hpscout": "hpscout-v1"}, ["hpscout"], ["a"], 1, cps, "s", 3.0)
    assert set(paired) == {"tpe"} and paired["tpe"][0].shape == (1, 1, len(cps))
    assert set(unpaired) == {"hpscout-v1"} and unpaired["hpscout-v1"]["carried"]["paired"] is False
    with pytest.raises(ValueError, match="budget"):
        se.load_merge(path, {}, ["hpscout"], ["a"], 1, cps, "s", 30.0)
    # merged again, a carried method keeps where it first came from
    old["methods"]["hpscout-v1"] = unpaired["hpscout-v1"]
    second = tmp_path / "second.json"
    second.write_text(json.dumps(old))
    _, again = se.load_merge(second, {}, ["hpscout"], ["a"], 1, cps, "s", 3.0)
    assert (
        again["hpscout-v1"]["carried"]["from"] == str(path)
        and again["hpscout-v1"]["carried"]["as"] == "hpscout"
    )
    assert se.parse_renames("hpscout=hpscout-v1, tpe=tpe-old") == {"hpscout": "hpscout-v1", "tpe": "tpe-old"}
    with pytest.raises(ValueError, match="OLD=NEW"):
        se.parse_renames("hpscout")


def test_budget_to_reach_needs_the_curve_to_stay_below():
    cps = np.array([1.0, 2.0, 3.0, 4.0])
    assert se.budget_to_reach(np.array([0.5, 0.1, 0.3, 0.1]), cps, 0.2) == 4.0
    assert se.budget_to_reach(np.array([0.5, 0.1, 0.1, 0.1]), cps, 0.2) == 2.0
    assert se.budget_to_reach(np.array([0.5, 0.4, 0.3, 0.3]), cps, 0.2) is None


def test_iqm_ignores_the_outer_quartiles():
    assert se.iqm(np.array([0.0, 1.0, 1.0, 100.0])) == pytest.approx(1.0)


# ----------------------------------------------------------------------------- end to end


def _bench_python() -> str | None:
    for py in (
        os.environ.get("HPSCOUT_BENCH_PYTHON"),
        sys.executable,
        str(REPO / ".venv-bench" / "bin" / "python"),
    ):
        if py and Path(py).exists():
            probe = subprocess.run([py, "-c", "import yahpo_gym"], capture_output=True, timeout=60)
            if probe.returncode == 0:
                return py
    return None


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("scenario", "instance", "cost"),
    [("rbv2_xgboost", "16", "retrain"), ("lcbench", "3945", "continue")],
)
def test_harness_writes_regret_curves(
    yahpo_data: Path, tmp_path: Path, scenario: str, instance: str, cost: str
):
    data = yahpo_data
    if not (data / scenario / "model.onnx").is_file():
        pytest.skip(f"YAHPO scenario {scenario} is absent from {data}")
    py = _bench_python()
    if py is None:
        pytest.skip(
            "yahpo_gym is not importable by $HPSCOUT_BENCH_PYTHON, this Python or .venv-bench/bin/python "
            "(it needs numpy<2: pip install -e . -r bench/requirements-yahpo.txt in a separate venv)"
        )
    out, png = tmp_path / "r.json", tmp_path / "r.png"
    cmd = [
        py, str(HARNESS), "--data-path", str(data), "--scenario", scenario, "--instances", instance,
        "--seeds", "2", "--budget", "3", "--methods", "hpscout,tpe", "--out", str(out), "--plot", str(png),
        "--reference-samples", "1000", "--bootstrap", "200", "--cache-dir", str(tmp_path / "cache"),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=110, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "VERDICT" in proc.stdout

    report = json.loads(out.read_text())
    assert report["scenario"] == scenario and report["cost_model"] == cost
    assert set(report["methods"]) == {"hpscout", "tpe"}
    for name, m in report["methods"].items():
        n = len(m["checkpoints"])
        assert n == len(m["iqm_regret"]) == len(m["ci_low"]) == len(m["ci_high"]) > 10, name
        assert m["checkpoints"][-1] == pytest.approx(3.0)
        for key in ("iqm_regret", "ci_low", "ci_high"):
            assert all(0.0 <= v <= 1.0 + 1e-9 for v in m[key]), (name, key, m[key])
        assert all(lo <= hi + 1e-12 for lo, hi in zip(m["ci_low"], m["ci_high"], strict=True))
        assert "budget_to_match_tpe" in m
    assert report["methods"]["tpe"]["budget_to_match_tpe"] <= 3.0
    assert np.array(report["methods"]["hpscout"]["per_run_regret"]).shape == (1, 2, n)
    assert report["methods_info"]["hpscout"]["transfer"]["climb"] is True
    assert png.stat().st_size > 1000
