"""bench/finetune_replay.py and bench/_table.py on synthetic grid CSVs (never the real one).

The rankings at the small fractions are known permutations of the largest one, so
Spearman's rho, the top-k overlaps and the pick regret have exact values. Runs in
the main venv: the table replay needs neither yahpo_gym nor ConfigSpace.
"""

from __future__ import annotations

import csv
import itertools
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from _bench import load_bench

fr = load_bench("finetune_replay")
_table = fr._table
se = fr.se

LRS, RANKS, WARMUPS = (1e-3, 1e-2), (4, 16), (0.0, 0.1)
CELLS = list(itertools.product(LRS, RANKS, WARMUPS))  # grid order: cell i below
LARGE = [0.60 + 0.05 * i for i in range(8)]  # at 0.1 cell 7 is best, cell 0 worst
SWAP_TOP2 = [*LARGE[:6], LARGE[7], LARGE[6]]  # at 0.02: ranks 1 and 2 swapped
REVERSED = LARGE[::-1]  # at 0.01: the opposite order
FLAT = [0.5] * 8  # at 0.05: every cell at chance
GRIDS = {0.01: REVERSED, 0.02: SWAP_TOP2, 0.05: FLAT, 0.1: LARGE}
#: seed 1 is seed 0 minus this everywhere (same rankings, so per-seed rows equal the mean rows)
SEED1_OFFSET = 0.02


def write_grid(path: Path, grids=GRIDS, seeds=(0, 1), drop: dict | None = None) -> Path:
    """A grid CSV like bench/finetune_grid.py's; ``drop[(fraction, seed)] = n`` keeps only n cells."""
    drop = drop or {}
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["seed", "fraction", "learning_rate", "lora_r", "warmup_ratio", "status", "eval_accuracy"])
        for seed, (fraction, accs) in itertools.product(seeds, grids.items()):
            keep = drop.get((fraction, seed), len(CELLS))
            for (lr, r, wu), acc in list(zip(CELLS, accs, strict=True))[:keep]:
                w.writerow([seed, fraction, lr, r, wu, "complete", acc - SEED1_OFFSET * seed])
    return path


@pytest.fixture
def grid_csv(tmp_path: Path) -> Path:
    return write_grid(tmp_path / "grid.csv")


# ----------------------------------------------------------------------------- rank agreement


def test_rank_agreement_matches_the_known_permutations(grid_csv: Path):
    table = _table.load_table(grid_csv)
    assert table.complete == [(f, s) for f in (0.01, 0.02, 0.05, 0.1) for s in (0, 1)]
    assert table.missing == ()
    rows = {(r.fraction, r.kind, r.seeds): r for r in fr.agreement(table)}
    assert {r.reference for r in rows.values()} == {0.1}
    assert set(rows) == {
        (f, k, s) for f in (0.01, 0.02, 0.05) for k, s in (("mean", (0, 1)), ("seed", (0,)), ("seed", (1,)))
    }
    spread = LARGE[7] - LARGE[0]
    for seeds in ((0, 1), (0,), (1,)):
        kind = "mean" if len(seeds) == 2 else "seed"
        swap, rev, flat = (rows[(f, kind, seeds)] for f in (0.02, 0.01, 0.05))
        # one swapped pair of adjacent ranks: rho = 1 - 6 * 2 / (n (n^2 - 1))
        assert swap.spearman == pytest.approx(1 - 12 / (8 * 63))
        assert swap.top_k == pytest.approx({1: 0.0, 3: 1.0, 5: 1.0})
        assert swap.pick_regret == pytest.approx(LARGE[7] - LARGE[6])
        assert swap.pick_regret_normalised == pytest.approx((LARGE[7] - LARGE[6]) / spread)
        assert rev.spearman == pytest.approx(-1.0)
        assert rev.top_k == pytest.approx({1: 0.0, 3: 0.0, 5: 2 / 5})  # top 5 and bottom 5 of 8 share 2
        assert rev.pick_regret_normalised == pytest.approx(1.0)
        # all tied: rho undefined; a random tie-break puts each cell in the top k with chance k/8
        assert flat.spearman is None
        assert flat.top_k == pytest.approx({1: 1 / 8, 3: 3 / 8, 5: 5 / 8})
        assert flat.pick_regret == pytest.approx(LARGE[7] - np.mean(LARGE))
        assert flat.cells == 8


