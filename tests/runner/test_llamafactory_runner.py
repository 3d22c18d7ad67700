"""The llamafactory runner against a stand-in ``llamafactory.cli`` that writes LLaMA-Factory's files.

What the runner hands LLaMA-Factory (trial YAML, subset, dataset_info.json) and how it reads the
outcome (statuses, metrics, pruning). The real LLaMA-Factory runs in tests/workflow/test_llamafactory_real.py.
"""

from __future__ import annotations

import json
import time

import pytest
import yaml
from _fixtures import RecordingReporter

from _llamafactory import install_fake_llamafactory, write_project
from hpscout.config import apply_updates
from hpscout.data import prepare_data
from hpscout.llamafactory import TRIAL_EVAL, TRIAL_TRAIN, scout_config_from_llamafactory
from hpscout.runner import TrialStatus, run_trial


@pytest.fixture
def config(tmp_path, monkeypatch):
    python = install_fake_llamafactory(tmp_path, monkeypatch)
    src = write_project(tmp_path, formatting="sharegpt", extra={"template": "qwen", "packing": False})
    cfg = scout_config_from_llamafactory(src, python=python).config
    return apply_updates(cfg, {"scout.fraction": 0.5, "scout.fidelities": [0.25, 0.5], "data.max_eval_samples": 10})


def test_complete_trial(config, tmp_path):
    r = run_trial(config, out_dir=tmp_path / "t", fraction=0.25)
    assert r.status is TrialStatus.COMPLETE, r.message
    assert r.objective == pytest.approx(r.metrics["eval_loss"]) == pytest.approx(1.25)  # (log10(1e-4) + 3.5)^2 + 1
    rows = prepare_data(config, 0.25).train.num_rows
    assert r.train_samples == rows and r.steps == -(-rows // 8)
    assert (r.trainable_params, r.total_params) == (1024, 10240)
    assert r.versions["llamafactory"] == "0.9.5" and r.elapsed_seconds == pytest.approx(0.6)
    assert [h["step"] for h in r.history][:4] == [1, 1, 2, 2]

    args = yaml.safe_load((tmp_path / "t" / "llamafactory.yaml").read_text())
    assert args["dataset"] == TRIAL_TRAIN and args["eval_dataset"] == TRIAL_EVAL and "val_size" not in args
    assert args["dataset_dir"] == str(tmp_path / "t" / "data") and args["output_dir"] == str(tmp_path / "t" / "output")
    assert args["template"] == "qwen" and args["packing"] is False  # kept verbatim
    assert args["learning_rate"] == 1e-4 and args["lora_target"] == "all" and args["cutoff_len"] == 64  # mapped
    assert (args["save_strategy"], args["report_to"], args["do_eval"]) == ("no", "none", True)
    info = json.loads((tmp_path / "t" / "data" / "dataset_info.json").read_text())
    assert info[TRIAL_TRAIN]["formatting"] == "sharegpt" and info[TRIAL_TRAIN]["file_name"] == "train.jsonl"
    lines = (tmp_path / "t" / "data" / "train.jsonl").read_text().splitlines()
    assert len(lines) == rows and "conversations" in json.loads(lines[0])


def test_rungs_are_nested(config, tmp_path):
    run_trial(config, out_dir=tmp_path / "a", fraction=0.25)
    run_trial(config, out_dir=tmp_path / "b", fraction=0.5)
    small = (tmp_path / "a" / "data" / "train.jsonl").read_text().splitlines()
    large = (tmp_path / "b" / "data" / "train.jsonl").read_text().splitlines()
    assert len(small) < len(large) and set(small) <= set(large)
    assert (tmp_path / "a" / "data" / "eval.jsonl").read_text() == (tmp_path / "b" / "data" / "eval.jsonl").read_text()


@pytest.mark.parametrize(
    ("mode", "status", "message"),
    [
        ("nan", TrialStatus.DIVERGED, "loss is nan at step 2"),
        ("oom", TrialStatus.OOM, "CUDA out of memory"),
        ("crash", TrialStatus.FAILED, "ValueError: Cannot find valid samples"),
    ],
)
def test_failures_map_to_statuses_with_the_log_tail(config, tmp_path, monkeypatch, mode, status, message):
    monkeypatch.setenv("FAKE_LF_MODE", mode)
    r = run_trial(config, out_dir=tmp_path / "t", fraction=0.25)
    assert r.status is status and message in r.message and r.objective is None


def test_pruning_stops_the_run(config, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_LF_STEP_SECONDS", "5")
    reporter = RecordingReporter(prune_after=1)
    start = time.perf_counter()
    r = run_trial(config, out_dir=tmp_path / "t", fraction=0.5, reporter=reporter)
    assert r.status is TrialStatus.PRUNED and reporter.values == [(1, pytest.approx(2.25))]
    assert time.perf_counter() - start < 15  # not the stand-in's 7 steps x 5 s


def test_metric_llamafactory_does_not_write_fails(config, tmp_path):
    r = run_trial(apply_updates(config, {"search.metric": "eval_accuracy"}), out_dir=tmp_path / "t", fraction=0.25)
    assert r.status is TrialStatus.FAILED and "no 'eval_accuracy'" in r.message and "eval_loss" in r.message
