import os
import subprocess
import sys
from pathlib import Path

from hpscout.cli import main


def test_validate_ok(tmp_path, capsys):
    p = tmp_path / "c.yaml"
    p.write_text("name: t\ndata: {train: a.csv}\n")
    assert main(["validate", str(p), "--set", "train.learning_rate=3e-3"]) == 0
    out = capsys.readouterr()
    assert "valid" in out.out and "does not exist yet" in out.err


def test_validate_bad_set_exit_2(tmp_path, capsys):
    p = tmp_path / "c.yaml"
    p.write_text("name: t\ndata: {train: a.csv}\n")
    assert main(["validate", str(p), "--set", "train.lora.r=0"]) == 2
    assert "train.lora.r" in capsys.readouterr().err


def test_init_templates_validate(tmp_path, capsys):
    for t in ("sst2-minilm-lora", "alpaca-sft", "custom-script"):
        out = tmp_path / f"{t}.yaml"
        assert main(["init", "--template", t, "--out", str(out)]) == 0
        assert main(["validate", str(out)]) == 0
    assert main(["init", "--template", "sst2-minilm-lora", "--out", str(tmp_path / "sst2-minilm-lora.yaml")]) == 2
    assert main(["init", "--template", "nope", "--out", str(tmp_path / "x.yaml")]) == 2


def test_debug_env_shows_traceback(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: ../x\ndata: {train: a.csv}\n")
    env = dict(os.environ, HPSCOUT_DEBUG="1")
    r = subprocess.run([sys.executable, "-m", "hpscout", "validate", str(p)], capture_output=True, text=True, env=env)
    assert r.returncode != 0 and "Traceback" in r.stderr
    r = subprocess.run([sys.executable, "-m", "hpscout", "validate", str(p)], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_help_does_not_import_torch():
    code = (
        "import sys\n"
        "from hpscout.cli import main\n"
        "rc = main(['--help'])\n"
        "heavy = [m for m in ('torch', 'transformers', 'matplotlib', 'plotly', 'optuna') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parent)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]"


def _classification_config(tmp_path: Path, rows: int, **scout) -> Path:
    lines = ["text,label"] + [f"row {i} {'good' if i % 2 else 'bad'},{i % 2}" for i in range(rows)]
    (tmp_path / "train.csv").write_text("\n".join(lines) + "\n")
    p = tmp_path / "c.yaml"
    scout_yaml = ", ".join(f"{k}: {v}" for k, v in scout.items())
    p.write_text(
        "name: t\ndata: {train: train.csv, eval_split: 0.2}\n"
        f"scout: {{{scout_yaml}}}\n"
        "train: {batch_size: 4, epochs: 1}\n"
        f"output_dir: {tmp_path / 'run'}\n"
    )
    return p


def test_validate_prints_the_ladder_and_the_dropped_rungs(tmp_path, capsys):
    # 1,000 rows, 800 after the eval hold-out; batch 4 x 1 epoch: 0.1 -> 20 steps, 0.25 -> 50, 0.5 -> 100
    p = _classification_config(tmp_path, 1000, fraction=0.5, fidelities="[0.1, 0.25, 0.5]", min_steps=60)
    assert main(["validate", str(p)]) == 0
    out = capsys.readouterr().out
    assert "  rung 0.5: 400 rows, 100 optimizer steps" in out
    assert "  dropped 0.1: 80 rows, 20 optimizer steps (under 60)" in out
    assert "  dropped 0.25: 200 rows, 50 optimizer steps (under 60)" in out
    assert "preflight: " in out and "transfer: climbs 0.75 -> 1" not in out  # 2 x 0.5 = 1.0: one rung
    assert "transfer: climbs 1 until two rungs agree" in out
    # the floor off: every rung is kept
    assert main(["validate", str(p), "--set", "scout.min_steps=0"]) == 0
    out = capsys.readouterr().out
    assert "rung 0.1: 80 rows, 20 optimizer steps" in out and "dropped" not in out


def test_an_impossible_floor_exits_2_naming_rows_batch_and_epochs(tmp_path, capsys):
    p = _classification_config(tmp_path, 1000, fraction=0.5, min_steps=500)
    assert main(["validate", str(p)]) == 2
    err = capsys.readouterr().err
    assert "scout.min_steps = 500 cannot be met: even all 800 training rows give 200 optimizer steps" in err
    assert "effective batch 4" in err and "1 epochs" in err
    # `hpscout run` fails the same preflight before it writes anything
    assert main(["run", str(p)]) == 2
    assert "scout.min_steps = 500" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