def test_fraction_summary_best_cell_marginal_lr_and_chance(grid_csv: Path):
    rows = {r.fraction: r for r in fr.fraction_summaries(_table.load_table(grid_csv))}
    top = rows[0.1]
    assert top.seeds == (0, 1)
    assert top.best_cell == {"learning_rate": 1e-2, "lora_r": 16, "warmup_ratio": 0.1}
    assert top.best_value == pytest.approx(LARGE[7] - SEED1_OFFSET / 2)
    assert top.best_learning_rate == 1e-2  # cells 4..7
    assert top.best_learning_rate_mean == pytest.approx(np.mean(LARGE[4:]) - SEED1_OFFSET / 2)
    assert top.mean == pytest.approx(np.mean(LARGE) - SEED1_OFFSET / 2)
    assert top.at_chance == 0.0
    assert rows[0.05].at_chance == 1.0
    assert rows[0.01].best_cell == {"learning_rate": 1e-3, "lora_r": 4, "warmup_ratio": 0.0}


def test_top_k_overlap_breaks_ties_at_random():
    small = {"a": 1.0, "b": 1.0, "c": 0.0}
    large = {"a": 1.0, "b": 0.0, "c": 0.0}
    assert fr.top_k_overlap(small, large, 1) == pytest.approx(0.5)
    assert fr.top_k_overlap(small, large, 2) == pytest.approx((1 * 1 + 1 * 0.5) / 2)
    assert fr.pick_regret(small, large) == pytest.approx((0.5, 0.5))
    # minimised metrics rank the other way round
    assert fr.top_k_overlap({"a": 0.1, "b": 0.9}, {"a": 0.2, "b": 0.8}, 1, maximize=False) == 1.0


def test_partial_csv_counts_only_complete_grids(tmp_path: Path):
    # seed 1 has finished 0.01 and 3 cells of 0.02; nothing at 0.05 and 0.1
    path = write_grid(tmp_path / "partial.csv", drop={(0.02, 1): 3, (0.05, 1): 0, (0.1, 1): 0})
    table = _table.load_table(path, expected_fractions=(0.01, 0.02, 0.05, 0.1, 0.2))
    assert (0.01, 1) in table.complete and (0.02, 1) not in table.complete
    assert table.missing == ((0.02, 1, 3), (0.05, 1, 0), (0.1, 1, 0), (0.2, 0, 0), (0.2, 1, 0))
    assert {r.seeds for r in fr.agreement(table)} == {(0,)}  # seed 1 has nothing at 0.1
    # each level replays the seeds it has: seed 1 only where its grid is complete
    assert _table.TableScenario(path, "partial").seeds_by_level == {
        0.01: [0, 1],
        0.02: [0],
        0.05: [0],
        0.1: [0],
    }


# ----------------------------------------------------------------------------- table scenario


def test_fidelity_is_a_fraction_of_the_full_data_snapped_up_and_charged_at_least_as_asked(grid_csv: Path):
    fid = _table.TableScenario(grid_csv, "synthetic").fidelity
    assert (fid.low, fid.high, fid.reference, fid.min_fraction) == (0.01, 1.0, 0.1, 0.01)
    assert [fid.value(f) for f in (0.005, 0.01, 0.015, 0.05, 0.07, 0.1, 0.2, 1.0)] == [
        0.01, 0.01, 0.02, 0.05, 0.1, 0.1, 0.1, 0.1
    ]  # fmt: skip
    # charged max(asked, level read): a rung between levels pays the level; above the table, what was asked
    assert [fid.cost(f) for f in (0.015, 0.05, 0.2, 1.0)] == [0.02, 0.05, 0.2, 1.0]
    ledger = se.Ledger(10, continuation=False)
    for rung in (0.015, 0.2, 1.0):
        ledger.charge(0, fid.cost(rung))
    assert ledger.spent == pytest.approx(0.02 + 0.2 + 1.0)


