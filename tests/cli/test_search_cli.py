"""``hpscout search``, ``worker`` and ``trials`` through the CLI entry point."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from hpscout.cli import main
from hpscout.config import load_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "search"))  # the _objectives module

pytestmark = pytest.mark.filterwarnings("ignore:Heartbeat of storage")

OBJECTIVE = ["--objective", "_objectives:quadratic"]


def write_config(tmp_path: Path, **search) -> Path:
    cfg = {
        "name": "cli-search",
        "output_dir": str(tmp_path / "run"),
        "data": {"train": "train.csv"},
        "scout": {"fraction": 0.05, "fidelities": [0.01, 0.05], "min_steps": 0},  # no data file: no step floor
        "search": {
            "trials": 4,
            "sampler": "random",
            "space": {
                "train.learning_rate": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
                "train.batch_size": {"type": "categorical", "choices": [8, 16]},
            },
            **search,
        },
    }
    path = tmp_path / "hpscout.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_search_then_trials_json(tmp_path, capsys):
    cfg = write_config(tmp_path)
    assert main(["search", str(cfg), *OBJECTIVE]) == 0
    out = capsys.readouterr()
    assert "study 'cli-search': 4/4 finished" in out.out and "top1.yaml" in out.out
    assert "[search] 4/4 finished" in out.err and "optuna-dashboard" in out.err
    assert main(["trials", str(cfg), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["number"] for r in rows] == [0, 1, 2, 3]
    for r in rows:
        assert r["state"] in ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")
        assert {"number", "state", "value", "params", "fraction"} <= set(r)
        assert r["fraction"] in (0.01, 0.05)
    top = load_config(tmp_path / "run" / "top" / "top1.yaml")  # what `hpscout train` loads
    assert top.name == "cli-search"


def test_search_resumes_with_more_trials_and_set(tmp_path, capsys):
    cfg = write_config(tmp_path)
    assert main(["search", str(cfg), *OBJECTIVE, "--quiet", "--trials", "2"]) == 0
    assert main(["search", str(cfg), *OBJECTIVE, "--quiet", "--set", "search.trials=5", "--json"]) == 0
    out = capsys.readouterr().out
    summary = json.loads(out[out.index("{") :])
    assert summary["n_finished"] == 5 and summary["n_new"] == 3 and summary["budget"] == 5


def test_worker_joins_the_study(tmp_path, capsys):
    cfg = write_config(tmp_path)
    storage = str(tmp_path / "shared.log")
    assert main(["worker", str(cfg), "--storage", storage, "--trials", "3", *OBJECTIVE, "--quiet"]) == 0
    assert "ran 3 trials" in capsys.readouterr().out
    assert main(["worker", str(cfg), "--storage", storage, "--trials", "3", *OBJECTIVE, "--quiet"]) == 0
    assert "ran 0 trials" in capsys.readouterr().out
    assert main(["trials", str(cfg), "--storage", storage]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split()[:3] == ["#", "state", "value"] and len(table.splitlines()) == 4


def test_bad_space_exits_2_naming_the_key(tmp_path, capsys):
    cfg = write_config(tmp_path, space={"train.learnin_rate": {"type": "float", "low": 1e-5, "high": 1e-3}})
    assert main(["search", str(cfg), *OBJECTIVE]) == 2
    err = capsys.readouterr().err
    assert "search.space.train.learnin_rate" in err and "did you mean 'train.learning_rate'" in err
    assert "Traceback" not in err
    assert not (tmp_path / "run" / "study.log").exists()


def test_bad_flags_exit_2(tmp_path, capsys):
    cfg = write_config(tmp_path)
    assert main(["search", str(cfg), "--trials", "0"]) == 2
    assert main(["search", str(cfg), "--objective", "nonexistent_module:f"]) == 2
    assert "cannot import objective" in capsys.readouterr().err


def test_trials_without_a_study(tmp_path, capsys):
    cfg = write_config(tmp_path)
    assert main(["trials", str(cfg), "--json"]) == 2
    assert "no study yet" in capsys.readouterr().err


@pytest.mark.slow
def test_sqlite_with_several_workers_warns(tmp_path, capsys):
    cfg = write_config(tmp_path, trials=2)
    storage = str(tmp_path / "study.db")
    assert main(["search", str(cfg), "--storage", storage, "--workers", "2", "--objective", "_objectives:noop", "--quiet"]) == 0
    assert "SQLite storage with 2 workers" in capsys.readouterr().err
