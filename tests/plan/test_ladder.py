"""The ladder planned in optimizer steps: the floor drops rungs, raises the fraction, or refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpscout._errors import ConfigError
from hpscout.config import config_from_dict
from hpscout.plan import WorstCase, plan_ladder, plan_steps, rung_steps
from hpscout.search import resolve_scout, worst_case

W16 = WorstCase(batch_size=16, grad_accum=1, devices=1, epochs=2.0, max_steps=None)


def _cfg(tmp_path: Path, rows: int = 1000, **sections) -> object:
    lines = ["text,label"] + [f"row {i} {'good' if i % 2 else 'bad'},{i % 2}" for i in range(rows)]
    (tmp_path / "train.csv").write_text("\n".join(lines) + "\n")
    data = {"name": "ladder", "data": {"train": str(tmp_path / "train.csv"), "eval_split": 0.2}}
    data.update(sections)
    return config_from_dict(data)


def test_the_sst2_example_ladder_keeps_only_the_5_percent_rung() -> None:
    # the numbers of docs/benchmarks.md: 20,000 rows, batch 16, 2 epochs -> 26 / 50 / 126 steps
    plan = plan_ladder([0.01, 0.02, 0.05], 0.05, 20_000, W16, min_steps=100)
    assert [(r.fraction, r.rows, r.steps) for r in plan.rungs] == [(0.05, 1000, 126)]
    assert [(r.fraction, r.steps) for r in plan.dropped] == [(0.01, 26), (0.02, 50)]
    assert not plan.raised and plan.fraction == 0.05
    msg = plan.message()
    assert "0.05 (1000 rows, 126 steps)" in msg and "dropped 0.01 (26 steps), 0.02 (50 steps)" in msg


def test_steps_use_the_trainers_rounding() -> None:
    # 1,001 rows at batch 16 is 63 batches per epoch (ceil), not 62 (floor)
    assert rung_steps(1001, W16) == plan_steps(1001, 16, epochs=2.0).total_steps == 126
    w = WorstCase(batch_size=8, grad_accum=4, devices=2, epochs=3.0, max_steps=None)
    assert rung_steps(10_000, w) == plan_steps(10_000, 8, grad_accum=4, devices=2, epochs=3).total_steps == 471


def test_the_fraction_is_raised_to_the_smallest_that_meets_the_floor() -> None:
    # the held-out task of issue 14: 4,952 rows, batch 32, 3 epochs: 5% gives 24 steps
    w = WorstCase(batch_size=32, grad_accum=1, devices=1, epochs=3.0, max_steps=None)
    plan = plan_ladder([0.01, 0.02, 0.05], 0.05, 4952, w, min_steps=100)
    assert plan.raised and [r.fraction for r in plan.dropped] == [0.01, 0.02, 0.05]
    assert plan.dropped[-1].steps == 24
    (rung,) = plan.rungs
    assert rung.steps >= 100 and rung.fraction == plan.fraction
    # the smallest on the 1/10,000 grid: one grid step less falls under the floor
    from hpscout.data import subset_size

    assert rung_steps(subset_size(rung.fraction - 1e-4, 4952), w) < 100
    assert "raised to" in plan.message()


def test_floor_off_and_impossible_floors() -> None:
    plan = plan_ladder([0.01, 0.02, 0.05], 0.05, 20_000, W16, min_steps=0)
    assert [r.fraction for r in plan.rungs] == [0.01, 0.02, 0.05] and not plan.changed
    assert "no step floor" in plan.message()
    with pytest.raises(ConfigError, match=r"all 500 training rows give 64 optimizer steps with effective batch 16"):
        plan_ladder([0.05], 0.05, 500, W16, min_steps=100)
    fixed = WorstCase(batch_size=16, grad_accum=1, devices=1, epochs=None, max_steps=50)
    with pytest.raises(ConfigError, match="train.max_steps = 50"):
        plan_ladder([0.05], 0.05, 20_000, fixed, min_steps=100)
    with pytest.raises(ConfigError, match="scout.min_steps must be an integer >= 0"):
        plan_ladder([0.05], 0.05, 20_000, W16, min_steps=-1)


def test_step_matched_rungs_all_train_the_scouting_fractions_steps() -> None:
    plan = plan_ladder([0.01, 0.02, 0.05], 0.05, 20_000, W16, min_steps=100, step_matched=True)
    assert [r.steps for r in plan.rungs] == [126, 126, 126] and not plan.dropped


def test_worst_case_reads_the_search_space(tmp_path: Path) -> None:
    cfg = _cfg(
        tmp_path,
        train={"batch_size": 8, "epochs": 3},
        search={"space": {
            "train.batch_size": {"type": "categorical", "choices": [8, 16, 32]},
            "train.grad_accum": {"type": "int", "low": 1, "high": 4},
            "train.epochs": {"type": "float", "low": 1.0, "high": 3.0},
        }},
    )
    w = worst_case(cfg)
    assert (w.batch_size, w.grad_accum, w.epochs, w.effective_batch_size) == (32, 4, 1.0, 128)
    assert set(w.searched) == {"train.batch_size", "train.grad_accum", "train.epochs"}


def test_resolve_scout_reads_the_training_rows(tmp_path: Path) -> None:
    # 1,000 rows, 20% held out for eval -> 800 training rows; batch 4, 1 epoch
    cfg = _cfg(tmp_path, scout={"fraction": 0.5, "fidelities": [0.1, 0.25, 0.5], "min_steps": 60},
               train={"batch_size": 4, "epochs": 1}, transfer={"fraction": 0.75})
    resolved, plan = resolve_scout(cfg)
    assert plan.train_rows == 800
    assert [(r.fraction, r.rows, r.steps) for r in plan.rungs] == [(0.5, 400, 100)]
    assert [(r.fraction, r.steps) for r in plan.dropped] == [(0.1, 20), (0.25, 50)]
    assert resolved.scout.fidelities == [0.5] and resolved.scout.fraction == 0.5
    assert resolved.transfer.fraction == 0.75  # still above the scouting fraction: kept

    raised, plan = resolve_scout(cfg.model_copy(update={"scout": cfg.scout.model_copy(update={"min_steps": 150})}))
    assert plan.raised and raised.scout.fraction == plan.fraction == 0.7457  # 597 rows, 150 steps
    assert [(r.rows, r.steps) for r in plan.rungs] == [(597, 150)]
    assert raised.scout.fidelities == [0.7457] and raised.transfer.fraction == 0.75
    raised, plan = resolve_scout(cfg.model_copy(update={"scout": cfg.scout.model_copy(update={"min_steps": 160})}))
    assert raised.scout.fraction == 0.7957 and raised.transfer.fraction is None  # 0.75 is no longer larger
    off = cfg.model_copy(update={"scout": cfg.scout.model_copy(update={"min_steps": 0})})
    unchanged, plan = resolve_scout(off)
    assert unchanged is off and [r.steps for r in plan.rungs] == [20, 50, 100]
