"""TrainingArguments JSON export: a real TrainingArguments of the installed transformers, plus a sidecar."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "report"))
from _fake_run import make_fake_run  # noqa: E402

from hpscout.config import apply_updates, save_config  # noqa: E402
from hpscout.export import export_run, final_config, sidecar_path_for  # noqa: E402
from hpscout.plan import lint_settings, read_settings  # noqa: E402

transformers = pytest.importorskip("transformers")


def _construct(args: dict) -> object:
    """TrainingArguments(**args); bf16 needs a bf16 GPU unless use_cpu is set, so add it on CPU-only machines."""
    from transformers.utils import is_torch_bf16_gpu_available

    if args.get("bf16") and not is_torch_bf16_gpu_available():
        args = dict(args, use_cpu=True)
    return transformers.TrainingArguments(**args)


def _load(path: Path) -> tuple[dict, dict]:
    return json.loads(path.read_text()), json.loads(sidecar_path_for(path).read_text())


def test_fp32_constructs_as_is(tmp_path):
    run = make_fake_run(tmp_path, precision="fp32")
    path = export_run(run.run_dir, "hf", full_samples=20_000, storage=run.storage, lr_correction="law")
    assert path == run.run_dir / "final" / "training_args.json"
    args, _ = _load(path)
    ta = transformers.TrainingArguments(**args)  # exactly the file, nothing added
    assert ta.per_device_train_batch_size == 16 and ta.num_train_epochs == 2.0
    assert ta.learning_rate == pytest.approx(2.2e-3 * (2500 / 126) ** -0.277, rel=1e-5)
    # 20,000 rows / 16 = 1250 steps/epoch, 2 epochs; warmup ceil(0.1 x 2500) as whole steps
    assert args["warmup_steps"] == 250 and ta.get_warmup_steps(2500) == 250
    assert not args.get("bf16") and not args.get("fp16")


def test_auto_precision_is_bf16_and_constructs(tmp_path):
    run = make_fake_run(tmp_path)
    args, sidecar = _load(export_run(run.run_dir, "hf", storage=run.storage))
    assert args["bf16"] is True
    _construct(args)
    assert any("precision auto -> bf16" in n for n in sidecar["notes"])


def test_every_key_is_a_training_argument(tmp_path):
    run = make_fake_run(tmp_path, precision="fp32")
    args, _ = _load(export_run(run.run_dir, "hf", storage=run.storage))
    fields = {f.name for f in dataclasses.fields(transformers.TrainingArguments) if f.init}
    assert set(args) <= fields


def test_adamw_hf_becomes_adamw_torch(tmp_path):
    run = make_fake_run(tmp_path, precision="fp32", optimizer="adamw_hf")
    args, sidecar = _load(export_run(run.run_dir, "hf", storage=run.storage))
    assert args["optim"] == "adamw_torch"
    assert any("adamw_hf does not exist" in n for n in sidecar["notes"])
    transformers.TrainingArguments(**args)


def test_warmup_ratio_as_float_warmup_steps_when_length_unknown(tmp_path):
    run = make_fake_run(tmp_path, precision="fp32", with_analysis=False, with_results=False)
    args, sidecar = _load(export_run(run.run_dir, "hf", storage=run.storage))
    assert "warmup_ratio" not in args and args["warmup_steps"] == pytest.approx(0.1)  # best trial's warmup_ratio
    ta = transformers.TrainingArguments(**args)
    assert ta.get_warmup_steps(1000) == 100
    assert any("has no warmup_ratio" in n for n in sidecar["notes"])
    assert sidecar["full_data_plan"]["samples"] is None


def test_sidecar_holds_what_is_not_a_training_argument(tmp_path):
    run = make_fake_run(tmp_path)
    path = export_run(run.run_dir, "hf", out=tmp_path / "out" / "ta.json", storage=run.storage, lr_correction="law")
    args, sidecar = _load(path)
    assert sidecar_path_for(path).name == "ta.provenance.json"
    assert sidecar["peft_lora_config"] == {"r": 16, "lora_alpha": 16.0, "lora_dropout": 0.05,
                                           "target_modules": ["query", "value"]}
    prov = sidecar["provenance"]
    assert prov["study"] == run.study_name and prov["trial"] == run.best_trial
    assert prov["lr_correction"]["applied"] is True and prov["lr_correction"]["beta"] == pytest.approx(0.277)
    assert sidecar["full_data_plan"]["total_steps"] == 2500
    assert sidecar["transformers_version"] == transformers.__version__
    assert "provenance" not in args


def test_steps_strategy_and_best_checkpoint(tmp_path):
    run = make_fake_run(tmp_path, precision="fp32")
    cfg = apply_updates(final_config(run.run_dir), {"train.eval_strategy": "steps", "train.eval_steps": 20,
                                                    "train.save_best_checkpoint": True, "train.max_steps": 120})
    save_config(cfg, run.run_dir / "final" / "config.yaml")
    args, _ = _load(export_run(run.run_dir, "hf", full_samples=20_000, devices=2, storage=run.storage))
    ta = transformers.TrainingArguments(**args)
    assert ta.load_best_model_at_end and ta.metric_for_best_model == "eval_accuracy" and ta.greater_is_better
    assert args["save_steps"] == args["eval_steps"]
    # scouting: 1000 rows / 16 = 63 steps/epoch, 120 steps = 1.9 epochs; full: 20,000 / (8 x 2) = 1250 steps/epoch
    assert args["per_device_train_batch_size"] == 8 and args["max_steps"] == 2381
    assert args["eval_steps"] == 2381 // 6 + 1  # 120 / 20 = 6 evaluations, as in scouting


def test_lint_without_errors(tmp_path):
    """The JSON lints clean as the LoRA run it is (the sidecar says so; flat keys alone read as full fine-tuning)."""
    run = make_fake_run(tmp_path)
    path = export_run(run.run_dir, "hf", full_samples=20_000, storage=run.storage)
    _, sidecar = _load(path)
    settings = read_settings(path, samples=20_000)
    settings = dataclasses.replace(settings, method=sidecar["method"])
    assert [str(f) for f in lint_settings(settings) if f.severity == "error"] == []
