"""CommandRunner: a tiny python script written into tmp_path plays the training script."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from _fixtures import RecordingReporter

from _procs import alive
from hpscout.config import config_from_dict, config_to_dict
from hpscout.runner import TrialStatus, run_trial, validate_trial_config
from hpscout.runner._command import command_argv, command_env, hyperparameter_name

SCRIPT = r"""
import json, os, sys, time
args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--"))
mode = os.environ.get("MODE", "ok")
lr = float(args.get("learning_rate", os.environ.get("HPSCOUT_LEARNING_RATE", "nan")))
out = os.environ["HPSCOUT_METRICS_FILE"]
if mode == "child":  # a grandchild that must die with the script
    import subprocess
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    open(os.path.join(os.environ["HPSCOUT_TRIAL_DIR"], "child.pid"), "w").write(str(p.pid))
with open(os.path.join(os.environ["HPSCOUT_TRIAL_DIR"], "seen.json"), "w") as fh:
    json.dump({"argv": sys.argv[1:], "env": {k: v for k, v in os.environ.items() if k.startswith("HPSCOUT_")}}, fh)
for step in (1, 2, 3):
    acc = 0.5 + lr * step
    if mode == "nan" and step == 2:
        acc = float("nan")
    with open(out, "a") as fh:
        fh.write(json.dumps({"step": step, "eval_accuracy": acc, "loss": 1.0 / step}) + "\n")
    if mode in ("slow", "child"):
        time.sleep(30)
if mode == "crash":
    print("something broke: bad things", file=sys.stderr)
    sys.exit(3)
"""


def _config(tmp_path: Path, *, pass_as: str = "args", timeout: float | None = None, extra_argv=()) -> object:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    return config_from_dict(
        {
            "name": "cmd",
            "seed": 5,
            "task": "command",
            "command": {"argv": [sys.executable, str(script), *extra_argv], "pass_as": pass_as, "timeout": timeout},
            "data": {"train": "unused.csv"},
            "train": {"learning_rate": 0.01},
            "search": {
                "metric": "eval_accuracy",
                "direction": "maximize",
                "space": {
                    "train.learning_rate": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
                    "train.lora.r": {"type": "categorical", "choices": [4, 8]},
                },
            },
        }
    )


def _seen(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "t" / "seen.json").read_text())


def test_args_mode_complete(tmp_path):
    rep = RecordingReporter()
    r = run_trial(_config(tmp_path), out_dir=tmp_path / "t", fraction=0.2, reporter=rep)
    assert r.status is TrialStatus.COMPLETE, r.message
    assert r.metrics == {"eval_accuracy": pytest.approx(0.53), "loss": pytest.approx(1 / 3)}
    assert r.objective == pytest.approx(0.53) and r.steps == 3 and len(r.history) == 3
    assert [s for s, _ in rep.values] == [1, 2, 3]
    seen = _seen(tmp_path)
    assert "--learning_rate=0.01" in seen["argv"] and "--lora_r=8" in seen["argv"]
    env = seen["env"]
    assert env["HPSCOUT_FRACTION"] == "0.2" and env["HPSCOUT_SEED"] == "5" and env["HPSCOUT_METRIC"] == "eval_accuracy"
    assert Path(env["HPSCOUT_TRIAL_DIR"]) == (tmp_path / "t").resolve()
    assert "HPSCOUT_LEARNING_RATE" not in env
    assert (tmp_path / "t" / "history.csv").exists() and (tmp_path / "t" / "result.json").exists()


def test_env_mode(tmp_path):
    r = run_trial(_config(tmp_path, pass_as="env"), out_dir=tmp_path / "t")
    assert r.status is TrialStatus.COMPLETE, r.message
    seen = _seen(tmp_path)
    assert seen["env"]["HPSCOUT_LEARNING_RATE"] == "0.01" and seen["env"]["HPSCOUT_LORA_R"] == "8"
    assert not any(a.startswith("--learning_rate") for a in seen["argv"])


def test_placeholders(tmp_path):
    cfg = _config(tmp_path, extra_argv=["--lr={train.learning_rate}", "--out={trial_dir}", "{data.train}"])
    argv = command_argv(cfg, {"trial_dir": "/x", "fraction": 0.1, "seed": 5, "metrics_file": "/x/m"})
    assert argv[2:5] == ["--lr=0.01", "--out=/x", "unused.csv"]
    assert hyperparameter_name("train.lora.alpha") == "lora_alpha" and hyperparameter_name("data.max_length") == "data_max_length"
    bad = _config(tmp_path, extra_argv=["{train.nope}"])
    with pytest.raises(Exception, match="placeholder"):
        validate_trial_config(bad)


def test_the_script_gets_the_resolved_eval_strategy(tmp_path):
    """``auto`` is hpscout's: the script gets end (nothing reads evaluations) or epoch (early stopping)."""
    trial = {"trial_dir": "/x", "fraction": 0.1, "seed": 5, "metrics_file": "/x/m"}
    cfg = _config(tmp_path, extra_argv=["--eval={train.eval_strategy}"])
    assert cfg.train.eval_strategy == "auto"
    assert command_argv(cfg, trial)[2] == "--eval=end"
    raw = config_to_dict(cfg)
    early = config_from_dict({**raw, "train": {**raw["train"], "early_stopping": {"patience": 2}}})
    assert command_argv(early, trial)[2] == "--eval=epoch"
    ablated = config_from_dict({**raw, "ablation": {"factors": {"train.eval_strategy": ["auto", "epoch"]}}})
    assert "--eval_strategy=end" in command_argv(ablated, trial)
    as_env = config_from_dict({**config_to_dict(ablated), "command": {**raw["command"], "pass_as": "env"}})
    assert command_env(as_env, trial)["HPSCOUT_EVAL_STRATEGY"] == "end"


