"""Transfer check: agreement scores on synthetic values, and resumable re-runs with a fake runner."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import pytest
from _analysis_fakes import LrOnlyObjective, make_config, need_search, search_study

from hpscout._errors import ConfigError, SearchError
from hpscout.analysis import (
    compare_transfer,
    read_analysis,
    run_transfer,
    topk_size,
    transfer_fraction,
    write_section,
)
from hpscout.runner import TrialResult, TrialStatus

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_perfect_agreement_holds() -> None:
    out = compare_transfer([0.1, 0.2, 0.3, 0.4, 0.5], [0.05, 0.15, 0.25, 0.35, 0.45], direction="minimize")
    assert out["spearman"] == pytest.approx(1.0) and out["kendall"] == pytest.approx(1.0)
    assert out["top1_agree"] is True and out["topk"] == 3 and out["topk_overlap"] == 1.0
    assert out["verdict"] == "held" and "use the scouted best" in out["trust"]
    assert out["rank_small"] == [1, 2, 3, 4, 5]


def test_reversed_order_did_not_hold() -> None:
    out = compare_transfer([0.9, 0.8, 0.7, 0.6], [0.1, 0.2, 0.3, 0.4], direction="maximize")
    assert out["spearman"] == pytest.approx(-1.0) and out["kendall"] == pytest.approx(-1.0)
    assert out["top1_agree"] is False and out["verdict"] == "did not hold"
    assert out["topk_overlap"] == pytest.approx(2 / 3)  # top-3 of 4 always share 2


def test_swapped_leaders_partly_hold() -> None:
    out = compare_transfer([1, 2, 3, 4, 5], [2, 1, 3, 4, 5], direction="minimize")
    assert out["top1_agree"] is False and out["spearman"] == pytest.approx(0.9)
    assert out["verdict"] == "partly held" and "top-3" in out["trust"]


def test_failed_large_runs_rank_last() -> None:
    out = compare_transfer([0.1, 0.2, 0.3], [None, 0.2, 0.3], direction="minimize")
    assert out["rank_large"] == [3, 1, 2]
    assert out["top1_agree"] is False and out["verdict"] == "did not hold"
    out = compare_transfer([0.1, 0.2], [None, None], direction="minimize")
    assert out["top1_agree"] is False and out["spearman"] is None


def test_noise_rule() -> None:
    tight = compare_transfer([0.50, 0.501, 0.502], [0.4, 0.41, 0.42], direction="minimize", noise_sd=0.01,
                             noise_source="ablation baseline seeds")
    assert tight["noise"]["too_small_to_separate"] is True and "too small" in tight["noise"]["message"]
    assert "within seed noise" in tight["trust"]
    wide = compare_transfer([0.1, 0.3, 0.5], [0.1, 0.3, 0.5], direction="minimize", noise_sd=0.01)
    assert wide["noise"]["too_small_to_separate"] is False
    unknown = compare_transfer([0.1, 0.3], [0.1, 0.3], direction="minimize")
    assert unknown["noise"]["too_small_to_separate"] is None and unknown["noise"]["source"] == "unknown"


def test_input_checks() -> None:
    with pytest.raises(SearchError, match=">= 2 configs"):
        compare_transfer([0.1], [0.1], direction="minimize")
    with pytest.raises(ValueError, match="same length"):
        compare_transfer([0.1, 0.2], [0.1], direction="minimize")
    assert [topk_size(n) for n in (2, 3, 4, 5, 10)] == [1, 2, 3, 3, 3]


def test_transfer_fraction_defaults(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    assert transfer_fraction(cfg) == pytest.approx(0.2)
    assert transfer_fraction(cfg, 1.0) == 1.0
    assert transfer_fraction(make_config(tmp_path, transfer={"fraction": 0.5})) == 0.5
    big = make_config(tmp_path, scout={"fraction": 0.5, "fidelities": [0.5]})
    assert transfer_fraction(big) == 1.0
    with pytest.raises(ConfigError, match="larger than scout.fraction"):
        transfer_fraction(cfg, 0.05)
    with pytest.raises(ConfigError, match=r"\(0, 1\]"):
        transfer_fraction(cfg, 1.5)


LRS = [3e-4, 1e-4, 1e-3, 3e-5, 5e-3, 1e-5]  # best to worst under LrOnlyObjective


def _search(cfg, objective: LrOnlyObjective) -> optuna.Study:
    values = []
    for lr in LRS:
        probe = cfg.model_copy(update={"train": cfg.train.model_copy(update={"learning_rate": lr})})
        values.append((lr, objective.value(probe, cfg.scout.fraction)))
    return search_study(cfg, values)


def test_run_transfer_holds_and_resumes(tmp_path: Path) -> None:
    need_search()
    cfg = make_config(tmp_path)
    obj = LrOnlyObjective(noise=0.001)
    search = _search(cfg, obj)
    study = optuna.create_study(study_name="demo-transfer")
    out = run_transfer(cfg, k=5, fraction=1.0, run_cell=obj, study=study, search_study=search)
    assert out["verdict"] == "held" and out["top1_agree"] is True and out["spearman"] == pytest.approx(1.0)
    assert out["large_fraction"] == 1.0 and out["small_fraction"] == 0.05
    assert [c["trial"] for c in out["configs"]] == [0, 1, 2, 3, 4]  # best five by small value
    assert all(c["rank_small"] == c["rank_large"] for c in out["configs"])
    assert {f for _, _, f in obj.calls} == {1.0} and len(obj.calls) == 5
    assert out["noise"]["source"] == "unknown"
    assert (tmp_path / "run" / "transfer" / "t0_f1.0_s42" / "result.json").exists()
    assert read_analysis(cfg)["transfer"]["verdict"] == "held"

    again = LrOnlyObjective(noise=0.001)
    out = run_transfer(cfg, k=5, fraction=1.0, run_cell=again, study=study, search_study=search)
    assert again.calls == [] and out["runs"] == {"cells": 5, "ran": 0, "reused": 5}


def test_run_transfer_noise_sources(tmp_path: Path) -> None:
    need_search()
    cfg = make_config(tmp_path)
    obj = LrOnlyObjective(noise=0.01)
    out = run_transfer(cfg, k=3, seeds=2, run_cell=obj, study=optuna.create_study(), search_study=_search(cfg, obj))
    assert out["noise"]["source"].startswith("transfer seeds") and out["noise"]["sd"] > 0
    assert all(len(c["large_values"]) == 2 for c in out["configs"])
    write_section(cfg, "ablation", {"baseline": {"sd": 0.02, "n": 3, "fraction": 0.05}})
    out = run_transfer(cfg, k=3, seeds=2, run_cell=obj, study=optuna.create_study(), search_study=_search(cfg, obj))
    assert out["noise"] == {**out["noise"], "sd": 0.02, "source": "ablation baseline seeds"}


def test_run_transfer_reversed_at_scale(tmp_path: Path) -> None:
    need_search()
    cfg = make_config(tmp_path)
    small = LrOnlyObjective(noise=0.0)

    def flipped(config, out_dir, fraction):  # at scale the smallest LR wins
        v = (math.log10(config.train.learning_rate) - math.log10(1e-6)) ** 2
        return TrialResult(status=TrialStatus.COMPLETE, objective=v, seed=config.seed, fraction=fraction)

    out = run_transfer(cfg, k=4, run_cell=flipped, study=optuna.create_study(), search_study=_search(cfg, small))
    assert out["verdict"] == "did not hold" and out["spearman"] < 0


def test_run_transfer_needs_two_trials(tmp_path: Path) -> None:
    need_search()
    cfg = make_config(tmp_path)
    with pytest.raises(SearchError, match="needs >= 2 COMPLETE"):
        run_transfer(cfg, run_cell=LrOnlyObjective(), study=optuna.create_study(),
                     search_study=search_study(cfg, [(1e-4, 0.3)]))
    with pytest.raises(ConfigError, match="--k"):
        run_transfer(cfg, k=1, run_cell=LrOnlyObjective(), study=optuna.create_study(),
                     search_study=search_study(cfg, [(1e-4, 0.3)]))
