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


# --------------------------------------------------------------------------- loss-curve diagnosis in `hpscout trials`

RECORDED = ["--objective", "_curve_objectives:recorded"]  # replays real MiniLM + LoRA runs (tests/cli/_curve_objectives.py)
sys.path.insert(0, str(Path(__file__).resolve().parent))


def test_trials_shows_each_curve_and_says_when_the_top_trials_are_too_slow(tmp_path, capsys):
    # every LR in 1e-5..3e-4 replays a recorded run that barely learned (3e-5 or 3e-4)
    cfg = write_config(tmp_path, trials=4, space={"train.learning_rate": {"type": "float", "low": 1e-5, "high": 3e-4, "log": True}})
    assert main(["search", str(cfg), *RECORDED, "--quiet"]) == 0
    capsys.readouterr()
    assert main(["trials", str(cfg)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["#", "state"]
    curve_lines = [line for line in lines if line.strip().startswith("curve:")]
    assert len(curve_lines) == 4
    assert all(line.strip() == "curve: too slow to learn; raise the learning rate 3-10x, or train longer" for line in curve_lines)
    # each curve line sits under its trial's line
    trial_at = [i for i, line in enumerate(lines) if line.split()[:1] and line.split()[0].isdigit()]
    assert [i - 1 for i, line in enumerate(lines) if line.strip().startswith("curve:")] == trial_at
    assert lines[-1] == (
        "Most of the top trials (3 of 3) learn too slowly: widen the learning-rate range upward, e.g. high 3e-4 -> 3e-3."
    )
    assert main(["trials", str(cfg), "--json"]) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert {r["curve"]["label"] for r in rows} == {"too slow to learn"} and "widen the learning-rate range" in captured.err


def test_trials_curves_over_a_wide_range(tmp_path, capsys):
    lrs = [3e-5, 2.5e-3, 1e-2, 10.0]
    cfg = write_config(tmp_path, trials=4, sampler="grid", space={"train.learning_rate": {"type": "categorical", "choices": lrs}})
    assert main(["search", str(cfg), *RECORDED, "--quiet"]) == 0
    capsys.readouterr()
    assert main(["trials", str(cfg), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    labels = {r["params"]["train.learning_rate"]: r["curve"]["label"] for r in rows}
    assert labels == {3e-5: "too slow to learn", 2.5e-3: "healthy", 1e-2: "oscillating", 10.0: "diverged"}
    assert main(["trials", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "curve: healthy\n" in out and "curve: diverged; lower the learning rate" in out and "widen" not in out