def test_prune_kills_process_group(tmp_path, monkeypatch):
    monkeypatch.setenv("MODE", "child")
    rep = RecordingReporter(prune_after=1)
    start = time.perf_counter()
    r = run_trial(_config(tmp_path), out_dir=tmp_path / "t", reporter=rep)
    assert r.status is TrialStatus.PRUNED and r.objective == pytest.approx(0.51)
    assert time.perf_counter() - start < 20  # not the script's 90 s
    child = int((tmp_path / "t" / "child.pid").read_text())
    deadline = time.time() + 5
    while alive(child) and time.time() < deadline:
        time.sleep(0.1)
    assert not alive(child)


def test_timeout_fails(tmp_path, monkeypatch):
    monkeypatch.setenv("MODE", "slow")
    r = run_trial(_config(tmp_path, timeout=1.5), out_dir=tmp_path / "t")
    assert r.status is TrialStatus.FAILED and "timed out after 1.5 s" in r.message
    assert r.elapsed_seconds < 15


def test_nonzero_exit_fails_with_stderr_tail(tmp_path, monkeypatch):
    monkeypatch.setenv("MODE", "crash")
    r = run_trial(_config(tmp_path), out_dir=tmp_path / "t")
    assert r.status is TrialStatus.FAILED and "code 3" in r.message and "something broke" in r.message


def test_nan_metric_diverges(tmp_path, monkeypatch):
    monkeypatch.setenv("MODE", "nan")
    r = run_trial(_config(tmp_path), out_dir=tmp_path / "t")
    assert r.status is TrialStatus.DIVERGED and r.diverged_step == 2


def test_no_metrics_fails(tmp_path):
    cfg = _config(tmp_path)
    script = tmp_path / "train.py"
    script.write_text("print('hi')\n")
    r = run_trial(cfg, out_dir=tmp_path / "t")
    assert r.status is TrialStatus.FAILED and "wrote no metrics" in r.message


def test_subset_files_handed_to_the_script(tmp_path):
    from _fixtures import write_classification_csv

    from hpscout.config import apply_updates

    write_classification_csv(tmp_path / "data.csv", 40, seed=3)
    cfg = apply_updates(_config(tmp_path), {"data.train": str(tmp_path / "data.csv"), "data.eval_split": 0.25})
    r = run_trial(cfg, out_dir=tmp_path / "t", fraction=0.5)
    assert r.status is TrialStatus.COMPLETE, r.message
    env = _seen(tmp_path)["env"]
    train_rows = Path(env["HPSCOUT_SUBSET_FILE"]).read_text().splitlines()
    eval_rows = Path(env["HPSCOUT_EVAL_FILE"]).read_text().splitlines()
    assert len(train_rows) == 15 and len(eval_rows) == 10  # half of the 30 rows left after the 25% hold-out
    assert set(json.loads(train_rows[0])) == {"text", "label"}
