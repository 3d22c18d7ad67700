"""Export back to the user's LLaMA-Factory file: only scouted and full-data values change, every other line stays."""

from __future__ import annotations

import yaml

from _llamafactory import install_fake_llamafactory, write_project
from hpscout.config import apply_updates, save_config
from hpscout.export import export_run
from hpscout.export._llamafactory_roundtrip import patch_yaml_text
from hpscout.llamafactory import scout_config_from_llamafactory
from hpscout.workflow import run_workflow

USER_FILE = """\
### model
model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct  # the base model

### method
stage: sft
finetuning_type: lora
lora_rank: 8
lora_target: all

### dataset
dataset: demo
dataset_dir: {data}
template: qwen
cutoff_len: 64

### train
per_device_train_batch_size: 8
gradient_accumulation_steps: 1
learning_rate: 1.0e-4  # peak LR
num_train_epochs: 1.0
lr_scheduler_type: cosine
lr_scheduler_kwargs:
  num_cycles: 0.5
warmup_ratio: 0.1
report_to: none
"""


def test_patch_keeps_comments_replaces_blocks_and_appends():
    text = "a: 1  # one\nb:\n  x: 1\n  y: 2\nc: 'x # not a comment'\n\n# tail\n"
    out = patch_yaml_text(text, {"a": 2, "b": {"z": 3}, "c": "y", "d": [1, 2]}, appended_title="new")
    assert out == "a: 2  # one\nb: {z: 3}\nc: y\n\n# tail\n\n### new\nd: [1, 2]\n"
    assert yaml.safe_load(out) == {"a": 2, "b": {"z": 3}, "c": "y", "d": [1, 2]}
    assert patch_yaml_text(text, {}, appended_title="new") == text


def test_export_returns_the_users_file_with_the_scouted_values(tmp_path, monkeypatch):
    python = install_fake_llamafactory(tmp_path, monkeypatch)
    src = write_project(tmp_path, text=USER_FILE.format(data=tmp_path / "data"))
    cfg = scout_config_from_llamafactory(src, python=python).config
    cfg = apply_updates(cfg, {
        "output_dir": str(tmp_path / "run"),
        "search.trials": 2,
        "search.space": {"train.learning_rate": {"type": "categorical", "choices": [3e-4]},
                         "train.lora.r": {"type": "categorical", "choices": [16]}},
        "scout.fraction": 0.5,
        "scout.fidelities": [0.25, 0.5],
        "scout.min_steps": 0,  # a stand-in LLaMA-Factory on 180 rows: no step floor
        "train.epochs": 2.0,  # a scouting-only override: not written back
    })
    save_config(cfg, tmp_path / "scout.yaml")
    run_workflow(cfg, until="top")
    path = export_run(tmp_path / "run", "llamafactory", out=tmp_path / "exported.yaml", lr_correction="off")

    text = path.read_text()
    header = [ln[2:] for ln in text[: text.index("\n#\n")].splitlines()]
    assert "changed: learning_rate: 0.0001 -> 0.0003 (scouted)" in header
    assert "changed: lora_rank: 8 -> 16 (scouted)" in header
    assert any("num_train_epochs 2.0 (your file: 1.0)" in ln for ln in header)
    body = text[text.index("### model"):]
    expected = USER_FILE.format(data=tmp_path / "data").replace("lora_rank: 8", "lora_rank: 16")
    assert body == expected.replace("learning_rate: 1.0e-4  # peak LR", "learning_rate: 0.0003  # peak LR")

    # by default the LR is lowered for the full run's longer horizon, and the header says so
    text = export_run(tmp_path / "run", "llamafactory", out=tmp_path / "horizon.yaml").read_text()
    assert any(ln.startswith("# changed: learning_rate: 0.0001 -> ") and ln.endswith("(lr_correction horizon)")
               for ln in text.splitlines())
    assert 0.25 * 3e-4 <= yaml.safe_load(text)["learning_rate"] < 3e-4

    # on 2 devices the full-data plan keeps the scouted effective batch of 8: 4 per device
    text = export_run(tmp_path / "run", "llamafactory", devices=2, out=tmp_path / "two.yaml").read_text()
    assert "# changed: per_device_train_batch_size: 8 -> 4 (full-data plan)" in text
    assert yaml.safe_load(text)["per_device_train_batch_size"] == 4
