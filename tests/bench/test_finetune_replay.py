"""bench/finetune_replay.py and bench/_table.py on synthetic grid CSVs (never the real one).

The rankings at the small fractions are known permutations of the largest one, so
Spearman's rho, the top-k overlaps and the pick regret have exact values. Runs in
the main venv: the table replay needs neither yahpo_gym nor ConfigSpace.
"""

from __future__ import annotations

import csv
import importlib.util
import itertools
import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


fr = _load("finetune_replay")
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
    assert _table.TableScenario(path, "partial").seeds == [0]


# ----------------------------------------------------------------------------- table scenario


def test_fidelity_snaps_up_and_charges_the_snapped_fraction(grid_csv: Path):
    fid = _table.TableScenario(grid_csv, "synthetic").fidelity
    assert (fid.low, fid.high, fid.min_fraction) == (0.01, 0.1, pytest.approx(0.1))
    assert [fid.value(f) for f in (0.05, 0.1, 1 / 9, 0.2, 1 / 3, 0.5, 0.51, 1.0)] == [
        0.01, 0.01, 0.02, 0.02, 0.05, 0.05, 0.1, 0.1
    ]  # fmt: skip
    # what the harness charges for a rung: fraction(value(requested))
    assert fid.fraction(fid.value(1 / 9)) == 0.2
    assert fid.fraction(fid.value(1 / 27)) == 0.1
    ledger = se.Ledger(10, continuation=False)
    for rung in (1 / 9, 1 / 3, 1.0):
        ledger.charge(0, fid.fraction(fid.value(rung)))
    assert ledger.spent == pytest.approx(0.2 + 0.5 + 1.0)


def test_replay_seed_picks_the_table_seed_and_scores_the_seed_mean(grid_csv: Path):
    sc = _table.TableScenario(grid_csv, "synthetic")
    assert sc.seeds == [0, 1] and sc.direction == "maximize"
    assert [p.name for p in sc.params] == ["learning_rate", "lora_r", "warmup_ratio"]
    assert [p.choices for p in sc.params] == [LRS, RANKS, WARMUPS]
    best = {"learning_rate": 1e-2, "lora_r": 16, "warmup_ratio": 0.1}  # cell 7
    for seed, table_seed in ((0, 0), (1, 1), (2, 0), (7, 1)):
        view = sc.for_seed(seed)
        assert view.table_seed == table_seed
        # 0.2 of the max is the 0.02 table, where cell 7 has SWAP_TOP2[7]
        assert view.evaluate([best], 0.2)[0] == pytest.approx(SWAP_TOP2[7] - SEED1_OFFSET * table_seed)
        assert view.evaluate([best, best], [1 / 9, 1.0]).tolist() == pytest.approx(
            [SWAP_TOP2[7] - SEED1_OFFSET * table_seed, LARGE[7] - SEED1_OFFSET * table_seed]
        )
        assert view.score([best])[0] == pytest.approx(LARGE[7] - SEED1_OFFSET / 2)
    assert sc.table_seed is None  # the unseeded scenario reads the seed-mean
    ref = sc.reference()
    assert (ref.best, ref.worst, ref.n) == (
        pytest.approx(LARGE[7] - SEED1_OFFSET / 2), pytest.approx(LARGE[0] - SEED1_OFFSET / 2), 8
    )  # fmt: skip
    with pytest.raises(KeyError, match="not a cell"):
        sc.evaluate([{**best, "lora_r": 8}], 1.0)
    with pytest.raises(ValueError, match="one instance"):
        _table.TableScenario(grid_csv, "synthetic", instance="16")


# ----------------------------------------------------------------------------- replay


@pytest.mark.timeout(60)
def test_tiny_replay_gives_regrets_in_unit_interval(grid_csv: Path):
    report = fr.replay(grid_csv, "synthetic", ["hpscout", "tpe"], seeds=2, budget=2.0, reps=50)
    assert set(report["methods"]) == {"hpscout", "tpe"}
    assert report["table"]["levels_relative"] == [0.1, 0.2, 0.5, 1.0]
    for name, m in report["methods"].items():
        final = np.array(m["final_regret_per_run"])
        assert final.shape == (1, 2), name
        assert ((final >= 0) & (final <= 1)).all(), (name, final)
        assert all(0.0 <= v <= 1.0 for v in m["iqm_regret"]), name
        assert m["median_spent"] >= 2.0 - 1e-9


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
    assert report["fidelity"]["high"] == 0.1


def test_cli_writes_both_parts(grid_csv: Path, tmp_path: Path, capsys):
    out = tmp_path / "fr.json"
    argv = ["--csv", str(grid_csv), "--out", str(out), "--seeds", "1", "--budget", "1",
            "--methods", "random", "--bootstrap", "20"]  # fmt: skip
    assert fr.main(argv) == 0
    printed = capsys.readouterr().out
    assert "rank agreement with fraction 0.1" in printed and "VERDICT" in printed
    report = json.loads(out.read_text())
    assert report["reference_fraction"] == 0.1 and report["reference_is_design_max"]
    assert len(report["rank_agreement"]) == 9 and len(report["per_fraction"]) == 4
    assert report["complete_grids"][0] == [0.01, 0] and report["missing_grids"] == []
    assert report["replay"]["methods"]["random"]["final_regret_per_run"][0][0] <= 1.0
    assert report["versions"]["optuna"] and report["command"]
