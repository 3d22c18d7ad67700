"""LLaMA-Factory YAML export: only LLaMA-Factory keys, provenance header, lint-clean."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "report"))
from _fake_run import make_fake_run  # noqa: E402

from hpscout import ExportError  # noqa: E402
from hpscout.config import apply_updates, save_config  # noqa: E402
from hpscout.export import LLAMAFACTORY_VERSION, export_run, final_config, llamafactory_keys  # noqa: E402
from hpscout.plan import lint_file  # noqa: E402


@pytest.fixture(scope="module")
def sft(tmp_path_factory):
    return make_fake_run(tmp_path_factory.mktemp("lf"), task="causal-lm", with_final=True)


@pytest.fixture(scope="module")
def sft_yaml(sft):
    path = export_run(sft.run_dir, "llamafactory", full_samples=52_000, devices=4, storage=sft.storage, lr_correction="law")
    return path, path.read_text(encoding="utf-8"), yaml.safe_load(path.read_text(encoding="utf-8"))


def test_key_list_has_its_source():
    keys = llamafactory_keys()
    text = (Path(__file__).resolve().parents[2] / "src/hpscout/export/data/llamafactory_keys.txt").read_text()
    assert f"LLaMA-Factory v{LLAMAFACTORY_VERSION}" in text and "Seq2SeqTrainingArguments" in text
    for key in ("model_name_or_path", "stage", "finetuning_type", "lora_rank", "lora_target", "template", "cutoff_len",
                "quantization_bit", "learning_rate", "warmup_steps", "warmup_ratio", "bf16", "predict_with_generate"):
        assert key in keys
    assert "lora_r" not in keys and "train.learning_rate" not in keys


def test_only_llamafactory_keys(sft_yaml):
    path, _, data = sft_yaml
    assert path.name == "llamafactory.yaml" and path.parent.name == "final"
    assert set(data) <= llamafactory_keys()


def test_values(sft_yaml):
    _, _, d = sft_yaml
    assert d["model_name_or_path"] == "Qwen/Qwen2.5-0.5B"
    assert d["stage"] == "sft" and d["finetuning_type"] == "lora"
    assert d["lora_rank"] == 16 and d["lora_alpha"] == 16 and d["lora_dropout"] == 0.05
    assert d["lora_target"] == "all"  # hpscout all-linear
    assert d["cutoff_len"] == 512 and d["val_size"] == 0.1
    assert d["dataset"] == "REPLACE_ME" and d["template"] == "REPLACE_ME"
    # 4 devices keep the scouted effective batch of 16: per-device 4; 52,000 rows -> 3,250 steps/epoch
    assert d["per_device_train_batch_size"] == 4 and d["gradient_accumulation_steps"] == 1
    assert d["num_train_epochs"] == 2.0 and d["warmup_steps"] == 650 and "warmup_ratio" not in d
    assert d["lr_scheduler_type"] == "linear" and d["optim"] == "adamw_torch" and d["bf16"] is True
    assert d["learning_rate"] == pytest.approx(2.2e-3 * (6500 / 126) ** -0.277, rel=1e-5)


def test_provenance_header(sft_yaml, sft):
    _, text, _ = sft_yaml
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert "Exported by hpscout" in header
    assert f"study: {sft.study_name}" in header and f"best trial {sft.best_trial}" in header
    assert "scouting fraction: 0.05" in header and "seeds: 42; ablation seeds 42, 43, 44" in header
    assert "lr_correction (law): scouted_lr 0.0022 -> corrected_lr" in header
    assert "beta 0.277" in header and "fractions_used 0.01, 0.02, 0.05" in header
    assert "final config: final/config.yaml" in header
    assert "steps per epoch = ceil(ceil(52,000 / (4 x 4)) / 1)" in header


def test_lint_clean(sft_yaml):
    path, _, _ = sft_yaml
    findings = lint_file(path, samples=52_000, devices=4)
    assert [str(f) for f in findings if f.severity == "error"] == []


def test_no_lr_correction_and_out(sft, tmp_path):
    out = tmp_path / "lf.yaml"
    path = export_run(sft.run_dir, "llamafactory", out=out, storage=sft.storage, lr_correction="off")
    assert path == out
    text = out.read_text()
    assert "lr_correction (off): not applied (--lr-correction off)" in text
    assert yaml.safe_load(text)["learning_rate"] == pytest.approx(2.2e-3)


def test_qlora(tmp_path):
    run = make_fake_run(tmp_path, task="causal-lm", method="qlora")
    d = yaml.safe_load(export_run(run.run_dir, "llamafactory", storage=run.storage).read_text())
    assert d["finetuning_type"] == "lora" and d["quantization_bit"] == 4
    assert set(d) <= llamafactory_keys()


def test_full_finetuning_and_fp32(tmp_path):
    run = make_fake_run(tmp_path, task="causal-lm", method="full", precision="fp32")
    # full fine-tuning wants a far smaller LR than the fake LoRA search found
    save_config(apply_updates(final_config(run.run_dir), {"train.learning_rate": 2e-5}),
                run.run_dir / "final" / "config.yaml")
    path = export_run(run.run_dir, "llamafactory", storage=run.storage, lr_correction="off")
    d = yaml.safe_load(path.read_text())
    assert d["finetuning_type"] == "full" and "lora_rank" not in d and d["bf16"] is False and "fp16" not in d
    assert [f for f in lint_file(path, samples=20_000) if f.severity == "error"] == []


def test_classification_is_exported_with_a_warning(tmp_path):
    run = make_fake_run(tmp_path)  # sequence-classification on the minilm alias, LoRA preset qv
    path = export_run(run.run_dir, "llamafactory", storage=run.storage)
    text = path.read_text()
    assert "has no\n# sequence-classification stage" in text
    d = yaml.safe_load(text)
    assert d["stage"] == "sft" and d["lora_target"] == "query,value"  # BERT module names for qv
    assert set(d) <= llamafactory_keys()


def test_torch_task_and_one_cycle_are_refused(tmp_path):
    run = make_fake_run(tmp_path, task="causal-lm")
    cfg = final_config(run.run_dir)
    save_config(apply_updates(cfg, {"task": "torch", "torch": {"factory": "mod:fn"}}), run.run_dir / "final" / "config.yaml")
    with pytest.raises(ExportError, match="no Hugging Face model"):
        export_run(run.run_dir, "llamafactory", storage=run.storage)
    save_config(apply_updates(cfg, {"train.lr_scheduler": "one_cycle"}), run.run_dir / "final" / "config.yaml")
    with pytest.raises(ExportError, match="OneCycleLR"):
        export_run(run.run_dir, "llamafactory", storage=run.storage)
    assert export_run(run.run_dir, "json", storage=run.storage).exists()  # json keeps any schedule


def test_final_config_precedence(tmp_path):
    run = make_fake_run(tmp_path, with_final=True)
    assert final_config(run.run_dir).train.lora.r == 16  # final/config.yaml (top1 has r=16 too, lr differs)
    (run.run_dir / "final" / "config.yaml").unlink()
    assert final_config(run.run_dir).train.learning_rate == pytest.approx(2.2e-3)  # top/top1.yaml
    (run.run_dir / "top" / "top1.yaml").unlink()
    with pytest.raises(ExportError, match="run `hpscout search` first"):
        final_config(run.run_dir)
    with pytest.raises(ExportError, match="run `hpscout search` first"):
        export_run(run.run_dir, "llamafactory", storage=run.storage)
