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
