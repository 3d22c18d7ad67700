"""bench/lr_drift.py: the analysis on a synthetic grid whose best LR follows a known power law."""

from __future__ import annotations

import csv
import itertools
import math
from pathlib import Path

import pytest

from _bench import load_bench

LR = (3e-4, 6e-4, 1.2e-3, 2.5e-3, 5e-3, 1e-2)


ld = load_bench("lr_drift")


def _grid(path: Path, beta: float) -> Path:
    """Accuracy peaks at LR*(rows) = 5e-3 * (rows / 200) ** -beta, with a small rank effect."""
    rows = []
    for f, seed in itertools.product((0.01, 0.02, 0.05, 0.1), (0, 1)):
        n = round(f * 20000)
        steps = math.ceil(n / 16) * 2
        best = 5e-3 * (n / 200) ** -beta
        for lr, r, w in itertools.product(LR, (4, 16), (0.0, 0.1)):
            acc = 0.9 - 0.05 * math.log(lr / best) ** 2 + 0.001 * r - 0.0001 * w + 0.0001 * seed
            rows.append(
                {"seed": seed, "fraction": f, "learning_rate": lr, "lora_r": r, "warmup_ratio": w, "status": "complete",
                 "eval_accuracy": acc, "eval_f1": acc, "eval_loss": 0.3, "train_rows": n, "optimizer_steps": steps,
                 "elapsed_seconds": 1}
            )
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_grid_analysis_finds_the_drift_and_the_better_lr(tmp_path):
    table = ld.grid_table(ld.read_rows(_grid(tmp_path / "g.csv", beta=1.0)))
    levels = ld.complete_levels(table, 24)
    assert levels == {0.01: [0, 1], 0.02: [0, 1], 0.05: [0, 1], 0.1: [0, 1]}
    out = ld.grid_analysis(table, [0.01, 0.02, 0.05, 0.1], [0, 1])
    best = [out["per_fraction"][f]["best_cell"]["learning_rate"] for f in ("0.01", "0.02", "0.05", "0.1")]
    assert best == sorted(best, reverse=True) and best[0] > best[-1]  # the optimum falls with more data
    assert out["per_fraction"]["0.05"]["best_cell"]["lora_r"] == 16
    for check in out["held_out_check"]:
        assert check["beta"] > 0
        # the law's LR is at least as good at 10% as the scouted one, and strictly better here
        assert check["accuracy_at_10pct_corrected"] > check["accuracy_at_10pct_scouted"]
    assert out["law_all_fractions_seed_mean"]["beta"] > 0


def test_a_flat_optimum_gives_no_correction(tmp_path):
    table = ld.grid_table(ld.read_rows(_grid(tmp_path / "g.csv", beta=0.0)))
    out = ld.grid_analysis(table, [0.01, 0.02, 0.05, 0.1], [0, 1])
    for check in out["held_out_check"]:
        assert check["beta"] == pytest.approx(0.0, abs=1e-9)
        assert check["corrected_cell"] == check["scouted_cell"]
        assert not check["export_would_correct"]


def test_plan_runs_pairs_scouted_and_corrected_per_seed(tmp_path):
    table = ld.grid_table(ld.read_rows(_grid(tmp_path / "g.csv", beta=1.0)))
    jobs, plan = ld.plan_runs(table, [0, 1], fraction=0.25, n_seeds=3, full_rows=20000, sm_seeds=2)
    larger = [j for j in jobs if j.key["experiment"] == "larger"]
    assert len(larger) == 6 and {j.key["arm"] for j in larger} == {"scouted", "corrected"}
    assert plan["arms"]["corrected"] < plan["arms"]["scouted"]  # more data, lower LR
    assert all(j.fraction == 0.25 for j in larger)
    step = [j for j in jobs if j.key["experiment"] == "step_matched"]
    assert len(step) == 2 * len(LR) and all(j.updates["scout.step_matched"] is True for j in step)


def test_t_interval():
    out = ld.t_interval([0.01, 0.03, 0.02])
    assert out["mean"] == pytest.approx(0.02)
    lo, hi = out["ci"]
    assert lo < 0.02 < hi and hi - 0.02 == pytest.approx(0.02 - lo)
    assert ld.t_interval([0.1])["ci"] is None
