"""Every command of the README's "A short tour" runs as written.

The commands are read from README.md itself, so the README and this test cannot drift
apart. They run in a fresh folder that sees the repository's ``examples/``, as in a
fresh clone. The training commands run as written too, on a config that `hpscout init`
wrote and this test then shrinks (a tiny random-init model on 400 rows of SST-2), so
their fractions of the data are tiny.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runner"))
from _fixtures import TINY_BERT  # noqa: E402

from hpscout.cli import main  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TRAINING = {"train", "search", "transfer", "ablate", "report", "export", "trials", "run", "worker"}


def tour_commands() -> list[list[str]]:
    """The ``hpscout ...`` lines of the README's tour, comments stripped, as argv lists."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## A short tour", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    commands = []
    for line in block.splitlines():
        argv = shlex.split(line, comments=True)
        if argv and argv[0] == "hpscout":
            commands.append(argv[1:])
    return commands


@pytest.fixture
def clone(tmp_path, monkeypatch):
    """A working folder laid out like the repository root (its examples/ folder)."""
    (tmp_path / "examples").symlink_to(REPO / "examples", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(argv: list[str], capsys) -> str:
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc == 0, f"hpscout {shlex.join(argv)} exited {rc}:\n{out}\n{err}"
    assert "Traceback" not in err
    return out


def test_the_tour_is_the_one_documented():
    commands = tour_commands()
    names = [c[0] for c in commands]
    assert names[:2] == ["init", "validate"] and "export" in names and len(commands) >= 15
    # every file a tour command names exists in a fresh clone (or is written by an earlier command)
    assert (REPO / "examples" / "llamafactory_sft.yaml").exists()
    subset = next(c for c in commands if c[0] == "subset")
    assert subset[1].startswith("builtin:")


def test_tour_commands_without_training_run_as_written(clone, capsys):
    ran = []
    for argv in tour_commands():
        if argv[0] in TRAINING:
            continue
        _run(argv, capsys)
        ran.append(argv[0])
    assert ran == ["init", "validate", "schedule", "schedule", "plan", "lint", "recommend", "recommend", "subset"]
    assert (clone / "lr.png").stat().st_size > 0
    manifest = json.loads((clone / "subsets" / "subsets.json").read_text())
    assert [s["fraction"] for s in manifest["subsets"]] == [0.01, 0.02, 0.05, 0.1]


def _shrink(config: Path, data: Path) -> None:
    """The starter config on a small slice: a tiny random-init BERT, 400 train rows, 40 eval rows."""
    cfg = yaml.safe_load(config.read_text())
    cfg["model"] = {"name_or_path": "tiny-bert", "from_config": TINY_BERT}
    cfg["data"].update(train=str(data), max_eval_samples=40, max_length=32)
    cfg["train"].update(method="full", epochs=1, batch_size=16)
    cfg["train"].pop("lora", None)
    cfg["search"].update(trials=4, sampler="random")
    cfg["scout"]["min_steps"] = 0  # 400 rows give a tiny model 25 steps at most: the step floor is for real runs
    cfg["search"]["space"].pop("train.lora.r", None)
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_every_tour_command_runs_as_written(clone, capsys):
    from hpscout.config import builtin_path

    rows = builtin_path("builtin:sst2/train.tsv").read_text(encoding="utf-8").splitlines()[:401]
    data = clone / "sst2-400.tsv"
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    outputs = {}
    for argv in tour_commands():
        outputs[argv[0]] = _run(argv, capsys)
        if argv[0] == "init":
            _shrink(clone / "my.yaml", data)
    run = clone / "runs" / "sst2-minilm-lora"
    assert len(list((run / "trials").glob("train-*/result.json"))) == 1
    assert len(json.loads(outputs["trials"])) == 4
    analysis = json.loads((run / "analysis.json").read_text())
    assert analysis["transfer"]["configs"] and analysis["ablation"]["factors"]
    assert (run / "report" / "index.html").exists()
    exported = Path(outputs["export"].split("wrote ", 1)[1].strip())
    assert exported.exists() and yaml.safe_load(exported.read_text())["learning_rate"] > 0
