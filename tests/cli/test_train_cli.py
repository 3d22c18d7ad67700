"""``hpscout train`` through the CLI entry point."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runner"))
from _fixtures import TINY_BERT, write_classification_csv  # noqa: E402

from hpscout.cli import main  # noqa: E402

pytest.importorskip("transformers")


def _write_config(tmp_path: Path, **train) -> Path:
    write_classification_csv(tmp_path / "train.csv", 48, seed=1)
    write_classification_csv(tmp_path / "eval.csv", 16, seed=2)
    settings = {"max_steps": 2, "batch_size": 8, "method": "lora", "learning_rate": 1e-3}
    settings.update(train)
    cfg = {
        "name": "cli-train",
        "task": "sequence-classification",
        "model": {"from_config": TINY_BERT},
        "data": {"train": "train.csv", "eval": "eval.csv", "max_length": 32},
        "scout": {"fraction": 0.5},
        "train": settings,
        "search": {"metric": "eval_accuracy", "direction": "maximize"},
        "output_dir": str(tmp_path / "run"),
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_train_writes_result(tmp_path, capsys):
    cfg = _write_config(tmp_path)
    out = tmp_path / "trial"
    assert main(["train", str(cfg), "--set", "train.learning_rate=0.002", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("complete: eval_accuracy=") and f"result: {out / 'result.json'}" in printed
    result = json.loads((out / "result.json").read_text())
    assert result["status"] == "complete"
    assert set(result["metrics"]) >= {"eval_loss", "eval_accuracy", "eval_f1"}
    assert result["trainable_params"] > 0 and result["elapsed_seconds"] > 0 and result["steps"] == 2
    assert result["seed"] == 42 and result["fraction"] == 0.5 and result["train_samples"] == 24
    assert result["config"]["train"]["learning_rate"] == 0.002


def test_train_default_out_and_fraction(tmp_path, capsys):
    cfg = _write_config(tmp_path)
    assert main(["train", str(cfg), "--fraction", "1.0", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    path = Path(shown["result"])
    assert path.parent.parent == tmp_path / "run" / "trials" and path.parent.name.startswith("train-")
    assert shown["fraction"] == 1.0 and shown["train_samples"] == 48


def test_trial_fault_still_exits_0(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HPSCOUT_FAULT_INJECT", "error@1")
    cfg = _write_config(tmp_path)
    assert main(["train", str(cfg), "--out", str(tmp_path / "t")]) == 0
    assert capsys.readouterr().out.startswith("failed: eval_accuracy=n/a")
    assert json.loads((tmp_path / "t" / "result.json").read_text())["status"] == "failed"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--fraction", "1.5"], "--fraction must be in (0, 1]"),
        (["--set", "search.metric=eval_bleu"], "eval_bleu"),
        (["--set", "train.lerning_rate=1"], "did you mean 'learning_rate'"),
    ],
)
def test_bad_input_exits_2(tmp_path, capsys, args, needle):
    cfg = _write_config(tmp_path)
    assert main(["train", str(cfg), *args, "--out", str(tmp_path / "t")]) == 2
    assert needle in capsys.readouterr().err
    assert not (tmp_path / "t" / "result.json").exists()


def test_help_lists_train():
    from typer.testing import CliRunner

    from hpscout.cli import app

    res = CliRunner().invoke(app, ["train", "--help"])
    assert res.exit_code == 0 and "--fraction" in res.output and "--set" in res.output
