"""LR scaling law: recover a known power law from synthetic nested-rung trials; refuse when it cannot."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import optuna
import pytest
from _analysis_fakes import make_config, need_search

from hpscout._errors import SearchError
from hpscout.analysis import best_lr_per_rung, compute_lr_scaling, fit_power_law, read_analysis

optuna.logging.set_verbosity(optuna.logging.WARNING)

FRACTIONS = [0.01, 0.02, 0.05, 0.1]
FULL_ROWS = 100_000
BETA = 0.5
DIST = optuna.distributions.FloatDistribution(1e-7, 1.0, log=True)


def _steps(rows: int, batch: int = 16, epochs: float = 2.0) -> int:
    return math.ceil(epochs * math.ceil(rows / batch))


def _study(x_of, fractions=FRACTIONS, noise: float = 0.05, per_rung_multipliers=(0.25, 0.5, 1.0, 2.0, 4.0)):
    """Trials whose best LR at rung f is exp(noise) * 1e-3 * (x(f) / x(f0)) ** -BETA; each reports at every rung."""
    rng = np.random.default_rng(7)
    x0 = x_of(fractions[0])
    optimum = {f: 1e-3 * (x_of(f) / x0) ** -BETA * math.exp(rng.normal(0, noise)) for f in fractions}
    probes = sorted({opt * m for opt in optimum.values() for m in per_rung_multipliers})
    study = optuna.create_study(study_name="demo")
    for lr in probes:
        values = {round(f * 10_000): (math.log(lr) - math.log(optimum[f])) ** 2 for f in fractions}
        study.add_trial(
            optuna.trial.create_trial(
                params={"train.learning_rate": lr},
                distributions={"train.learning_rate": DIST},
                value=values[round(fractions[-1] * 10_000)],
                intermediate_values=values,
                user_attrs={"fraction": fractions[-1]},
            )
        )
    return study, optimum


def _cfg(tmp_path: Path, fractions=FRACTIONS, **extra):
    return make_config(tmp_path, scout={"fraction": fractions[-1], "fidelities": list(fractions), **extra})


def test_recovers_beta_within_its_interval(tmp_path: Path) -> None:
    need_search()
    study, optimum = _study(lambda f: _steps(round(f * FULL_ROWS)))
    out = compute_lr_scaling(_cfg(tmp_path), study=study, full_train_rows=FULL_ROWS)
    lo, hi = out["beta_ci"]
    assert lo < BETA < hi, out
    assert abs(out["beta"] - BETA) < 0.1
    assert out["per_fraction_best_lr"] == {f"{f:g}": pytest.approx(optimum[f]) for f in FRACTIONS}
    assert out["x_kind"] in ("steps", "samples") and "leave-one-out" in out["why"]
    assert out["fits"]["steps"]["loo_rmse"] is not None
    truth = 1e-3 * (_steps(FULL_ROWS) / _steps(1000)) ** -BETA
    assert out["predicted_full_lr"] == pytest.approx(truth, rel=0.35)
    assert out["full"]["train_rows"] == FULL_ROWS and out["full"]["effective_batch_size"] == 16
    assert [p["fraction"] for p in out["points"]] == FRACTIONS
    assert read_analysis(_cfg(tmp_path))["lr_scaling"]["status"] == "ok"


def test_step_matched_rungs_fit_against_data_size(tmp_path: Path) -> None:
    need_search()
    study, _ = _study(lambda f: round(f * FULL_ROWS))
    out = compute_lr_scaling(_cfg(tmp_path, step_matched=True), study=study, full_train_rows=FULL_ROWS, write=False)
    assert out["x_kind"] == "samples" and "steps does not vary" in out["why"]
    lo, hi = out["beta_ci"]
    assert lo < BETA < hi
    assert out["full"]["x"] == FULL_ROWS


def test_two_rungs_give_no_interval(tmp_path: Path) -> None:
    need_search()
    fr = [0.02, 0.1]
    study, _ = _study(lambda f: _steps(round(f * FULL_ROWS)), fractions=fr, noise=0.0)
    out = compute_lr_scaling(_cfg(tmp_path, fractions=fr), study=study, full_train_rows=FULL_ROWS, write=False)
    assert out["beta_ci"] is None and "unbounded" in out["note"]
    assert out["beta"] == pytest.approx(BETA, abs=1e-9) and "2 rungs" in out["why"]


def test_refuses_with_fewer_than_two_usable_rungs(tmp_path: Path) -> None:
    need_search()
    study, _ = _study(lambda f: _steps(round(f * FULL_ROWS)), fractions=[0.1])
    cfg = _cfg(tmp_path)
    with pytest.raises(SearchError, match="refusing to extrapolate.*only 1 fraction rung"):
        compute_lr_scaling(cfg, study=study, full_train_rows=FULL_ROWS)
    written = read_analysis(cfg)["lr_scaling"]
    assert written["status"] == "refused" and "too few trials at this rung" in written["message"]


def test_unknown_full_size_refuses(tmp_path: Path) -> None:
    need_search()
    study, _ = _study(lambda f: _steps(round(f * FULL_ROWS)))
    with pytest.raises(SearchError, match="full training size is unknown"):
        compute_lr_scaling(_cfg(tmp_path), study=study, write=False)


def test_rung_table_and_edges() -> None:
    need_search()
    study, _ = _study(lambda f: f, per_rung_multipliers=(1.0, 2.0, 4.0))  # optimum at the low edge of its rung
    rungs = best_lr_per_rung(study.trials, [0.01, 0.02, 0.5], direction="minimize")
    assert [r["usable"] for r in rungs] == [True, True, False]
    assert rungs[2]["note"].startswith("too few trials") and rungs[2]["n_trials"] == 0
    assert rungs[0]["n_trials"] == len(study.trials) and rungs[0]["best_trial"] is not None


def test_fit_power_law_checks() -> None:
    with pytest.raises(SearchError, match="distinct x"):
        fit_power_law([10, 10], [1e-3, 2e-3])
    fit = fit_power_law([10, 100, 1000], [1e-2, 1e-3, 1e-4])
    assert fit["beta"] == pytest.approx(1.0) and fit["loo_rmse"] == pytest.approx(0.0, abs=1e-9)
    assert fit["beta_ci"] == [pytest.approx(1.0), pytest.approx(1.0)]


def test_flat_optimum_fits_beta_zero_with_zero_error():
    # the same LR at every fraction: a perfect horizontal line (scipy's linregress says NaN for its r and stderr)
    fit = fit_power_law([0.01, 0.02, 0.05, 0.1], [2e-3] * 4)
    assert fit["beta"] == pytest.approx(0.0, abs=1e-12)
    assert fit["se"] == 0.0 and fit["beta_ci"] == [pytest.approx(0.0, abs=1e-12)] * 2
