"""`hpscout ablate` and `hpscout transfer` through the CLI, with a cheap deterministic objective."""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path

import optuna
import pytest
import yaml

from hpscout.cli import main
from hpscout.runner import TrialResult, TrialStatus

optuna.logging.set_verbosity(optuna.logging.WARNING)

CELL = "test_analysis_cli:fake_cell"


def _loss(lr: float, seed: int, fraction: float) -> float:
    noise = (zlib.crc32(f"{lr!r}|{seed}|{fraction!r}".encode()) % 1000 - 500) / 50_000  # +-0.01
    return (math.log10(lr) - math.log10(3e-4)) ** 2 + noise


def fake_cell(config, out_dir: Path, fraction: float) -> TrialResult:
    """Only the learning rate matters; optimum 3e-4."""
    v = _loss(config.train.learning_rate, config.seed, fraction)
    return TrialResult(status=TrialStatus.COMPLETE, objective=v, metrics={"eval_loss": v}, seed=config.seed,
                       fraction=fraction, elapsed_seconds=1.0, samples_processed=200, train_samples=100)


@pytest.fixture
def cfg_path(tmp_path: Path) -> Path:
    data = {
        "name": "cli-demo",
        "data": {"train": str(tmp_path / "train.csv")},
        "output_dir": str(tmp_path / "run"),
        "scout": {"fraction": 0.05, "fidelities": [0.05], "min_steps": 0},  # no data file: no step floor
        "search": {"space": {"train.learning_rate": {"type": "float", "low": 1e-5, "high": 1e-2, "log": True}}},
        "ablation": {"factors": {"train.learning_rate": ["x0.2", "x2"]}, "seeds": 2},
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(data))
    from hpscout.config import load_config
    from hpscout.search import open_study

    cfg = load_config(path)
    study = open_study(cfg)
    dist = optuna.distributions.FloatDistribution(1e-5, 1e-2, log=True)
    for lr in (3e-4, 1e-4, 1e-3, 3e-5):
        study.add_trial(optuna.trial.create_trial(
            params={"train.learning_rate": lr}, distributions={"train.learning_rate": dist},
            value=_loss(lr, 0, 0.05),
            user_attrs={"fraction": 0.05, "elapsed_seconds": 5.0, "samples_processed": 500, "train_samples": 100},
        ))
    return path


def test_ablate_prints_verdicts_and_writes_analysis(cfg_path: Path, capsys) -> None:
    assert main(["ablate", str(cfg_path), "--run-cell", CELL, "-q"]) == 0
    out = capsys.readouterr().out
    assert "train.learning_rate: hurts" in out  # the best trial is the optimum: both levels are worse
    assert "Welch's t-test" in out and "Holm" in out and "cost: scouting" in out
    analysis = json.loads((cfg_path.parent / "run" / "analysis.json").read_text())
    assert {"ablation", "importance", "cost", "lr_scaling"} <= set(analysis)
    abl = analysis["ablation"]
    assert abl["baseline"]["trial"] == 0 and abl["test"] == "welch" and abl["seeds"] == 2
    levels = abl["factors"]["train.learning_rate"]["levels"]
    assert [lv["level"] for lv in levels] == ["x0.2", "x1", "x2"]
    assert all(k in levels[0] for k in ("mean", "ci_low", "ci_high", "delta", "p_value", "n"))
    assert analysis["cost"]["by_study"]["ablation"]["trials"] == 6
    assert analysis["lr_scaling"]["status"] == "refused"  # one rung only

    # rerun: everything is reused
    assert main(["ablate", str(cfg_path), "--run-cell", CELL, "-q", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ablation"]["runs"]["ran"] == 0 and data["ablation"]["runs"]["reused"] == 6


def test_ablate_options(cfg_path: Path, capsys) -> None:
    assert main(["ablate", str(cfg_path), "--run-cell", CELL, "-q", "--baseline", "trial:2", "--seeds", "3",
                 "--set", "ablation.alpha=0.01", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)["ablation"]
    assert data["baseline"]["trial"] == 2 and data["seeds"] == 3 and data["alpha"] == 0.01
    assert data["factors"]["train.learning_rate"]["verdict"] == "matters"  # x0.2 of 1e-3 is nearer 3e-4


def test_ablate_errors(cfg_path: Path, capsys) -> None:
    assert main(["ablate", str(cfg_path), "--run-cell", CELL, "--baseline", "trial:99"]) == 2
    assert "no trial 99" in capsys.readouterr().err
    assert main(["ablate", str(cfg_path), "--run-cell", CELL, "--baseline", "nope.yaml"]) == 2
    assert "best', 'trial:N' or an existing YAML" in capsys.readouterr().err
    assert main(["ablate", str(cfg_path), "--seeds", "0"]) == 2
    assert "--seeds must be an integer from 1 to 100, but got 0" in capsys.readouterr().err
    assert main(["ablate", str(cfg_path), "--run-cell", "nomodule"]) == 2
    assert "--run-cell must look like" in capsys.readouterr().err


def test_transfer(cfg_path: Path, capsys) -> None:
    assert main(["transfer", str(cfg_path), "--k", "3", "--fraction", "0.2", "--no-climb", "--run-cell", CELL, "-q"]) == 0
    out = capsys.readouterr().out
    assert "fraction 0.05 -> 0.2" in out and "verdict: held" in out and "spearman 1.000" in out
    analysis = json.loads((cfg_path.parent / "run" / "analysis.json").read_text())
    t = analysis["transfer"]
    assert t["verdict"] == "held" and t["top1_agree"] is True and len(t["configs"]) == 3
    assert all(k in t for k in ("spearman", "kendall", "topk_overlap", "noise"))
    assert analysis["cost"]["by_study"]["transfer"]["trials"] == 3

    assert main(["transfer", str(cfg_path), "--k", "3", "--fraction", "0.2", "--no-climb", "--run-cell", CELL, "-q",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["transfer"]["runs"]["ran"] == 0


def test_transfer_climbs_by_default(cfg_path: Path, capsys) -> None:
    assert main(["transfer", str(cfg_path), "--k", "3", "--run-cell", CELL, "-q"]) == 0
    out = capsys.readouterr().out
    t = json.loads((cfg_path.parent / "run" / "analysis.json").read_text())["transfer"]
    assert t["climb"] is True and t["rungs"][0]["fraction"] == 0.1  # 2 x scout.fraction
    assert "rung 0.1" in out and "pick: trial" in out
    assert ("trusted" in out) and t["final_fraction"] == t["rungs"][-1]["fraction"]


def test_transfer_errors(cfg_path: Path, capsys) -> None:
    assert main(["transfer", str(cfg_path), "--fraction", "0.01", "--run-cell", CELL]) == 2
    assert "larger than scout.fraction" in capsys.readouterr().err
    assert main(["transfer", str(cfg_path), "--k", "1"]) == 2
    assert "--k must be an integer >= 2, but got 1" in capsys.readouterr().err


def test_commands_are_listed(capsys) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "ablate" in out and "transfer" in out