def test_replay_seed_picks_the_table_seed_and_scores_the_seed_mean(grid_csv: Path):
    sc = _table.TableScenario(grid_csv, "synthetic")
    assert sc.seeds == [0, 1] and sc.direction == "maximize"
    assert [p.name for p in sc.params] == ["learning_rate", "lora_r", "warmup_ratio"]
    assert [p.choices for p in sc.params] == [LRS, RANKS, WARMUPS]
    best = {"learning_rate": 1e-2, "lora_r": 16, "warmup_ratio": 0.1}  # cell 7
    for seed, table_seed in ((0, 0), (1, 1), (2, 0), (7, 1)):
        view = sc.for_seed(seed)
        assert view.table_seed == table_seed
        # 0.02 of the data is the 0.02 table, where cell 7 has SWAP_TOP2[7]
        assert view.evaluate([best], 0.02)[0] == pytest.approx(SWAP_TOP2[7] - SEED1_OFFSET * table_seed)
        assert view.evaluate([best, best], [0.015, 1.0]).tolist() == pytest.approx(
            [SWAP_TOP2[7] - SEED1_OFFSET * table_seed, LARGE[7] - SEED1_OFFSET * table_seed]
        )
        assert view.score([best])[0] == pytest.approx(LARGE[7] - SEED1_OFFSET / 2)
        # seed noise: |seed 0 - seed 1| of the cell at the level read
        assert view.seed_noise(best, 0.05) == (pytest.approx(SEED1_OFFSET), 0.05)
    assert sc.table_seed is None  # the unseeded scenario reads the seed-mean
    ref = sc.reference()
    assert (ref.best, ref.worst, ref.n) == (
        pytest.approx(LARGE[7] - SEED1_OFFSET / 2), pytest.approx(LARGE[0] - SEED1_OFFSET / 2), 8
    )  # fmt: skip
    with pytest.raises(KeyError, match="not a cell"):
        sc.evaluate([{**best, "lora_r": 8}], 1.0)
    with pytest.raises(ValueError, match="one instance"):
        _table.TableScenario(grid_csv, "synthetic", instance="16")


#: at 0.25: the 2 best and the worst at 0.1 (cells 7, 6 and 0), one seed; larger by 0.05 than at 0.1
EXTENDED = {7: LARGE[7] + 0.05, 6: LARGE[6] + 0.05, 0: LARGE[0] + 0.05}
PLANS = {0.25: ("best=2,worst=1,at=0.1", 1)}


def write_extended(path: Path, cells=EXTENDED) -> Path:
    write_grid(path)
    with path.open("a", newline="") as fh:
        w = csv.writer(fh)
        for i, acc in cells.items():
            lr, r, wu = CELLS[i]
            w.writerow([0, 0.25, lr, r, wu, "complete", acc])
    return path


def test_extension_counts_once_its_planned_cells_are_in_and_imputes_the_others(tmp_path: Path):
    partial = write_extended(tmp_path / "partial.csv", {7: EXTENDED[7], 6: EXTENDED[6]})
    table = _table.load_table(partial, plans=PLANS)
    assert table.fractions == [0.01, 0.02, 0.05, 0.1] and (0.25, 0, 2) in table.missing
    table = _table.load_table(write_extended(tmp_path / "ext.csv"), plans=PLANS)
    assert table.fractions == [0.01, 0.02, 0.05, 0.1, 0.25]
    assert set(table.cells_at(0.25)) == {CELLS[7], CELLS[6], CELLS[0]} and table.seeds_at(0.25) == [0]
    assert (0.25, 1, 0) not in table.missing  # the extension plans one seed
    sc = _table.TableScenario(tmp_path / "ext.csv", "synthetic", table=table)
    assert sc.fidelity.reference == 0.25 and sc.seeds_by_level[0.25] == [0]
    ref = sc.reference()
    assert (ref.best, ref.worst, ref.n) == (pytest.approx(EXTENDED[7]), pytest.approx(EXTENDED[0]), 3)
    cfg = dict(zip(("learning_rate", "lora_r", "warmup_ratio"), CELLS[3], strict=True))
    assert not sc.measured(cfg) and sc.measured(cfg, 0.1)
    # cell 3 sits between cells 0 and 6 at 0.1 (seed-mean); the isotonic map through cells 0, 6 and 7
    # (each 0.06 above its seed-mean at 0.1) moves it by the same amount
    mean_at_01 = LARGE[3] - SEED1_OFFSET / 2
    assert sc.score([cfg])[0] == pytest.approx(
        _table.impute(mean_at_01, [(LARGE[i] - SEED1_OFFSET / 2, EXTENDED[i]) for i in (0, 6, 7)])
    )
    assert sc.score([cfg])[0] == pytest.approx(mean_at_01 + 0.05 + SEED1_OFFSET / 2, abs=1e-9)
    # a seed-1 replay reads the extension's only seed; its seed noise falls back to 0.1, which has two
    view = sc.for_seed(1)
    best = dict(zip(("learning_rate", "lora_r", "warmup_ratio"), CELLS[7], strict=True))
    assert view.evaluate([best], 0.2)[0] == pytest.approx(EXTENDED[7])
    assert view.seed_noise(best, 0.2) == (pytest.approx(SEED1_OFFSET), 0.1)


def test_impute_is_monotone_and_clamped():
    pairs = [(0.5, 0.5), (0.7, 0.8), (0.8, 0.75), (0.9, 0.9)]  # 0.7 -> 0.8 and 0.8 -> 0.75 pool to 0.775
    assert _table.impute(0.75, pairs) == pytest.approx(0.775)
    assert _table.impute(0.4, pairs) == 0.5 and _table.impute(1.0, pairs) == 0.9
    with pytest.raises(ValueError, match="at least one"):
        _table.impute(0.5, [])


