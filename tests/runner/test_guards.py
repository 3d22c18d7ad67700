"""Guards: divergence (NaN, inf, exploding loss), OOM, exceptions, pruning, memory over many trials.

Faults are forced with HPSCOUT_FAULT_INJECT (see hpscout.runner._guards).
"""

from __future__ import annotations

import gc
import math
import os

import pytest
from _fixtures import RecordingReporter, classification_config

from hpscout.runner import FAULT_ENV, TrialStatus, run_trial
from hpscout.runner._guards import LossGuard, chance_loss, fault_from_env, is_oom, status_from_exception

pytest.importorskip("transformers")


def _run(tmp_path, monkeypatch, fault, **train):
    monkeypatch.setenv(FAULT_ENV, fault)
    settings = {"max_steps": 6, "logging_steps": 1}
    settings.update(train)
    return run_trial(classification_config(tmp_path, **settings), out_dir=tmp_path / "t")


def test_nan_at_step_3_diverges(tmp_path, monkeypatch):
    r = _run(tmp_path, monkeypatch, "nan@3")
    assert r.status is TrialStatus.DIVERGED and r.diverged_step == 3 and r.steps == 3
    assert "nan" in r.message
    # the Trainer's own logging would have hidden the NaN (logging_nan_inf_filter); no evaluation ran
    assert not any("eval_loss" in h for h in r.history)
    assert not r.ok and r.objective is None


def test_inf_diverges(tmp_path, monkeypatch):
    r = _run(tmp_path, monkeypatch, "inf@2", logging_steps=5)  # checked every step, not every logging_steps
    assert r.status is TrialStatus.DIVERGED and r.diverged_step == 2 and "inf" in r.message


def test_exploding_loss_diverges(tmp_path, monkeypatch):
    r = _run(tmp_path, monkeypatch, "explode@4", logging_steps=2)
    assert r.status is TrialStatus.DIVERGED and r.diverged_step == 4
    assert "exceeds 10 x the reference loss" in r.message


def test_oom_is_oom(tmp_path, monkeypatch):
    r = _run(tmp_path, monkeypatch, "oom@2")
    assert r.status is TrialStatus.OOM and "OutOfMemoryError" in r.message and r.steps == 1
    assert (tmp_path / "t" / "result.json").exists() and (tmp_path / "t" / "history.csv").exists()


def test_exception_is_failed(tmp_path, monkeypatch):
    r = _run(tmp_path, monkeypatch, "error@2")
    assert r.status is TrialStatus.FAILED and r.message.startswith("RuntimeError: fault")
    assert "Traceback" in (tmp_path / "t" / "traceback.txt").read_text()


def test_reporter_prunes_after_first_report(tmp_path):
    cfg = classification_config(tmp_path, max_steps=6, eval_strategy="steps", eval_steps=2)
    rep = RecordingReporter(prune_after=1)
    r = run_trial(cfg, out_dir=tmp_path / "t", reporter=rep)
    assert r.status is TrialStatus.PRUNED and r.steps == 2
    assert rep.values == [(2, r.objective)]


def test_bad_fault_spec_fails_cleanly(tmp_path, monkeypatch):
    r = _run(tmp_path, monkeypatch, "nan-at-3")
    assert r.status is TrialStatus.FAILED and FAULT_ENV in r.message


def test_fault_spec_parsing(monkeypatch):
    monkeypatch.delenv(FAULT_ENV, raising=False)
    assert fault_from_env() is None
    monkeypatch.setenv(FAULT_ENV, "explode@12")
    f = fault_from_env()
    assert (f.kind, f.step) == ("explode", 12) and f.apply(2.0, 11) == 2.0 and f.apply(2.0, 12) == 2e6


