"""Cost accounting: totals per study, throughput, projection of a full run, the 10% flag."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from _analysis_fakes import make_config, need_search

from hpscout.analysis import compute_cost, cost_summary, full_samples_of, read_analysis

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_summary_numbers() -> None:
    out = cost_summary(
        {"search": [(10.0, 1000), (30.0, 3000)], "transfer": [(60.0, 6000)], "ablation": None},
        full_samples=100_000,
    )
    assert out["scouting_seconds"] == 100.0 and out["scouting_samples"] == 10_000
    assert out["by_study"]["transfer"] == {"exists": True, "trials": 1, "seconds": 60.0, "samples": 6000}
    assert out["by_study"]["ablation"]["exists"] is False
    assert out["samples_per_second"] == 100.0 and out["projected_full_seconds"] == 1000.0
    assert out["ratio"] == pytest.approx(0.1) and out["exceeds_budget"] is False
    over = cost_summary({"search": [(200.0, 20_000)]}, full_samples=100_000)
    assert over["exceeds_budget"] is True and "more than the 10%" in over["message"]


def test_unknown_projection_says_why() -> None:
    out = cost_summary({"search": [(10.0, 0)]}, full_samples=1000)
    assert out["ratio"] is None and "no trial reported" in out["message"]
    out = cost_summary({"search": [(10.0, 100)]}, full_samples=None)
    assert out["projected_full_seconds"] is None and "unknown" in out["message"]


def test_full_samples(tmp_path: Path) -> None:
    assert full_samples_of(make_config(tmp_path, train__epochs=3.0), 1000) == 3000
    assert full_samples_of(make_config(tmp_path), None) is None
    capped = make_config(tmp_path, train__max_steps=100, train__batch_size=8, train__grad_accum=2)
    assert full_samples_of(capped, None) == 1600


def _trial(seconds: float, samples: int, rows: int, fraction: float) -> optuna.trial.FrozenTrial:
    return optuna.trial.create_trial(
        value=0.5,
        user_attrs={"elapsed_seconds": seconds, "samples_processed": samples, "train_samples": rows, "fraction": fraction},
    )


def test_compute_cost_with_given_studies(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)  # epochs 2
    search = optuna.create_study()
    search.add_trials([_trial(10.0, 100, 50, 0.05), _trial(10.0, 100, 50, 0.05)])
    pruned = optuna.trial.create_trial(
        state=optuna.trial.TrialState.PRUNED, user_attrs={"elapsed_seconds": 5.0, "samples_processed": 50}
    )
    search.add_trial(pruned)
    out = compute_cost(cfg, studies={"search": search, "transfer": None, "ablation": None})
    assert out["by_study"]["search"]["trials"] == 3 and out["scouting_seconds"] == 25.0
    assert out["full_train_rows"] == 1000 and out["full_samples"] == 2000
    assert out["samples_per_second"] == pytest.approx(10.0)
    assert out["projected_full_seconds"] == pytest.approx(200.0)
    assert out["ratio"] == pytest.approx(0.125) and out["exceeds_budget"] is True
    assert read_analysis(cfg)["cost"]["ratio"] == pytest.approx(0.125)
    given = compute_cost(cfg, studies={"search": search}, full_train_rows=10_000, write=False)
    assert given["full_train_rows_source"] == "given" and given["ratio"] == pytest.approx(0.0125)


def test_compute_cost_reads_the_stored_studies(tmp_path: Path) -> None:
    need_search()
    from hpscout.search import open_study

    cfg = make_config(tmp_path)
    open_study(cfg).add_trial(_trial(10.0, 100, 50, 0.05))
    open_study(cfg, suffix="-ablation").add_trial(_trial(4.0, 40, 50, 0.05))
    out = compute_cost(cfg)
    assert out["by_study"]["search"]["seconds"] == 10.0 and out["by_study"]["ablation"]["seconds"] == 4.0
    assert out["by_study"]["transfer"]["exists"] is False
    assert out["scouting_seconds"] == 14.0


# ------------------------------------------------------------------ preflight


def _preflight_config(**sections):
    from hpscout.config import config_from_dict

    data = {"name": "pf", "data": {"train": "t.csv"}, "train": {"batch_size": 16, "epochs": 2}}
    data.update(sections)
    return config_from_dict(data)


def test_preflight_in_full_data_runs() -> None:
    from hpscout.analysis import climb_cost, preflight
    from hpscout.plan import plan_ladder
    from hpscout.search import worst_case

    cfg = _preflight_config(
        scout={"fraction": 0.05, "fidelities": [0.05]},
        search={"trials": 8, "pruner": "hyperband"},
        transfer={"k": 2, "budget": 0.35},
        ablation={"seeds": 2, "factors": {"train.learning_rate": ["x0.5", "x2"]}},
    )
    ladder = plan_ladder([0.05], 0.05, 20_000, worst_case(cfg), min_steps=100)
    p = preflight(cfg, ladder)
    # search: 8 x 0.05 (one rung: nothing to prune); transfer: 0.1 x (2 + 1 epsilon re-run), 0.2 would pass 0.35
    assert p["search_full_runs"] == pytest.approx(0.4) and p["search_full_runs_worst"] == pytest.approx(0.4)
    assert climb_cost(cfg) == (pytest.approx(0.3), [0.1])
    assert p["transfer_full_runs_worst"] == pytest.approx(0.3) and p["transfer_rungs_worst"] == [0.1]
    assert p["ablation_full_runs"] == pytest.approx(0.3)  # (baseline + 2 levels) x 2 seeds x 0.05
    assert p["total_full_runs"] == pytest.approx(1.0) and p["exceeds_full_run"] is False
    assert p["full_run_samples"] == 40_000 and "more than the 10%" in p["message"]
    assert "20000 training rows is too little data" in p["advice"]


def test_preflight_says_plainly_when_scouting_costs_more_than_a_full_run() -> None:
    from hpscout.analysis import preflight
    from hpscout.plan import plan_ladder
    from hpscout.search import worst_case

    cfg = _preflight_config(
        scout={"fraction": 0.2, "fidelities": [0.05, 0.1, 0.2]},
        search={"trials": 20, "pruner": "successive-halving"},
    )
    ladder = plan_ladder([0.05, 0.1, 0.2], 0.2, 5000, worst_case(cfg), min_steps=0)
    p = preflight(cfg, ladder)
    eta = 2  # (0.2 / 0.05) ** (1/2) = 2
    assert p["search_full_runs"] == pytest.approx(20 * (0.05 + 0.1 / eta + 0.2 / eta**2))
    assert p["search_full_runs_worst"] == pytest.approx(20 * 0.35)
    assert p["exceeds_full_run"] is True and "MORE THAN A FULL RUN" in p["message"]
    assert "train on the full data" in p["advice"]


def test_preflight_small_share_on_large_data() -> None:
    from hpscout.analysis import preflight
    from hpscout.plan import plan_ladder
    from hpscout.search import worst_case

    cfg = _preflight_config(
        scout={"fraction": 0.01, "fidelities": [0.0025, 0.005, 0.01]},
        search={"trials": 10, "pruner": "hyperband"},
        transfer={"k": 2, "budget": 0.1},
        ablation={"seeds": 1, "factors": {"train.lora.r": [4, 16]}},
    )
    ladder = plan_ladder(cfg.scout.fidelities, 0.01, 2_000_000, worst_case(cfg), min_steps=100)
    p = preflight(cfg, ladder)
    # search 10 x 3 rungs x 0.0025 (eta 2); transfer 0.02 x 3; ablation 3 x 0.01
    assert p["total_full_runs"] == pytest.approx(0.075 + 0.06 + 0.03)
    assert p["exceeds_full_run"] is False and "more than the 10%" in p["message"]
    cfg = cfg.model_copy(update={"transfer": cfg.transfer.model_copy(update={"k": 2, "climb": False, "fraction": 0.02})})
    p = preflight(cfg, ladder)  # one-shot: 2 runs at 0.02, no epsilon re-run
    assert p["transfer_full_runs_worst"] == pytest.approx(0.04)
    assert p["total_full_runs"] < 0.15


def test_preflight_counts_the_default_ablation_factors() -> None:
    from hpscout.analysis import preflight
    from hpscout.plan import plan_ladder
    from hpscout.search import worst_case

    cfg = _preflight_config(scout={"fraction": 0.05, "fidelities": [0.05]}, ablation={"seeds": 1})
    p = preflight(cfg, plan_ladder([0.05], 0.05, 20_000, worst_case(cfg), min_steps=0))
    # baseline + lora.r 4 + target 3 + LR 4 + warmup 3 + scheduler 3 + weight decay 3 = 21 cells at 0.05,
    # plus the fraction levels at their own fractions
    assert p["ablation_full_runs"] == pytest.approx(21 * 0.05 + (0.01 + 0.02 + 0.05 + 0.10))
