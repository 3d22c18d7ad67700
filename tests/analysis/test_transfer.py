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
    soft_agreement,
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
    assert transfer_fraction(cfg) == pytest.approx(0.1)  # climbing starts at 2 x scout.fraction
    assert transfer_fraction(make_config(tmp_path, transfer={"climb": False})) == pytest.approx(0.2)  # one-shot: 4x
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
    out = run_transfer(cfg, k=5, fraction=1.0, climb=False, run_cell=obj, study=study, search_study=search)
    assert out["verdict"] == "held" and out["top1_agree"] is True and out["spearman"] == pytest.approx(1.0)
    assert out["large_fraction"] == 1.0 and out["small_fraction"] == 0.05
    assert [c["trial"] for c in out["configs"]] == [0, 1, 2, 3, 4]  # best five by small value
    assert all(c["rank_small"] == c["rank_large"] for c in out["configs"])
    assert {f for _, _, f in obj.calls} == {1.0} and len(obj.calls) == 5
    assert out["noise"]["source"] == "unknown"
    assert (tmp_path / "run" / "transfer" / "t0_f1.0_s42" / "result.json").exists()
    assert read_analysis(cfg)["transfer"]["verdict"] == "held"

    again = LrOnlyObjective(noise=0.001)
    out = run_transfer(cfg, k=5, fraction=1.0, climb=False, run_cell=again, study=study, search_study=search)
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

    out = run_transfer(cfg, k=4, climb=False, run_cell=flipped, study=optuna.create_study(), search_study=_search(cfg, small))
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


# ---------------------------------------------------------------- the climb


def test_soft_agreement_counts_noise_as_ties() -> None:
    # the leaders swap by less than epsilon: a tie, so the rungs agree
    out = soft_agreement([0.80, 0.79, 0.70], [0.851, 0.853, 0.80], direction="maximize", epsilon=0.01)
    assert out == {"top1_agree": True, "discordant": [], "tied": False, "agree": True, "epsilon": 0.01}
    # the same swap by more than epsilon: no agreement, and the pair is named
    out = soft_agreement([0.80, 0.79, 0.70], [0.80, 0.85, 0.70], direction="maximize", epsilon=0.01)
    assert out["top1_agree"] is False and out["discordant"] == [[0, 1]] and out["agree"] is False
    # epsilon 0 is the strict order; minimize flips the sense
    assert soft_agreement([1.0, 2.0], [1.1, 1.0], direction="minimize", epsilon=0.0)["agree"] is False
    assert soft_agreement([1.0, 2.0], [1.0, 1.1], direction="minimize", epsilon=None)["agree"] is True
    # a failed run at the larger rung ranks last: the small-scale best failing is a disagreement
    assert soft_agreement([0.9, 0.8], [None, 0.7], direction="maximize", epsilon=0.05)["agree"] is False
    assert soft_agreement([0.9, 0.8], [None, None], direction="maximize", epsilon=0.05)["agree"] is False
    # every config scored exactly the same at the larger rung (all at chance): nothing is ranked, so no agreement
    tied = soft_agreement([0.51, 0.51, 0.51], [0.51, 0.51, 0.51], direction="maximize", epsilon=0.0)
    assert tied["tied"] is True and tied["top1_agree"] is True and tied["agree"] is False
    assert soft_agreement([0.6, 0.5], [0.52, 0.51], direction="maximize", epsilon=0.02)["tied"] is False


class MovingOptimum:
    """eval_loss = (log10 lr - log10 opt(f))^2 (+ tiny seeded noise): the best LR is 1e-2 on fractions
    up to ``switch`` (few steps favour fast movers) and 3e-4 above it, as on real fine-tuning."""

    def __init__(self, switch: float = 0.06, fail_above: float | None = None) -> None:
        self.switch, self.fail_above = switch, fail_above
        self.calls: list[tuple[int, float, float]] = []

    def value(self, lr: float, fraction: float, seed: int) -> float:
        opt = 1e-2 if fraction <= self.switch else 3e-4
        return (math.log10(lr) - math.log10(opt)) ** 2 + 1e-4 * (seed % 7)

    def __call__(self, config, out_dir, fraction):
        self.calls.append((config.seed, config.train.learning_rate, fraction))
        common = {"seed": config.seed, "fraction": fraction, "elapsed_seconds": 1.0, "steps": round(2000 * fraction)}
        if self.fail_above is not None and fraction > self.fail_above:
            return TrialResult(status=TrialStatus.FAILED, message="boom", **common)
        v = self.value(config.train.learning_rate, fraction, config.seed)
        return TrialResult(status=TrialStatus.COMPLETE, objective=v, metrics={"eval_loss": v}, **common)


def _moving_search(cfg, obj: MovingOptimum) -> optuna.Study:
    return search_study(cfg, [(lr, obj.value(lr, cfg.scout.fraction, cfg.seed)) for lr in (1e-2, 3e-3, 1e-3, 3e-4)])


