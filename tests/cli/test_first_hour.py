"""A new user's first hour (issue 17), through the CLI: one-line errors with exit 2, no tracebacks,
--set errors that name the --set argument, self-describing JSON, help pages that keep their examples."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hpscout.cli import app, main
from hpscout.config import builtin_path, config_from_dict, config_to_dict, dump_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "search"))  # the _objectives module

REPO = Path(__file__).resolve().parents[2]
SECRET = "pl4nted-S3cret"


def write_config(tmp_path: Path, **extra) -> Path:
    cfg = {
        "name": "first-hour",
        "output_dir": str(tmp_path / "run"),
        "data": {"train": "builtin:sst2/train.tsv", "eval": "builtin:sst2/dev.tsv", "text_column": "sentence"},
        # no step floor: these tests are about errors and output, with stand-in objectives or small files
        "scout": {"fraction": 0.05, "fidelities": [0.01, 0.05], "min_steps": 0},
        "train": {"learning_rate": 1e-3},
        "search": {
            "trials": 3,
            "sampler": "random",
            "space": {"train.learning_rate": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True}},
        },
        **extra,
    }
    path = tmp_path / "my.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _hpscout(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hpscout", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


# ---------------------------------------------------------------- 1. unwritable output folder


def test_run_into_proc_exits_2_naming_the_path_without_traceback(tmp_path):
    config = write_config(tmp_path)
    proc = _hpscout("run", str(config), "--set", "output_dir=/proc/x", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "/proc/x" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists() and not Path("/proc/x").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["validate", "{config}"],
        ["search", "{config}", "--objective", "_objectives:quadratic"],
        ["run", "{config}", "--only", "subsets"],
        ["train", "{config}"],
    ],
)
def test_every_command_refuses_an_unwritable_output_dir(tmp_path, capsys, argv):
    config = write_config(tmp_path)
    args = [a.format(config=config) for a in argv] + ["--set", "output_dir=/proc/x/run"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "/proc/x/run cannot be created" in err and err.count("\n") == 1


def test_a_refused_write_deep_in_a_command_is_one_line_with_exit_2(tmp_path, capsys, monkeypatch):
    # a folder the check saw as writable, refused later (a full or read-only disk, a race): still no traceback
    config = write_config(tmp_path)
    import hpscout.store._layout as layout

    monkeypatch.setattr(layout, "check_writable", lambda *a, **k: None)
    monkeypatch.setattr("hpscout.store.check_writable", lambda *a, **k: None)
    assert main(["run", str(config), "--only", "subsets", "--set", "output_dir=/proc/x/run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "/proc/x" in err and "Traceback" not in err


def test_validate_checks_that_storage_can_be_reached_and_masks_the_password(tmp_path, capsys):
    config = write_config(tmp_path)
    url = f"postgresql://scout:{SECRET}@127.0.0.1:1/hpscout"  # nothing listens on port 1
    assert main(["validate", str(config), "--set", f"storage={url}"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach storage postgresql://scout:***@127.0.0.1:1/hpscout" in err
    assert SECRET not in err


def test_validate_passes_with_a_writable_output_dir_and_leaves_it_as_it_was(tmp_path, capsys):
    config = write_config(tmp_path)
    assert main(["validate", str(config)]) == 0
    assert not (tmp_path / "run").exists()  # checked, not created
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "keep.txt").write_text("x")
    assert main(["validate", str(config)]) == 0
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["keep.txt"]


# ---------------------------------------------------------------- 4. --set errors


def test_set_errors_name_the_set_argument_not_a_file_line(tmp_path, capsys):
    config = write_config(tmp_path)
    assert main(["validate", str(config), "--set", "train.learning_rate=abc"]) == 2
    err = capsys.readouterr().err
    assert "in --set train.learning_rate=abc, key train.learning_rate" in err and "line" not in err
    assert main(["validate", str(config), "--set", "train.learning_rate=-1e-3"]) == 2
    assert "--set train.learning_rate=-1e-3" in capsys.readouterr().err
    # a bad value written in the file still names the file and its line
    text = config.read_text().replace("learning_rate: 0.001", "learning_rate: abc")
    config.write_text(text)
    assert main(["validate", str(config)]) == 2
    assert re.search(r"in .*my\.yaml, line \d+, key train\.learning_rate", capsys.readouterr().err)


# ---------------------------------------------------------------- 3. label problems (search and run)


def test_one_class_data_stops_search_and_run_with_exit_2(tmp_path, capsys):
    (tmp_path / "one.csv").write_text("sentence,label\n" + "".join(f"a film {i},1\n" for i in range(60)))
    config = write_config(tmp_path)
    for argv in (["search", str(config)], ["run", str(config)]):
        assert main([*argv, "--set", f"data.train={tmp_path / 'one.csv'}", "--set", "data.eval=null"]) == 2
        assert "needs at least 2 classes" in capsys.readouterr().err


def test_small_classes_are_warned_about_in_the_run_output_and_report(tmp_path, capsys):
    # class 2 has a single row, which the stratified eval hold-out (10%, one row per class) used to take
    rows = [f"good film {i},1" for i in range(300)] + [f"bad film {i},0" for i in range(296)] + ["odd film,2"]
    rows += [f"rare film {i},3" for i in range(3)]
    (tmp_path / "four.csv").write_text("sentence,label\n" + "\n".join(rows) + "\n")
    config = write_config(tmp_path)
    argv = ["run", str(config), "--only", "subsets", "--set", f"data.train={tmp_path / 'four.csv'}", "--set", "data.eval=null"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "warning: class '2' of label has 1 training rows" in err
    assert "warning: class '3' of label has 2 training rows" in err  # one of its 3 rows is held out for eval
    report = json.loads((tmp_path / "run" / "subsets" / "report.json").read_text())
    assert any("class '2'" in w and "0.01" in w for w in report["warnings"])
    # every class keeps a row on the training side of the eval split: every subset, 100% included, has it
    manifest = json.loads((tmp_path / "run" / "subsets" / "subsets.json").read_text())
    assert all(s["strata"].get("2", 0) == 1 and s["strata"].get("3", 0) >= 1 for s in manifest["subsets"])


# ---------------------------------------------------------------- 8. schedule --json


def test_schedule_json_describes_itself(capsys):
    argv = ["schedule", "--type", "polynomial", "--power", "2", "--lr", "5e-5", "--total-steps", "100", "--warmup-ratio", "0.1", "--at", "0,50", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["schedule"] == "polynomial" and out["params"] == {"power": 2.0, "lr_end": 1e-07}
    assert out["peak_lr"] == 5e-05 and out["total_steps"] == 100 and out["warmup_steps"] == 10
    assert out["warmup_ratio"] == 0.1 and out["steps"] == [0, 50] and len(out["lr"]) == 2
    assert main(["schedule", "--compare", "linear,cosine", "--lr", "5e-5", "--total-steps", "100", "--at", "50", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [s["schedule"] for s in out["schedules"]] == ["linear", "cosine"]
    assert out["schedules"][1]["params"] == {"num_cycles": 0.5} and set(out["lr"]) == {s["label"] for s in out["schedules"]}


# ---------------------------------------------------------------- 9. passwords (no server needed)


def test_configs_written_and_printed_mask_the_password(tmp_path):
    cfg = config_from_dict({"name": "s", "data": {"train": "a.csv"}, "storage": f"postgresql://scout:{SECRET}@db/hp"})
    assert cfg.storage.endswith(f"{SECRET}@db/hp")  # kept in memory, to connect
    assert config_to_dict(cfg)["storage"] == "postgresql://scout:***@db/hp"
    assert SECRET not in dump_config(cfg)


def test_storage_from_an_environment_variable(tmp_path, capsys, monkeypatch):
    config = write_config(tmp_path, storage="env:HPSCOUT_TEST_STORAGE")
    assert main(["search", str(config), "--objective", "_objectives:quadratic", "--quiet"]) == 2
    assert "environment variable HPSCOUT_TEST_STORAGE is not set" in capsys.readouterr().err
    study = tmp_path / "elsewhere" / "study.log"
    monkeypatch.setenv("HPSCOUT_TEST_STORAGE", str(study))
    assert main(["search", str(config), "--objective", "_objectives:quadratic", "--quiet"]) == 0
    assert study.exists() and not (tmp_path / "run" / "study.log").exists()
    assert "storage: env:HPSCOUT_TEST_STORAGE" in (tmp_path / "run" / "config.yaml").read_text()
    capsys.readouterr()
    # --storage env:NAME keeps the URL out of the command line (and so out of ps)
    monkeypatch.setenv("OTHER_STORAGE", str(study))
    assert main(["trials", str(config), "--set", "storage=null", "--storage", "env:OTHER_STORAGE", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3


# ---------------------------------------------------------------- 6. search progress


def test_search_progress_is_one_plain_line_per_event_off_a_terminal(tmp_path, capsys):
    config = write_config(tmp_path)
    assert main(["search", str(config), "--objective", "_objectives:quadratic"]) == 0
    err = capsys.readouterr().err.splitlines()
    status = [line for line in err if line.startswith("[search] ")]
    assert [line.split(" finished")[0] for line in status] == ["[search] 0/3", "[search] 1/3", "[search] 2/3", "[search] 3/3"]
    assert all("complete" in s and "pruned" in s and "failed" in s and "ETA" in s for s in status)
    assert "best eval_loss" in status[-1]
    assert not any("\r" in line or "\x1b[" in line for line in err)


def test_search_progress_bar_on_a_terminal(tmp_path, capsys):
    import io

    from hpscout.search import Progress, open_study

    config = write_config(tmp_path)
    assert main(["search", str(config), "--objective", "_objectives:quadratic", "--quiet"]) == 0
    from hpscout.config import load_config

    trials = open_study(load_config(config)).get_trials(deepcopy=False)
    stream = io.StringIO()
    bar = Progress(budget=3, metric="eval_loss", direction="minimize", stream=stream, live=True)
    bar.update(trials[:1], counted=1)
    bar.update(trials, counted=3)
    bar.close()
    text = " ".join(stream.getvalue().split())  # the bar wraps its status on a narrow (80-column) console
    assert "[search] 3/3 finished" in text and "pruned" in text and "best eval_loss" in text and "ETA" in text
    assert "PRUNED" in text  # trials that finished since the first update print above the bar


# ---------------------------------------------------------------- Also: help pages


def _help(*argv: str) -> str:
    from typer.testing import CliRunner

    res = CliRunner().invoke(app, [*argv, "--help"], terminal_width=100)
    assert res.exit_code == 0, res.output
    return res.output


def test_command_summaries_are_whole_phrases():
    listing = _help()
    for line in listing.split("Commands:", 1)[1].splitlines():
        if line.strip():
            summary = line.split(None, 1)[1]
            assert summary.count("(") == summary.count(")") or summary.endswith("..."), line
    assert "Join a running study (e.g." not in listing


def test_example_blocks_stay_verbatim_in_every_help_page():
    checked = 0
    for info in app.registered_commands:
        doc = info.callback.__doc__ or ""
        examples = [line.strip() for line in doc.splitlines() if line.strip().startswith("hpscout ")]
        if not examples:
            continue
        page = [line.strip() for line in _help(info.name).splitlines()]
        for example in examples:
            assert example in page, f"{info.name}: {example!r} was re-wrapped"
        checked += 1
    assert checked >= 10


def test_readme_example_paths_exist():
    # every file a README tour command names that is not written by an earlier command
    assert (REPO / "examples" / "llamafactory_sft.yaml").is_file()
    assert builtin_path("builtin:sst2/train.tsv").is_file()