# ----------------------------------------------------------------------------- replay


#: at 0.05 the best two cells at 0.1 are swapped: the naive pick loses 5 points, a check at 0.1 recovers them
SCOUT_SWAP = {0.01: REVERSED, 0.02: SWAP_TOP2, 0.05: SWAP_TOP2, 0.1: LARGE}


@pytest.mark.timeout(120)
def test_replay_workflows_climb_check_and_cost(tmp_path: Path):
    path = write_grid(tmp_path / "swap.csv", grids=SCOUT_SWAP)
    rep = fr.replay(
        path, "synthetic", ["hpscout", "naive-5pct", "tpe"], seeds=2, budget=4.0, trials=12, reps=50
    )
    w = {r["method"]: r for r in rep["workflows"]}
    assert set(w) == {"hpscout", "naive-5pct"} and rep["reference"]["fraction"] == 0.1
    for o in w["hpscout"]["outcomes"]:
        # 12 trials at 5%, then 5 configs + 1 epsilon run at 10% (the budget allows one rung)
        assert o["trials"] == 12 and o["cost"] == pytest.approx(12 * 0.05 + 6 * 0.1)
        assert o["final_fraction"] == 0.1 and o["measured"] is True
    assert rep["methods_info"]["hpscout"]["transfer"]["rungs_replayed"] == [0.1]
    naive = {o["seed"]: o for o in w["naive-5pct"]["outcomes"]}
    for o in w["hpscout"]["outcomes"]:
        assert o["regret"] <= naive[o["seed"]]["regret"] + 1e-9  # the same search, plus a check
        assert naive[o["seed"]]["cost"] == pytest.approx(12 * 0.05)
    # when naive picks cell 6 (best at 5%), it loses LARGE[7] - LARGE[6] = 5 points at 10%
    cell6 = dict(zip(("learning_rate", "lora_r", "warmup_ratio"), CELLS[6], strict=True))
    assert all(o["regret"] == pytest.approx(5.0) for o in naive.values() if o["pick"] == cell6)
    assert rep["goals"]["never_worse_than_naive"] is True
    assert len(rep["curves_points"]["tpe"]) == len(rep["harness"]["checkpoints"])


@pytest.mark.timeout(60)
def test_harness_cli_takes_a_csv(grid_csv: Path, tmp_path: Path):
    out = tmp_path / "r.json"
    argv = ["--data-path", str(grid_csv), "--scenario", "synthetic", "--seeds", "2", "--budget", "1.5",
            "--methods", "random,tpe-hyperband", "--bootstrap", "50", "--cache-dir", "", "--out", str(out)]  # fmt: skip
    assert se.main(argv) == 0
    report = json.loads(out.read_text())
    assert report["instances"] == ["grid"] and report["cost_model"] == "retrain"
    assert report["reference"]["grid"]["best"] == pytest.approx(LARGE[7] - SEED1_OFFSET / 2)
    assert report["table"]["seeds"] == [0, 1]
    assert report["fidelity"]["high"] == 1.0 and report["table"]["reference_fraction"] == 0.1


def test_cli_writes_both_parts(grid_csv: Path, tmp_path: Path, capsys):
    out = tmp_path / "fr.json"
    argv = ["--csv", str(grid_csv), "--out", str(out), "--seeds", "1", "--budget", "1", "--trials", "4",
            "--methods", "naive-5pct,tpe", "--bootstrap", "20"]  # fmt: skip
    assert fr.main(argv) == 0
    printed = capsys.readouterr().out
    assert "rank agreement with fraction 0.1" in printed and "GOALS" in printed
    report = json.loads(out.read_text())
    assert report["reference_fraction"] == 0.1 and not report["reference_is_design_max"]
    assert len(report["rank_agreement"]) == 9 and len(report["per_fraction"]) == 4
    assert len(report["spearman_matrix"]) == 6 and report["seed_noise"][0]["sd_points"] == pytest.approx(
        SEED1_OFFSET * 100 / np.sqrt(2)
    )
    assert report["complete_grids"][0] == [0.01, 0]
    assert {m["fraction"] for m in report["missing_grids"]} == {0.25, 0.5, 1.0}  # the extension, not run here
    assert report["replay"]["workflows"][0]["method"] == "naive-5pct"
    assert report["versions"]["optuna"] and report["command"]