def test_climb_goes_up_until_two_rungs_agree_and_picks_at_the_top(tmp_path: Path) -> None:
    need_search()
    cfg = make_config(tmp_path, transfer={"budget": None})
    obj = MovingOptimum(switch=0.06)  # 0.05 favours 1e-2; 0.1 and up favour 3e-4
    search = _moving_search(cfg, obj)
    study = optuna.create_study()
    out = run_transfer(cfg, k=4, run_cell=obj, study=study, search_study=search)
    assert [r["fraction"] for r in out["rungs"]] == [0.1, 0.2]
    first, second = out["rungs"]
    assert first["agree"] is False and first["top1_agree"] is False and first["decision"] == "disagreed: climb to 0.2"
    assert first["spearman"] == pytest.approx(-1.0) and first["epsilon"] is not None
    assert second["agree"] is True and second["decision"] == "agreed: stop" and second["spearman"] == pytest.approx(1.0)
    assert second["steps"] == 400  # the runs' own optimizer steps
    assert out["final_fraction"] == 0.2 and out["trusted"] is True and out["stop_reason"] == "agreed"
    assert out["pick"]["params"]["train.learning_rate"] == pytest.approx(3e-4)
    assert "0.2" in out["pick"]["why"] and "agreed" in out["pick"]["why"]
    assert read_analysis(cfg)["transfer"]["final_fraction"] == 0.2
    # 4 configs x 2 rungs + one epsilon re-run (seed 43) per rung
    assert len(obj.calls) == 10 and sum(1 for s, _, _ in obj.calls if s == 43) == 2

    again = MovingOptimum(switch=0.06)  # a resumed climb repeats no run
    out2 = run_transfer(cfg, k=4, run_cell=again, study=study, search_study=search)
    assert again.calls == [] and out2["rungs"] == out["rungs"] and out2["pick"] == out["pick"]


def test_climb_stopped_by_budget_is_untrusted_and_names_the_next_fraction(tmp_path: Path) -> None:
    need_search()
    cfg = make_config(tmp_path, transfer={"budget": 0.6})  # rung 0.1 costs 0.5 full runs; 0.2 would add 1.0
    obj = MovingOptimum(switch=0.15)  # only 0.2 and up favour 3e-4
    out = run_transfer(cfg, k=4, run_cell=obj, study=optuna.create_study(), search_study=_moving_search(cfg, obj))
    assert len(out["rungs"]) == 1 and out["rungs"][0]["agree"] is True  # 0.05 and 0.1 agree (both biased)

    obj = MovingOptimum(switch=0.06)
    out = run_transfer(cfg, k=4, run_cell=obj, study=optuna.create_study(), search_study=_moving_search(cfg, obj))
    assert [r["fraction"] for r in out["rungs"]] == [0.1]
    assert out["rungs"][0]["decision"].startswith("disagreed: stop, climbing to 0.2 would exceed transfer.budget")
    assert out["trusted"] is False and out["needed_fraction"] == 0.2 and out["stop_reason"] == "budget"
    assert out["final_fraction"] == 0.1 and out["pick"]["params"]["train.learning_rate"] == pytest.approx(3e-4)


def test_climb_whose_larger_rungs_all_fail_keeps_the_small_pick(tmp_path: Path) -> None:
    need_search()
    cfg = make_config(tmp_path, transfer={"budget": None})
    obj = MovingOptimum(switch=0.06, fail_above=0.06)
    out = run_transfer(cfg, k=3, run_cell=obj, study=optuna.create_study(), search_study=_moving_search(cfg, obj))
    assert len(out["rungs"]) == 1 and "failed" in out["rungs"][0]["decision"]
    assert out["trusted"] is False and out["final_fraction"] == 0.05
    assert out["pick"]["params"]["train.learning_rate"] == pytest.approx(1e-2)
    assert "could not run" in out["pick"]["why"]


class ChanceBelow(MovingOptimum):
    """Every config at chance (the same value) up to ``chance_up_to``; above it the optimum is 3e-4."""

    def __init__(self, chance_up_to: float) -> None:
        super().__init__(switch=0.0)
        self.chance_up_to = chance_up_to

    def value(self, lr: float, fraction: float, seed: int) -> float:
        if fraction <= self.chance_up_to:
            return 0.6931  # ln 2: nothing learned, every config alike
        return (math.log10(lr) - math.log10(3e-4)) ** 2 + 1e-4 * (seed % 7)


def test_climb_does_not_stop_on_a_rung_where_every_config_ties(tmp_path: Path) -> None:
    # seen in bench/peers.py --quick: at 5% and 10% every config sat at chance, and the climb called the tie agreement
    need_search()
    cfg = make_config(tmp_path, transfer={"budget": None})
    obj = ChanceBelow(chance_up_to=0.1)
    search = search_study(cfg, [(lr, obj.value(lr, cfg.scout.fraction, cfg.seed)) for lr in (1e-2, 3e-3, 1e-3, 3e-4)])
    out = run_transfer(cfg, k=4, run_cell=obj, study=optuna.create_study(), search_study=search)
    first = out["rungs"][0]
    assert first["fraction"] == 0.1 and first["tied"] is True and first["agree"] is False
    assert first["decision"].startswith("tied (every config scored the same here: no ranking signal): climb to 0.2")
    assert [r["fraction"] for r in out["rungs"]][:2] == [0.1, 0.2] and out["final_fraction"] > 0.1
    assert out["pick"]["params"]["train.learning_rate"] == pytest.approx(3e-4)


def test_climb_stops_at_max_fraction(tmp_path: Path) -> None:
    need_search()
    cfg = make_config(tmp_path, transfer={"budget": None, "max_fraction": 0.1})
    obj = MovingOptimum(switch=0.06)
    out = run_transfer(cfg, k=3, run_cell=obj, study=optuna.create_study(), search_study=_moving_search(cfg, obj))
    assert [r["fraction"] for r in out["rungs"]] == [0.1] and out["stop_reason"] == "max_fraction"
    assert out["trusted"] is False and out["needed_fraction"] == 0.2
