"""The LLaMA-Factory <-> hpscout key mapping: values, LLaMA-Factory's defaults, refused and unknown keys."""

from __future__ import annotations

import pytest

from hpscout._errors import ConfigError
from hpscout.config import apply_updates, config_from_dict
from hpscout.export import llamafactory_keys
from hpscout.llamafactory import MAPPED_KEYS, check_keys, llamafactory_from_config, updates_from_llamafactory

FULL = {
    "model_name_or_path": "Qwen/Qwen2.5-7B-Instruct",
    "learning_rate": 2.0e-4,
    "lr_scheduler_type": "cosine_with_min_lr",
    "lr_scheduler_kwargs": {"min_lr_rate": 0.1},
    "warmup_steps": 30,
    "num_train_epochs": 2.0,
    "max_steps": 500,
    "per_device_train_batch_size": 2,
    "per_device_eval_batch_size": 4,
    "gradient_accumulation_steps": 16,
    "weight_decay": 0.01,
    "max_grad_norm": 0.5,
    "finetuning_type": "lora",
    "lora_rank": 32,
    "lora_alpha": 64,
    "lora_dropout": 0.05,
    "lora_target": "q_proj,v_proj",
    "cutoff_len": 4096,
    "bf16": True,
    "fp16": False,
    "logging_steps": 5,
    "eval_strategy": "steps",
    "eval_steps": 50,
    "seed": 7,
    "val_size": 0.05,
}


def _config(args: dict) -> object:
    ups, _ = updates_from_llamafactory(args, rows=1000, source="sft.yaml")
    base = config_from_dict({"name": "x", "task": "llamafactory", "data": {"train": "t.json"},
                             "llamafactory": {"base": "sft.yaml"}})
    return apply_updates(base, ups)


def test_every_mapped_key_survives_the_round_trip():
    assert set(FULL) | {"warmup_ratio"} == set(MAPPED_KEYS)  # warmup in steps or as a share, not both
    back = llamafactory_from_config(_config(FULL))
    assert {k: back[k] for k in FULL} == FULL and "warmup_ratio" not in back
    as_share = {k: v for k, v in FULL.items() if k != "warmup_steps"} | {"warmup_ratio": 0.03}
    back = llamafactory_from_config(_config(as_share))
    assert back["warmup_ratio"] == 0.03 and "warmup_steps" not in back


def test_absent_keys_take_llamafactory_defaults():
    cfg = _config({"model_name_or_path": "m"})
    t = cfg.train
    assert (t.learning_rate, t.lr_scheduler, t.epochs, t.batch_size, t.grad_accum) == (5e-5, "linear", 3.0, 8, 1)
    assert (t.lora.r, t.lora.alpha, t.lora.dropout, t.lora.target) == (8, 16, 0.0, "all-linear")
    assert (cfg.data.max_length, t.precision, t.logging_steps, cfg.seed) == (2048, "fp32", 500, 42)
    assert t.warmup_steps is None and t.max_steps is None
    back = llamafactory_from_config(cfg)
    assert back["lora_target"] == "all" and back["lora_alpha"] == 16 and back["bf16"] is False


@pytest.mark.parametrize(
    ("file_value", "scouted", "trial_value"),
    [(None, "auto", "no"), ("no", "auto", "no"), ("epoch", "epoch", "epoch"), ("steps", "steps", "steps")],
)
def test_eval_strategy_round_trips(file_value, scouted, trial_value):
    # LLaMA-Factory's no (its default) still evaluates once after training (do_eval): hpscout's auto, resolved to end
    args = {"model_name_or_path": "m"} | ({} if file_value is None else {"eval_strategy": file_value, "eval_steps": 50})
    ups, notes = updates_from_llamafactory(args, rows=None, source="sft.yaml")
    assert ups["train.eval_strategy"] == scouted
    assert any("evaluates once, at its end" in n for n in notes) == (scouted == "auto")
    back = llamafactory_from_config(_config(args))
    assert back["eval_strategy"] == trial_value and ("eval_steps" in back) == (trial_value == "steps")


def test_eval_strategy_auto_with_a_plateau_schedule_evaluates_per_epoch():
    cfg = apply_updates(_config({"model_name_or_path": "m"}), {"train.lr_scheduler": "reduce_lr_on_plateau"})
    assert llamafactory_from_config(cfg)["eval_strategy"] == "epoch"


def test_yaml_strings_and_transformers5_warmup_share():
    # PyYAML reads 1e-4 (no dot) as a string; LLaMA-Factory's parser still takes it as a float
    ups, notes = updates_from_llamafactory(
        {"model_name_or_path": "m", "learning_rate": "1e-4", "warmup_steps": 0.05, "quantization_bit": 4, "val_size": 100},
        rows=1000, source="sft.yaml",
    )
    assert ups["train.learning_rate"] == pytest.approx(1e-4)
    assert ups["train.warmup_ratio"] == 0.05 and ups["train.warmup_steps"] is None
    assert ups["train.method"] == "qlora" and ups["data.eval_split"] == pytest.approx(0.1)
    assert any("share" in n for n in notes)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ({"learning_rate": "fast"}, "learning_rate"),
        ({"lora_rank": 2.5}, "lora_rank"),
        ({"lr_scheduler_type": "greedy"}, "lr_scheduler_type"),
        ({"eval_strategy": "sometimes"}, "eval_strategy"),
        ({"bf16": True, "fp16": True}, "bf16"),
    ],
)
def test_bad_values_name_the_key(args, named):
    with pytest.raises(ConfigError, match=named):
        updates_from_llamafactory({"model_name_or_path": "m", **args}, rows=None, source="sft.yaml")


@pytest.mark.parametrize(("key", "value"), [("stage", "dpo"), ("finetuning_type", "freeze"), ("streaming", True),
                                            ("tokenized_path", "cache/tok")])
def test_refused_values(key, value):
    with pytest.raises(ConfigError, match=rf"^{key} must be one of .* \(in sft.yaml, line 3\)"):
        check_keys({"model_name_or_path": "m", key: value}, llamafactory_keys(), source="sft.yaml", lines={key: 3})


def test_unknown_key_is_named_with_a_suggestion():
    with pytest.raises(ConfigError) as err:
        check_keys({"learning_rat": 1e-4}, llamafactory_keys(), source="sft.yaml", lines={"learning_rat": 9})
    msg = str(err.value)
    assert "'learning_rat'" in msg and "did you mean 'learning_rate'" in msg and "line 9" in msg and "\n" not in msg
