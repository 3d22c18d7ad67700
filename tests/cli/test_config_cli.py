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
