"""Finding a LLaMA-Factory dataset through dataset_info.json, and writing a trial's subset in its format."""

from __future__ import annotations

import json

import pytest

from _llamafactory import write_project
from hpscout._errors import ConfigError
from hpscout.data import load_table
from hpscout.llamafactory import TRIAL_EVAL, TRIAL_TRAIN, resolve_datasets, write_trial_datasets


def test_resolves_files_and_keeps_entries(tmp_path):
    write_project(tmp_path, formatting="sharegpt")
    info = json.loads((tmp_path / "data" / "dataset_info.json").read_text())
    info["held"] = {"file_name": "demo.json", "formatting": "sharegpt", "columns": {"messages": "conversations"}}
    (tmp_path / "data" / "dataset_info.json").write_text(json.dumps(info))
    ds = resolve_datasets({"dataset": "demo", "eval_dataset": "held", "dataset_dir": "data"}, tmp_path / "sft.yaml")
    assert ds.train == ds.eval == (tmp_path / "data" / "demo.json").resolve()
    assert ds.info == {"demo": info["demo"], "held": info["held"]}


def test_dataset_dir_is_found_beside_the_yaml_when_not_in_the_working_directory(tmp_path, monkeypatch):
    write_project(tmp_path)
    monkeypatch.chdir(tmp_path.parent)
    ds = resolve_datasets({"dataset": "demo", "dataset_dir": "data"}, tmp_path / "sft.yaml")
    assert ds.dataset_dir == (tmp_path / "data").resolve()


@pytest.mark.parametrize(
    ("args", "entry", "message"),
    [
        ({"dataset": "nope"}, None, r"dataset 'nope' is not in .*dataset_info.json .*it holds: demo"),
        ({"dataset": "demo,demo"}, None, r"dataset must name one dataset"),
        ({"dataset": "demo", "eval_dataset": "gone"}, None, r"eval_dataset 'gone' is not in"),
        ({"dataset": "demo"}, {"hf_hub_url": "tatsu-lab/alpaca"}, r"local files only, but this entry has hf_hub_url"),
        ({"dataset": "demo"}, {"file_name": "demo.json", "ranking": True}, r"ranking"),
        ({"dataset": "demo"}, {"file_name": "demo.json", "formatting": "openai"}, r"formatting must be one of alpaca, sharegpt"),
        ({"dataset": "demo"}, {"file_name": "missing.json"}, r"is not a file"),
        ({}, None, r"dataset is missing"),
    ],
)
def test_what_cannot_be_subset_is_refused(tmp_path, args, entry, message):
    write_project(tmp_path)
    if entry is not None:
        (tmp_path / "data" / "dataset_info.json").write_text(json.dumps({"demo": entry}))
    with pytest.raises(ConfigError, match=message):
        resolve_datasets({"dataset_dir": str(tmp_path / "data"), **args}, tmp_path / "sft.yaml")


def test_trial_subsets_keep_the_format_and_the_entry(tmp_path):
    write_project(tmp_path, rows=20, formatting="sharegpt")
    table = load_table(str(tmp_path / "data" / "demo.json"))
    entry = json.loads((tmp_path / "data" / "dataset_info.json").read_text())["demo"]
    out = write_trial_datasets(table.select(range(5)), table.select(range(15, 20)), {"train": entry, "eval": entry}, tmp_path / "t")
    original = json.loads((tmp_path / "data" / "demo.json").read_text())
    written = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert written == original[:5]  # nested sharegpt turns unchanged
    assert len((out / "eval.jsonl").read_text().splitlines()) == 5
    info = json.loads((out / "dataset_info.json").read_text())
    assert info[TRIAL_TRAIN] == {**entry, "file_name": "train.jsonl"}
    assert info[TRIAL_EVAL] == {**entry, "file_name": "eval.jsonl"}
