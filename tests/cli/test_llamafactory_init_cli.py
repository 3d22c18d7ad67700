"""``hpscout init --from-llamafactory``: the acceptance commands, the config it writes, and bad input (exit 2)."""

from __future__ import annotations

import sys

from _llamafactory import EXAMPLE, write_project
from hpscout.cli import main
from hpscout.config import load_config
from hpscout.plan import recommend
from hpscout.runner._llamafactory import llamafactory_version


def test_example_init_then_validate(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(EXAMPLE.parents[1])  # the example's dataset_dir is relative to the repository root, as for LLaMA-Factory
    out = tmp_path / "s.yaml"
    assert main(["init", "--from-llamafactory", "examples/llamafactory_sft.yaml", "--out", str(out)]) == 0
    assert main(["validate", str(out)]) == 0
    assert "valid (task llamafactory" in capsys.readouterr().out

    cfg = load_config(out)
    t = cfg.train
    assert cfg.model.name_or_path == "Qwen/Qwen2.5-0.5B-Instruct"
    assert (t.learning_rate, t.lr_scheduler, t.warmup_ratio, t.epochs) == (1e-4, "cosine", 0.1, 3.0)
    assert (t.batch_size, t.grad_accum, t.eval_batch_size, t.precision) == (1, 8, 1, "bf16")
    assert (t.lora.r, t.lora.alpha, t.lora.target, cfg.data.max_length) == (8, 16, "all-linear", 1024)
    assert (t.eval_strategy, t.eval_steps, cfg.data.eval_split) == ("steps", 500, 0.1)
    assert cfg.data.train.endswith("alpaca_en_demo.json")
    lf = cfg.llamafactory
    assert lf.base == str(EXAMPLE) and lf.dataset_info == {"alpaca_en_demo": {"file_name": "../../src/hpscout/templates/data/alpaca/alpaca_en_demo.json"}}
    assert lf.args["template"] == "qwen" and lf.args["max_samples"] == 1000 and "learning_rate" not in lf.args
    # the search space is recommend's for a 0.5B model with LoRA on 999 rows
    rec = recommend("causal-lm", 999, 500_000_000, "lora")
    assert {k: v.model_dump(exclude_none=True, exclude_defaults=True) for k, v in cfg.search.space.items()} == rec.search["space"]
    assert cfg.scout.fidelities == rec.scout["fidelities"] and cfg.search.trials == rec.search["trials"]
    assert "# mapped (LLaMA-Factory key -> hpscout key): bf16 -> train.precision" in out.read_text()


def test_unknown_key_exits_2_naming_it(tmp_path, capsys):
    src = write_project(tmp_path, extra={"lora_rnak": 16})
    assert main(["init", "--from-llamafactory", str(src), "--out", str(tmp_path / "s.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert "'lora_rnak'" in err and "did you mean 'lora_rank'" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "s.yaml").exists()


def test_dataset_not_in_dataset_info_exits_2(tmp_path, capsys):
    src = write_project(tmp_path, extra={"dataset": "alpaca_gpt4_en"})
    assert main(["init", "--from-llamafactory", str(src), "--out", str(tmp_path / "s.yaml")]) == 2
    err = capsys.readouterr().err
    assert "dataset 'alpaca_gpt4_en' is not in" in err and "dataset_info.json" in err


def test_missing_llamafactory_says_how_to_install(tmp_path, capsys):
    src = write_project(tmp_path)
    out = tmp_path / "s.yaml"
    assert main(["init", "--from-llamafactory", str(src), "--out", str(out)]) == 0
    assert main(["train", str(out), "--set", f"llamafactory.python={tmp_path / 'no-venv' / 'python'}"]) == 2
    err = capsys.readouterr().err
    assert "is not an interpreter" in err and "make setup-llamafactory" in err
    llamafactory_version.cache_clear()  # this interpreter has no llamafactory package
    assert main(["train", str(out), "--set", f"llamafactory.python={sys.executable}"]) == 2
    err = capsys.readouterr().err
    assert f"LLaMA-Factory is not installed in {sys.executable}" in err and "make setup-llamafactory" in err
