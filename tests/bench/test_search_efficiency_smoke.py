"""bench/search_efficiency.py: pure helpers, and a seconds-long run on real YAHPO surrogates.

yahpo-gym needs numpy<2, so it lives in its own venv (``.venv-bench``, see
bench/README.md). The end-to-end test runs the harness with the first Python
that can import it: ``$HPSCOUT_BENCH_PYTHON``, this interpreter, or
``.venv-bench/bin/python``; it is skipped, with the reason, when none can.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
HARNESS = REPO / "bench" / "search_efficiency.py"


def _load_harness():
    spec = importlib.util.spec_from_file_location("search_efficiency", HARNESS)
    module = importlib.util.module_from_spec(spec)
    sys.modules["search_efficiency"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


se = _load_harness()


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


def test_workflow_transfers_every_topk_entrant_once():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    after = se._methods.transfer_every_topk_entrant(k=2, fraction=0.2)
    study = optuna.create_study(direction="maximize")
    rerun: list[tuple[int, float]] = []

    def evaluate_trial(number, fraction):
        rerun.append((number, fraction))
        return 0.0

    for value in (0.5, 0.7, 0.6, 0.9, 0.1, 0.95):
        study.add_trial(optuna.trial.create_trial(value=value))
        after(study, study.trials[-1], evaluate_trial)
    # top-2 after each trial: {0}, {1,0}, {1,2}, {3,1}, {3,1}, {5,3}: each entrant re-run once, in order
    assert rerun == [(0, 0.2), (1, 0.2), (2, 0.2), (3, 0.2), (5, 0.2)]


def test_hpscout_method_is_the_default_workflow():
    from hpscout.config import ScoutConfig, TransferConfig

    plan = se._methods.build("hpscout", 0, 0.03, [])
    assert plan.ladder == tuple(ScoutConfig().fidelities)
    assert plan.after_trial is not None
    assert TransferConfig().resolve_fraction(0.05) == pytest.approx(0.2)
    assert TransferConfig(fraction=0.5).resolve_fraction(0.05) == 0.5
    assert TransferConfig().resolve_fraction(0.5) == 1.0
    # baselines have no after-trial step
    assert se._methods.build("tpe", 0, 0.03, []).after_trial is None


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
    assert png.stat().st_size > 1000
