"""``hpscout train --set model.adapter=...`` refuses a planted pickle and a tampered checkpoint: exit 2, nothing runs."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runner"))
from _fixtures import TINY_BERT, write_classification_csv  # noqa: E402

from hpscout.cli import main  # noqa: E402
from hpscout.store import write_checkpoint_manifest  # noqa: E402

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")


class _Shell:
    """Unpickling this runs ``command`` in a shell."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def _write_config(tmp_path: Path) -> Path:
    write_classification_csv(tmp_path / "train.csv", 48, seed=1)
    write_classification_csv(tmp_path / "eval.csv", 16, seed=2)
    cfg = {
        "name": "cli-adapter",
        "task": "sequence-classification",
        "model": {"from_config": TINY_BERT},
        "data": {"train": "train.csv", "eval": "eval.csv", "max_length": 32},
        "scout": {"fraction": 0.5, "min_steps": 0},  # a tiny model: no step floor
        "train": {"max_steps": 2, "batch_size": 8, "method": "lora", "learning_rate": 1e-3},
        "search": {
            "metric": "eval_accuracy",
            "direction": "maximize",
            "space": {"train.learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}},
        },
        "output_dir": str(tmp_path / "run"),
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _hpscout(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hpscout", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_train_refuses_planted_pickle(tmp_path):
    config = _write_config(tmp_path)
    marker = tmp_path / "pwned"
    ckpt = tmp_path / "evil_checkpoint"
    ckpt.mkdir()
    (ckpt / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8}))
    (ckpt / "adapter_model.bin").write_bytes(pickle.dumps(_Shell(f"touch {marker}"), protocol=2))
    write_checkpoint_manifest(ckpt, config_name="cli-adapter")  # the attacker rewrote the manifest too
    out = tmp_path / "trial"

    r = _hpscout("train", str(config), "--set", f"model.adapter={ckpt}", "--out", str(out), cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert str(ckpt / "adapter_model.bin") in r.stderr and "holds more than tensors and was refused" in r.stderr
    assert "Traceback" not in r.stderr
    assert not marker.exists()
    assert not out.exists()  # refused before the trial folder was made

    # `hpscout search` runs the same check before its first trial
    r = _hpscout("search", str(config), "--set", f"model.adapter={ckpt}", "--trials", "1", cwd=tmp_path)
    assert r.returncode == 2 and "adapter_model.bin" in r.stderr, (r.stdout, r.stderr)
    assert not marker.exists()
    assert not list((tmp_path / "run").glob("trials/*"))  # no trial ran


def test_train_refuses_tampered_and_foreign_checkpoints(tmp_path, capsys):
    config = _write_config(tmp_path)
    first = tmp_path / "first"
    assert main(["train", str(config), "--set", "train.save_best_checkpoint=true", "--out", str(first)]) == 0
    best = first / "best_checkpoint"
    capsys.readouterr()

    # relative to the config file, like data paths; a clean checkpoint trains
    second = tmp_path / "second"
    assert main(["train", str(config), "--set", "model.adapter=first/best_checkpoint", "--out", str(second)]) == 0
    assert json.loads((second / "result.json").read_text())["status"] == "complete"
    capsys.readouterr()

    weights = best / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    assert main(["train", str(config), "--set", f"model.adapter={best}", "--out", str(tmp_path / "t2")]) == 2
    err = capsys.readouterr().err
    assert f"{weights} was modified after hpscout wrote it" in err
    assert not (tmp_path / "t2").exists()

    assert main(["train", str(config), "--set", f"model.adapter={tmp_path}", "--out", str(tmp_path / "t3")]) == 2
    assert "not a checkpoint hpscout wrote" in capsys.readouterr().err

    assert main(["train", str(config), "--set", f"model.adapter={best}", "--set", "train.method=full"]) == 2
    assert "model.adapter needs train.method" in capsys.readouterr().err
