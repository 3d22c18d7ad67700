"""full_data_plan and lr_correction: the arithmetic that moves a scouted config to the full data."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "report"))
from _fake_run import base_config, fake_analysis  # noqa: E402

from hpscout import ExportError  # noqa: E402
from hpscout.config import apply_updates  # noqa: E402
from hpscout.export import full_data_plan, lr_correction, pick_steps  # noqa: E402


@pytest.fixture
def cfg(tmp_path):
    return base_config(tmp_path)  # batch 16, accum 1, 1 device, 2 epochs, warmup_ratio 0.06


def test_plan_with_given_samples(cfg):
    p = full_data_plan(cfg, full_samples=67_349)
    # ceil(67349 / 16) = 4210 steps/epoch; 2 epochs; warmup ceil(0.06 x 8420) = 506
    assert (p.steps_per_epoch, p.total_steps, p.warmup_steps) == (4210, 8420, 506)
    assert p.samples_source == "given with --full-samples"
    assert "ceil(67,349 / (16 x 1))" in p.text and "ceil(0.06 x 8,420) = 506" in p.text
    assert p.eval_strategy == "epoch" and p.eval_steps is None
    assert p.logging_steps == math.ceil(8420 / 500)  # capped at ~500 log lines


def test_more_devices_keep_the_effective_batch(cfg):
    cfg = apply_updates(cfg, {"train.grad_accum": 4})  # effective 64 on one device
    p = full_data_plan(cfg, full_samples=64_000, devices=4)
    assert (p.batch_size, p.grad_accum, p.devices, p.effective_batch_size) == (16, 1, 4, 64)
    assert p.total_steps == 2 * 1000
    p8 = full_data_plan(cfg, full_samples=64_000, devices=8)
    assert (p8.batch_size, p8.grad_accum, p8.effective_batch_size) == (8, 1, 64)
    assert any("per-device batch 16 -> 8" in n for n in p8.notes)


def test_devices_that_do_not_divide_the_batch(cfg):
    p = full_data_plan(cfg, full_samples=10_000, devices=3)
    assert p.effective_batch_size != 16 and any("effective batch changes" in n for n in p.notes)


def test_samples_estimated_or_unknown(cfg):
    p = full_data_plan(cfg, scout_samples=1000, scout_fraction=0.05)
    assert p.samples == 20_000 and p.samples_source.startswith("estimated")
    known = full_data_plan(cfg, scout_samples=1000, scout_fraction=0.05, known_full_rows=30_000)
    assert known.samples == 30_000
    unknown = full_data_plan(cfg)
    assert unknown.samples is None and unknown.total_steps is None and unknown.warmup_steps is None
    assert unknown.warmup_ratio == 0.06 and any("--full-samples" in n for n in unknown.notes)


def test_step_based_settings_rescale(cfg):
    cfg = apply_updates(cfg, {"train.max_steps": 100, "train.warmup_steps": 10, "train.warmup_ratio": 0.0,
                              "train.eval_strategy": "steps", "train.eval_steps": 25})
    p = full_data_plan(cfg, full_samples=16_000, scout_samples=800, scout_fraction=0.05)
    # scouting: 800 rows / 16 = 50 steps/epoch, so 100 steps = 2 epochs; full: 1000 steps/epoch -> 2000
    assert p.max_steps == 2000 and p.total_steps == 2000
    assert p.warmup_ratio == pytest.approx(0.1) and p.warmup_steps == 200
    # 100 / 25 = 4 evaluations in scouting, as many on the full run
    assert p.eval_steps == 500 and p.save_steps == 500
    assert "max_steps = ceil(2 x 1000) = 2000" in p.text


@pytest.mark.parametrize("scouted", ["auto", "end", "epoch"])
def test_full_run_evaluates_per_epoch_unless_scouted_with_steps(cfg, scouted):
    # scouting trials evaluate once at their end (auto, end); the full run is not a trial: eval curves per epoch
    p = full_data_plan(apply_updates(cfg, {"train.eval_strategy": scouted}), full_samples=16_000)
    assert p.eval_strategy == "epoch" and p.eval_steps is None and p.save_steps is None
    how = "as scouted" if scouted == "epoch" else "scouting trials evaluated once, at their end"
    assert f"eval and save once per epoch ({how})" in p.text
    steps = full_data_plan(apply_updates(cfg, {"train.eval_strategy": "steps", "train.eval_steps": 25}),
                           full_samples=16_000, scout_samples=800)
    assert steps.eval_strategy == "steps" and steps.eval_steps == 500  # 4 evaluations in scouting, 4 in 2,000 steps


def test_warmup_longer_than_scouting_run_is_refused(cfg):
    cfg = apply_updates(cfg, {"train.warmup_steps": 500})
    with pytest.raises(ExportError, match="not shorter than the scouting run"):
        full_data_plan(cfg, full_samples=10_000, scout_samples=800, scout_fraction=0.05)


def test_bad_arguments(cfg):
    with pytest.raises(ExportError, match="devices must be an integer >= 1"):
        full_data_plan(cfg, devices=0)
    with pytest.raises(ExportError, match="full_samples"):
        full_data_plan(cfg, full_samples=-5)


def test_lr_correction_moves_along_the_law(cfg):
    section = fake_analysis(cfg)["lr_scaling"]
    c = lr_correction(cfg, section, mode="law", full_total_steps=2500, full_samples=20_000, scout_fraction=0.05)
    # scouting fraction 0.05 ran 126 steps; LR* ∝ steps^-0.277
    assert c.applied and c.x_scout == 126 and c.x_full == 2500
    assert c.corrected_lr == pytest.approx(2e-3 * (2500 / 126) ** -0.277)
    assert c.fractions_used == [0.01, 0.02, 0.05]
    # with the scouted LR equal to the law's best LR at the scouting rung, the correction lands on its prediction
    assert c.corrected_lr == pytest.approx(section["predicted_full_lr"], rel=0.03)
    assert "scouted_lr" in c.summary() and "corrected_lr" in c.summary()


def test_lr_correction_not_applied(cfg):
    section = fake_analysis(cfg)["lr_scaling"]
    off = lr_correction(cfg, section, mode="off", full_total_steps=2500, full_samples=None, scout_fraction=None)
    assert not off.applied and off.corrected_lr == off.scouted_lr and "--lr-correction off" in off.reason
    with pytest.raises(ExportError, match="--lr-correction must be one of horizon, law, off, but got 'on'"):
        lr_correction(cfg, section, mode="on", full_total_steps=2500, full_samples=None, scout_fraction=None)
    none = lr_correction(cfg, None, mode="law", full_total_steps=2500, full_samples=None, scout_fraction=None)
    assert not none.applied and "no lr_scaling section" in none.reason and "not applied" in none.summary()
    refused = lr_correction(cfg, {"status": "refused", "message": "only 1 rung"}, mode="law", full_total_steps=None,
                            full_samples=None, scout_fraction=None)
    assert not refused.applied and "only 1 rung" in refused.reason
    samples_law = dict(section, x_kind="samples", points=[{"fraction": 0.05, "x": 1000, "lr": 2e-3}], full={})
    unknown = lr_correction(cfg, samples_law, mode="law", full_total_steps=None, full_samples=None, scout_fraction=None)
    assert not unknown.applied and "--full-samples" in unknown.reason
    ok = lr_correction(cfg, samples_law, mode="law", full_total_steps=None, full_samples=4000, scout_fraction=None)
    assert ok.applied and ok.corrected_lr == pytest.approx(2e-3 * 4 ** -0.277)


def test_lr_correction_needs_a_slope_told_apart_from_zero(cfg):
    import copy

    base = fake_analysis(cfg)["lr_scaling"]
    noisy = copy.deepcopy(base)
    noisy["beta"], noisy["beta_ci"] = 1.14, [-5.43, 7.72]  # the SST-2 demo's fit
    c = lr_correction(cfg, noisy, mode="law", full_total_steps=2500, full_samples=20_000, scout_fraction=0.05)
    assert not c.applied and c.corrected_lr == c.scouted_lr and "includes 0" in c.reason
    two_points = copy.deepcopy(base)
    two_points["beta_ci"] = None
    c = lr_correction(cfg, two_points, mode="law", full_total_steps=2500, full_samples=20_000, scout_fraction=0.05)
    assert not c.applied and "confidence interval" in c.reason


def test_horizon_lowers_the_lr_for_the_longer_run(cfg):
    # the default: the pick chosen at 250 steps (the climb's 10% rung), a full run of 2500 steps
    c = lr_correction(cfg, None, full_total_steps=2500, full_samples=20_000, scout_fraction=0.05,
                      pick_steps=(250.0, "the transfer climb's rung 0.1 (250 steps)"))
    assert c.applied and c.mode == "horizon" and c.x_scout == 250 and c.x_full == 2500
    assert c.factor == pytest.approx(10 ** -0.3) and c.corrected_lr == pytest.approx(2e-3 * 10 ** -0.3)
    assert "(x0.50) for 2,500 optimizer steps instead of the 250 it was chosen at" in c.summary() and "rung 0.1" in c.summary()
    # never more than 4x lower: 1,000x the steps would give x0.13
    capped = lr_correction(cfg, None, full_total_steps=1_000_000, full_samples=None, scout_fraction=None,
                           pick_steps=(1000.0, "the scouting run (1,000 steps)"))
    assert capped.applied and capped.factor == pytest.approx(0.25) and "capped at x0.25" in capped.reason


def test_horizon_leaves_the_lr_when_it_cannot_tell(cfg):
    same = lr_correction(cfg, None, full_total_steps=2500, full_samples=None, scout_fraction=None,
                         pick_steps=(2500.0, "the transfer climb's rung 1 (2,500 steps)"))
    assert not same.applied and same.corrected_lr == 2e-3 and "no longer than the run it was chosen on" in same.reason
    no_pick = lr_correction(cfg, None, full_total_steps=2500, full_samples=None, scout_fraction=None)
    assert not no_pick.applied and "chosen on are unknown" in no_pick.reason
    no_full = lr_correction(cfg, None, full_total_steps=None, full_samples=None, scout_fraction=None,
                            pick_steps=(250.0, "x"))
    assert not no_full.applied and "--full-samples" in no_full.reason and "horizon" in no_full.summary()


def test_pick_steps_reads_the_climbs_last_rung():
    analysis = {"transfer": {"final_fraction": 0.1, "rungs": [{"fraction": 0.05, "steps": 126},
                                                                {"fraction": 0.1, "steps": 250}]}}
    assert pick_steps(analysis, 126) == (250.0, "the transfer climb's rung 0.1 (250 steps)")
    assert pick_steps({}, 126) == (126.0, "the scouting run (126 steps)")
    assert pick_steps({"transfer": {"final_fraction": 0.2, "rungs": []}}, None) is None
