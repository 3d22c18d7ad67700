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


# ---------------------------------------------------------------- issue 17: a new user's first hour


@pytest.fixture
def no_model_load(monkeypatch):
    """Fail the test if a model starts to load: data problems must stop the command before."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the data was checked")

    import hpscout.runner._hf as hf

    monkeypatch.setattr(hf, "load_model", refuse)
    monkeypatch.setattr(hf, "load_tokenizer", refuse)


def _header_only(p: Path) -> None:
    p.write_text("text,label\n")


def _latin1(p: Path) -> None:
    write_classification_csv(p, 48, seed=1)
    with open(p, "ab") as fh:
        fh.write(b"caf\xe9 was good,1\n")  # line 50 (after the header and 48 rows); byte 4 is not UTF-8


def _one_class(p: Path) -> None:
    p.write_text("text,label\n" + "".join(f"a good film {i},1\n" for i in range(40)))


@pytest.mark.parametrize(
    ("make", "args", "needle"),
    [
        (None, ["--set", "data.label_column=nosuch"], "column 'nosuch' (data.label_column) is not in"),
        (None, ["--set", "data.train=missing.csv"], "data file missing.csv does not exist"),
        (_header_only, [], "has no rows"),
        (_latin1, [], "not UTF-8 text: byte 0xe9 at line 50, byte 4 of that line"),
        (_one_class, [], "sequence classification needs at least 2 classes"),
    ],
)
def test_data_problems_exit_2_before_the_model_loads(tmp_path, capsys, no_model_load, make, args, needle):
    cfg = _write_config(tmp_path)
    if make is not None:
        make(tmp_path / "train.csv")
    assert main(["train", str(cfg), *args, "--out", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.startswith("error: ") and "Traceback" not in err
    assert not (tmp_path / "t").exists()


def test_non_utf8_position_is_in_the_file_not_in_a_decoded_chunk(tmp_path, capsys, no_model_load):
    cfg = _write_config(tmp_path)
    rows = "".join(f"a film that was quite good number {i},1\n" for i in range(30000))  # ~1.2 MB
    (tmp_path / "train.csv").write_bytes(b"text,label\n" + rows.encode() + b"na\xefve,0\n")
    assert main(["train", str(cfg), "--out", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err
    offset = len(b"text,label\n") + len(rows.encode()) + 2
    assert f"byte 0xef at line 30002, byte 3 of that line (byte offset {offset} in the file)" in err


def test_train_refuses_an_out_folder_with_a_result_unless_forced(tmp_path, capsys):
    cfg = _write_config(tmp_path)
    out = tmp_path / "t"
    assert main(["train", str(cfg), "--out", str(out)]) == 0
    before = (out / "result.json").read_text()
    capsys.readouterr()
    assert main(["train", str(cfg), "--out", str(out), "--set", "train.learning_rate=0.002"]) == 2
    err = capsys.readouterr().err
    assert f"{out} already holds a result.json" in err and "--force" in err
    assert (out / "result.json").read_text() == before  # left as it was
    assert main(["train", str(cfg), "--out", str(out), "--set", "train.learning_rate=0.002", "--force"]) == 0
    assert json.loads((out / "result.json").read_text())["config"]["train"]["learning_rate"] == 0.002


def test_train_unwritable_out_exits_2_naming_it(tmp_path, capsys):
    cfg = _write_config(tmp_path)
    assert main(["train", str(cfg), "--out", "/proc/x/trial"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --out /proc/x/trial cannot be created") and "Traceback" not in err


def test_ctrl_c_in_train_says_what_happened(tmp_path, capsys):
    cfg = {
        "name": "cli-interrupt",
        "seed": 3,
        "task": "torch",
        "torch": {"factory": "_fixtures:interrupted_digits_factory"},
        "data": {"train": "unused"},
        "scout": {"fraction": 0.5},
        "train": {"learning_rate": 1e-2, "batch_size": 32, "epochs": 1, "method": "full"},
        "search": {"metric": "eval_accuracy", "direction": "maximize"},
        "output_dir": str(tmp_path / "run"),
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "t"
    assert main(["train", str(path), "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert "interrupted (Ctrl-C): the trial stopped before it finished and wrote no result.json" in err
    assert "re-queued" not in err and not (out / "result.json").exists()


def test_train_shows_steps_loss_and_eta_one_line_per_event(tmp_path, capsys):
    cfg = _write_config(tmp_path, max_steps=4, logging_steps=2, eval_strategy="steps", eval_steps=2)
    assert main(["train", str(cfg), "--out", str(tmp_path / "t")]) == 0
    err = capsys.readouterr().err.splitlines()
    steps = [line for line in err if line.startswith("[train] step") and "loss" in line]
    assert [line.split(" | ")[0] for line in steps] == ["[train] step 2/4", "[train] step 4/4"]
    assert all("ETA" in line for line in steps)
    assert any(line.startswith("[train] step 2 | eval_accuracy ") for line in err)
    assert not any("\r" in line or "\x1b[" in line for line in err)  # no terminal codes in a pipe
    assert main(["train", str(cfg), "--out", str(tmp_path / "q"), "--quiet"]) == 0
    assert "[train]" not in capsys.readouterr().err


def test_train_progress_bar_on_a_terminal(tmp_path):
    import io

    from hpscout.runner import TrainProgress

    stream = io.StringIO()
    with TrainProgress(metric="eval_accuracy", stream=stream, live=True) as progress:
        for step in range(1, 5):
            progress.on_step(step, 4, 0.5 if step % 2 == 0 else None)
        progress.report(0.75, 4)
    text = stream.getvalue()
    assert "[train] step 4/4" in text and "loss 0.5" in text and "eval_accuracy 0.75" in text
