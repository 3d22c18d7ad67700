"""TorchRunner: a tiny MLP on scikit-learn's digits through tests/runner/_fixtures.py:digits_factory."""

from __future__ import annotations

import csv

import pytest
from _fixtures import RecordingReporter, torch_config

from hpscout.config import apply_updates
from hpscout.runner import FAULT_ENV, TrialStatus, run_trial

pytest.importorskip("torch")
pytest.importorskip("sklearn")


def test_mlp_learns_digits(tmp_path):
    rep = RecordingReporter()
    r = run_trial(torch_config(tmp_path, epochs=3, eval_strategy="epoch"), out_dir=tmp_path / "t", reporter=rep)
    assert r.status is TrialStatus.COMPLETE, r.message
    assert r.metrics["eval_accuracy"] > 0.8 and "eval_loss" in r.metrics  # 'accuracy' got its eval_ prefix
    assert r.objective == r.metrics["eval_accuracy"]
    # 748 rows at fraction 0.5, batch 32 -> 24 steps per epoch
    assert r.train_samples == 748 and r.steps == 72 and r.samples_processed == 3 * 748
    assert [s for s, _ in rep.values] == [24, 48, 72]
    assert r.trainable_params == r.total_params == 64 * 32 + 32 + 32 * 10 + 10
    rows = list(csv.DictReader(open(tmp_path / "t" / "history.csv")))
    assert rows[0]["step"] == "2" and rows[0]["loss"] and rows[0]["learning_rate"]
    assert list((tmp_path / "t" / "tb").glob("events.out.tfevents.*"))


def test_eval_at_end_once_with_the_final_metrics_of_epoch(tmp_path):
    # auto resolves to end here; the eval_fn draws from the global generators and the model has dropout,
    # so only evaluations that leave the random state alone train the same as no evaluations
    cfg = apply_updates(torch_config(tmp_path, epochs=3), {"torch.factory": "_fixtures:dropout_digits_factory"})
    assert cfg.resolved_eval_strategy == "end"
    rep = RecordingReporter()
    end = run_trial(cfg, out_dir=tmp_path / "end", reporter=rep)
    epoch = run_trial(apply_updates(cfg, {"train.eval_strategy": "epoch"}), out_dir=tmp_path / "epoch")
    assert end.status is epoch.status is TrialStatus.COMPLETE, (end.message, epoch.message)
    assert [h["step"] for h in end.history if "eval_loss" in h] == [72]
    assert [h["step"] for h in epoch.history if "eval_loss" in h] == [24, 48, 72]
    assert rep.values == [(72, end.objective)]
    assert end.metrics == epoch.metrics and end.objective == epoch.objective
    assert [h["loss"] for h in end.history if "loss" in h] == [h["loss"] for h in epoch.history if "loss" in h]


def test_grad_accum_schedule_and_warmup(tmp_path):
    cfg = torch_config(tmp_path, epochs=1, grad_accum=5, logging_steps=1, warmup_steps=2, lr_scheduler="cosine")
    r = run_trial(cfg, out_dir=tmp_path / "t")
    assert r.status is TrialStatus.COMPLETE, r.message
    assert r.steps == 5  # 24 batches in windows of 5 -> 5 steps, the last with 4 batches
    lrs = [h["learning_rate"] for h in r.history if "learning_rate" in h]
    assert lrs[0] == pytest.approx(0.0) and lrs[1] == pytest.approx(0.005) and lrs[2] == pytest.approx(0.01)
    assert lrs[3] < lrs[2]


def test_one_cycle(tmp_path):
    r = run_trial(torch_config(tmp_path, epochs=1, lr_scheduler="one_cycle", logging_steps=1), out_dir=tmp_path / "t")
    assert r.status is TrialStatus.COMPLETE, r.message
    lrs = [h["learning_rate"] for h in r.history if "learning_rate" in h]
    assert max(lrs) == pytest.approx(0.01, rel=1e-2) and lrs[0] < 0.001 and lrs[-1] < 0.001


def test_same_seed_same_result(tmp_path):
    cfg = torch_config(tmp_path, epochs=1)
    a = run_trial(cfg, out_dir=tmp_path / "a")
    b = run_trial(cfg, out_dir=tmp_path / "b")
    c = run_trial(apply_updates(cfg, {"seed": 4}), out_dir=tmp_path / "c")
    assert a.metrics == b.metrics and a.history == b.history
    assert a.metrics != c.metrics


def test_early_stopping_restores_best(tmp_path):
    cfg = torch_config(
        tmp_path, epochs=10, eval_strategy="steps", eval_steps=4, early_stopping={"patience": 2, "threshold": 10.0}
    )
    r = run_trial(cfg, out_dir=tmp_path / "t")
    assert r.status is TrialStatus.COMPLETE, r.message
    evals = [h for h in r.history if "eval_accuracy" in h]
    assert r.steps == 12 and [h["step"] for h in evals] == [4, 8, 12]
    assert r.objective == evals[0]["eval_accuracy"]  # nothing beat the first by the threshold


def test_nan_guard(tmp_path, monkeypatch):
    monkeypatch.setenv(FAULT_ENV, "nan@3")
    r = run_trial(torch_config(tmp_path), out_dir=tmp_path / "t")
    assert r.status is TrialStatus.DIVERGED and r.diverged_step == 3 and r.steps == 3


def test_oom_and_error(tmp_path, monkeypatch):
    monkeypatch.setenv(FAULT_ENV, "oom@2")
    assert run_trial(torch_config(tmp_path), out_dir=tmp_path / "a").status is TrialStatus.OOM
    monkeypatch.setenv(FAULT_ENV, "error@2")
    r = run_trial(torch_config(tmp_path), out_dir=tmp_path / "b")
    assert r.status is TrialStatus.FAILED and "RuntimeError" in r.message


def test_pruning(tmp_path):
    rep = RecordingReporter(prune_after=1)
    r = run_trial(torch_config(tmp_path, epochs=3, eval_strategy="epoch"), out_dir=tmp_path / "t", reporter=rep)
    assert r.status is TrialStatus.PRUNED and r.steps == 24 and r.objective == rep.values[0][1]


def test_missing_metric_and_bad_factory(tmp_path):
    cfg = apply_updates(torch_config(tmp_path, epochs=1), {"search.metric": "eval_f1"})
    r = run_trial(cfg, out_dir=tmp_path / "a")
    assert r.status is TrialStatus.FAILED and "eval_f1" in r.message and "eval_accuracy" in r.message
    cfg = apply_updates(torch_config(tmp_path), {"torch.factory": "_fixtures:nope"})
    r = run_trial(cfg, out_dir=tmp_path / "b")
    assert r.status is TrialStatus.FAILED and "no function 'nope'" in r.message


def test_fp16_on_cpu_falls_back_with_note(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CPU fallback")
    r = run_trial(torch_config(tmp_path, epochs=1, precision="fp16"), out_dir=tmp_path / "t")
    assert r.status is TrialStatus.COMPLETE and "fp16 needs a CUDA GPU" in r.message


def test_step_matched(tmp_path):
    cfg = apply_updates(torch_config(tmp_path, epochs=1), {"scout.step_matched": True})
    r = run_trial(cfg, out_dir=tmp_path / "t", fraction=0.25)
    assert r.status is TrialStatus.COMPLETE, r.message
    # 374 rows at 0.25 ~ 748 at the scouting fraction 0.5 -> 24 steps of 32, not 12
    assert r.train_samples == 374 and r.steps == 24