def test_goals_compare_with_tpe_naive_and_the_ablation():
    wf = fr._workflow
    cps = np.array([0.5, 1.0, 2.0, 4.0, 8.0])
    tpe = np.array([30.0, 10.0, 2.0, 0.4, 0.3])  # mean points; stays <= 0.5 from B = 4 on

    def outcomes(regrets, cost):
        return [wf.Outcome(seed=i, trials=20, regret=r, cost=cost, anytime_spent=cost, measured=True, pick={})
                for i, r in enumerate(regrets)]  # fmt: skip

    default = wf.summarise_workflow("hpscout", outcomes([0.0, 0.5, 1.0], 1.0), full_samples=40_000,
                                    tpe_curve=tpe, checkpoints=cps)  # fmt: skip
    naive = wf.summarise_workflow("naive-5pct", outcomes([0.5, 0.5, 2.0], 0.5), full_samples=40_000,
                                  tpe_curve=tpe, checkpoints=cps)  # fmt: skip
    assert default.mean_regret == pytest.approx(0.5) and default.share_within_goal == pytest.approx(2 / 3)
    assert default.tpe_budget_to_match == 4.0 and default.ratio_to_tpe == pytest.approx(0.25)
    assert default.mean_samples == pytest.approx(40_000) and default.tpe_regret_at_same_cost == 10.0
    g = wf.goals(default, naive, 1.0, 8.0, ablation_runs=1.0)
    assert g["within_points"] and g["compute_third"] and g["never_worse_than_naive"]
    assert g["ratio_with_ablation"] == pytest.approx(0.5) and "ratio 0.50, NOT MET" in g["text"]
    worse = wf.summarise_workflow("hpscout", outcomes([0.0, 1.0, 1.0], 1.0), full_samples=None,
                                  tpe_curve=tpe, checkpoints=cps)  # fmt: skip
    g = wf.goals(worse, naive, 1.0, 8.0)
    assert not g["within_points"] and not g["never_worse_than_naive"] and g["worse_than_naive_seeds"] == [1]


def test_handoff_moves_the_pick_lr_for_the_full_horizon_and_snaps_to_the_grid(tmp_path: Path):
    # a table that knows its rows (20,000 at 1.0: batch 16 x 2 epochs gives 2,500 steps at 1.0)
    path = tmp_path / "rows.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["seed", "fraction", "learning_rate", "lora_r", "warmup_ratio", "status", "eval_accuracy",
                    "train_rows"])
        for fraction, accs in GRIDS.items():
            for (lr, r, wu), acc in zip(CELLS, accs, strict=True):
                w.writerow([0, fraction, lr, r, wu, "complete", acc, round(fraction * 20_000)])
    scenario = _table.TableScenario(path, "rows")
    best = scenario.reference().best
    pick = {"learning_rate": 1e-2, "lora_r": 16, "warmup_ratio": 0.1}  # cell 7, the best at 0.1
    o = fr._workflow.Outcome(seed=0, trials=4, regret=0.0, cost=1.0, anytime_spent=1.0, measured=True, pick=pick,
                             stop="agreed", final_fraction=0.1)
    near, far = fr.handoff(scenario, [o, replace(o, final_fraction=0.01)], best)
    # 250 -> 2,500 steps: x0.50, 5e-3 is nearer 1e-2 than 1e-3 in log space: the pick stays
    assert near.pick == pick and near.regret == pytest.approx(0.0)
    # 26 -> 2,500 steps: x0.254, 2.5e-3 snaps to 1e-3: cell 3, 20 points below cell 7 at 0.1
    assert far.pick == {"learning_rate": 1e-3, "lora_r": 16, "warmup_ratio": 0.1}
    assert far.regret == pytest.approx((LARGE[7] - LARGE[3]) * 100)


def test_workflow_summary_splits_regret_by_the_trust_label():
    base = fr._workflow.Outcome(seed=0, trials=4, regret=0.0, cost=1.0, anytime_spent=1.0, measured=True, pick={})
    outs = [replace(base, seed=0, regret=0.5, stop="agreed"), replace(base, seed=1, regret=1.5, stop="full data"),
            replace(base, seed=2, regret=3.0, stop="budget")]
    s = fr._workflow.summarise_workflow("m", outs, full_samples=None, tpe_curve=None, checkpoints=np.array([1.0]))
    assert s.trusted == 2 and s.trusted_regret == pytest.approx(1.0) and s.untrusted_regret == pytest.approx(3.0)
    plain = fr._workflow.summarise_workflow("naive", [base], full_samples=None, tpe_curve=None,
                                            checkpoints=np.array([1.0]))
    assert plain.trusted is None and plain.trusted_regret is None
    assert "trusted" in fr._workflow.format_workflows([s, plain], None)
