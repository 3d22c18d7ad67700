"""The real thing: ``hpscout run`` drives LLaMA-Factory 0.9.5 (its own venv) on the shipped SFT example, then exports it back.

Needs the venv ``make setup-llamafactory`` builds (CI builds it; elsewhere the test is skipped
when it is absent). The model is a 2-layer Llama built here with a tokenizer trained on the
bundled alpaca sample; the data is the bundled alpaca_en_demo.json through the example's
dataset_info.json.
"""

from __future__ import annotations

import json
import math
import os

import pytest
import yaml

from _llamafactory import EXAMPLE, REAL_PYTHON, REPO, build_tiny_model
from hpscout.cli import main
from hpscout.store import RunLayout

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def llamafactory_python() -> str:
    if not REAL_PYTHON.exists():
        reason = f"LLaMA-Factory venv {REAL_PYTHON} is absent; build it with `make setup-llamafactory`"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return str(REAL_PYTHON)


def test_scout_the_example_with_llamafactory_and_export_it_back(tmp_path, monkeypatch, llamafactory_python, capsys):
    model = build_tiny_model(tmp_path / "model")
    monkeypatch.chdir(REPO)  # the example's dataset_dir is relative to the repository root, as for llamafactory-cli
    scout = tmp_path / "scout.yaml"
    assert main(["init", "--from-llamafactory", str(EXAMPLE), "--out", str(scout)]) == 0

    run_dir = tmp_path / "run"
    # scouting-only settings for a 2-core CPU; the user's file keeps its own (the export says so)
    overrides = {
        "model.name_or_path": str(model),
        "llamafactory.python": llamafactory_python,
        "llamafactory.args.preprocessing_num_workers": 1,
        "llamafactory.args.dataloader_num_workers": 0,
        "output_dir": str(run_dir),
        "search.trials": 3,
        "scout.fraction": 0.06,
        "scout.fidelities": "[0.03, 0.06]",
        "scout.min_steps": 0,  # 3 tiny trials on a 2-core CPU: no step floor
        "data.max_eval_samples": 16,
        "data.max_length": 64,
        "train.batch_size": 8,
        "train.grad_accum": 1,
        "train.eval_batch_size": 16,
        "train.epochs": 1,
        "train.precision": "fp32",
    }
    sets = [arg for key, value in overrides.items() for arg in ("--set", f"{key}={value}")]
    assert main(["run", str(scout), *sets, "--until", "top"]) == 0

    results = [json.loads(p.read_text()) for p in RunLayout(run_dir).results()]
    assert len(results) == 3 and {r["status"] for r in results} <= {"complete", "pruned"}
    done = [r for r in results if r["status"] == "complete"]
    assert done and all(math.isfinite(r["objective"]) and r["objective"] == r["metrics"]["eval_loss"] for r in done)
    assert all(r["versions"]["llamafactory"] == "0.9.5" and r["trainable_params"] for r in done)
    log = run_dir / "trials" / "t0000" / "f0.03" / "output" / "trainer_log.jsonl"
    assert any("eval_loss" in json.loads(line) for line in log.read_text().splitlines())

    # by default the LR is lowered for the full run's longer horizon, and the header says by how much
    lowered = tmp_path / "horizon.yaml"
    assert main(["export", str(run_dir), "--format", "llamafactory", "--out", str(lowered)]) == 0
    assert any(line.startswith("# changed: learning_rate: ") and line.endswith("(lr_correction horizon)")
               for line in lowered.read_text().splitlines())

    out = tmp_path / "exported.yaml"  # the scouted values, exactly
    assert main(["export", str(run_dir), "--format", "llamafactory", "--out", str(out), "--lr-correction", "off"]) == 0
    exported, original = yaml.safe_load(out.read_text()), yaml.safe_load(EXAMPLE.read_text())
    changed = {k for k in original if exported[k] != original[k]}
    top1 = yaml.safe_load((run_dir / "top" / "top1.yaml").read_text())
    assert exported["learning_rate"] == pytest.approx(top1["train"]["learning_rate"], rel=1e-5)
    assert 0.25 * exported["learning_rate"] <= yaml.safe_load(lowered.read_text())["learning_rate"] < exported["learning_rate"]
    assert changed <= {"learning_rate", "lora_rank", "warmup_ratio"} and set(exported) - set(original) == set()
    header = out.read_text().split("\n#\n")[0]
    assert all(f"changed: {k}: " in header for k in changed)
    assert "model_name_or_path" in header and exported["model_name_or_path"] == "Qwen/Qwen2.5-0.5B-Instruct"


_INIT_FIELDS = """
import dataclasses, json, sys
from llamafactory.hparams import DataArguments, FinetuningArguments, GeneratingArguments, ModelArguments
from llamafactory.hparams.training_args import TrainingArguments
classes = (ModelArguments, DataArguments, FinetuningArguments, GeneratingArguments, TrainingArguments)
json.dump({"init": sorted({f.name for c in classes for f in dataclasses.fields(c) if f.init}),
           "no_init": sorted({f.name for c in classes for f in dataclasses.fields(c) if not f.init})}, sys.stdout)
"""


def test_export_key_list_holds_only_keys_llamafactory_parses(llamafactory_python):
    import subprocess

    from hpscout.export import llamafactory_keys

    out = subprocess.run([llamafactory_python, "-c", _INIT_FIELDS], capture_output=True, text=True, check=True, timeout=300)
    fields = json.loads(out.stdout)
    ours = set(llamafactory_keys())
    assert not ours & set(fields["no_init"]), sorted(ours & set(fields["no_init"]))  # init=False: the parser refuses them
    # every listed key is a field LLaMA-Factory's parser takes (the list is the both-ends transformers intersection)
    assert ours <= set(fields["init"]), sorted(ours - set(fields["init"]))[:10]