def test_loss_guard_rules():
    g = LossGuard(factor=10)
    assert g.check(1, 3.0) is None and g.reference == 3.0  # the step-1 loss, before any update
    assert g.check(2, 29.0) is None
    assert "exceeds 10 x the reference loss 3 (the loss at step 1" in g.check(3, 31.0) and g.diverged_step == 3
    g = LossGuard(factor=10)
    assert "nan" in g.check(1, float("nan")) and g.diverged_step == 1
    g = LossGuard(factor=10)
    g.check(1, -1.0)
    assert g.check(2, 100.0) is None  # a negative reference makes ratios meaningless


def test_loss_guard_reference_cannot_be_diverged_already():
    # the loss explodes inside the first logging window (logging_steps=5): the old reference, the
    # mean of the first logged window (~20), let 77 pass; the step-1 loss (0.7) does not
    losses = [0.7, 3.0, 20.0, 35.0, 50.0, 60.0, 77.0]
    g = LossGuard(factor=10)
    tripped = [s for s, v in enumerate(losses, start=1) if g.check(s, v) is not None]
    assert tripped[0] == 3 and g.diverged_step == 3


def test_loss_guard_chance_level_is_a_floor():
    assert chance_loss(2) == pytest.approx(math.log(2)) and chance_loss(1) is None and chance_loss(None) is None
    # a lucky first batch (loss 0.05) does not make a noisy 0.9 look diverged: the floor is ln 2
    g = LossGuard(factor=10, chance_loss=chance_loss(2))
    assert g.check(1, 0.05) is None and g.reference == pytest.approx(math.log(2))
    assert g.check(2, 0.9) is None
    assert "chance level ln 2" in g.check(3, 7.5)
    # a pretrained head that starts above chance keeps its own (higher) reference
    g = LossGuard(factor=10, chance_loss=chance_loss(3))
    g.check(1, 2.0)
    assert g.reference == 2.0 and g.check(2, 15.0) is None


def test_absurd_learning_rate_diverges(tmp_path):
    # a real run at LR 10: the loss is ~60 by the first log (logging_steps=5, chance is ln 2 = 0.69);
    # before the fix the guard compared against that first logged loss and the trial ended complete
    cfg = classification_config(tmp_path, learning_rate=10.0, logging_steps=5, epochs=2)
    r = run_trial(cfg, out_dir=tmp_path / "t")
    assert r.status is TrialStatus.DIVERGED, (r.status, r.message, r.history)
    assert r.diverged_step is not None and r.diverged_step <= 5 and r.objective is None
    assert "chance level ln 2" in r.message or "at step 1" in r.message


def test_torch_runner_absurd_learning_rate_diverges(tmp_path):
    from _fixtures import torch_config

    r = run_trial(torch_config(tmp_path, learning_rate=10.0, logging_steps=5), out_dir=tmp_path / "t")
    assert r.status is TrialStatus.DIVERGED, (r.status, r.message, r.history)
    assert "the loss at step 1" in r.message


def test_oom_classification():
    import torch

    assert is_oom(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert is_oom(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried... out of memory"))
    assert is_oom(MemoryError())
    assert not is_oom(ValueError("out of range"))
    assert status_from_exception(KeyError("x")) == (TrialStatus.FAILED, "KeyError: 'x'")


def _rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads RSS from /proc")
def test_memory_flat_over_20_trials(tmp_path):
    cfg = classification_config(tmp_path, max_steps=2, method="full")
    rss = []
    for i in range(20):
        r = run_trial(cfg, out_dir=tmp_path / f"t{i}")
        assert r.status is TrialStatus.COMPLETE, r.message
        gc.collect()
        rss.append(_rss_mb())
    # allocator warm-up takes a few trials; after it, 15 more trials may not grow RSS by more than
    # 40 MB. A leaked trial keeps its 1M-parameter model, gradients and AdamW state (~16 MB), so a
    # leak would add ~240 MB.
    growth = rss[-1] - rss[4]
    assert growth < 40, f"RSS grew {growth:.0f} MB over trials 5..20: {[round(x) for x in rss]}"
