import json
from pathlib import Path

import pytest

from hpscout import ConfigError
from hpscout.config import (
    apply_updates,
    config_from_dict,
    dump_config,
    get_value,
    load_config,
    load_yaml_text,
    parse_overrides,
)

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "hpscout" / "templates"


def minimal(**extra):
    d = {"name": "t", "data": {"train": "a.csv"}}
    d.update(extra)
    return d


def test_contract_keys_load(tmp_path):
    text = """
name: sst2-minilm-lora
seed: 42
task: sequence-classification
model: {name_or_path: minilm}
data: {train: PATH, eval: PATH, text_column: sentence, label_column: label, max_length: 64, stratify: [label]}
scout: {fraction: 0.05, fidelities: [0.01, 0.02, 0.05]}
train: {learning_rate: 1.0e-4, batch_size: 16, grad_accum: 1, epochs: 2, lr_scheduler: cosine, warmup_ratio: 0.05,
        weight_decay: 0.0, max_grad_norm: 1.0, precision: auto, optimizer: adamw_torch, method: lora,
        lora: {r: 8, alpha: 16, dropout: 0.05, target: qv}, early_stopping: {patience: 2, threshold: 0.0}}
search: {sampler: tpe, pruner: hyperband, trials: 20, metric: eval_accuracy, direction: maximize,
         space: {train.learning_rate: {type: float, low: 1.0e-5, high: 1.0e-2, log: true},
                 train.lora.r: {type: categorical, choices: [8, 16, 32, 64]}}}
ablation: {seeds: 3, factors: {train.lora.r: [8, 16, 32, 64]}}
storage: null
output_dir: runs/sst2-minilm-lora
"""
    p = tmp_path / "c.yaml"
    p.write_text(text)
    cfg = load_config(p)
    assert cfg.train.lora.r == 8
    assert cfg.search.space["train.learning_rate"].log is True
    assert cfg.run_dir == Path("runs/sst2-minilm-lora")
    assert cfg.greater_is_better


def test_yaml12_floats_are_floats():
    data, _ = load_yaml_text("lr: 3e-4\nchoices: [1e-5, 2E-3]\nname: 1e5x\n")
    assert data["lr"] == pytest.approx(3e-4)
    assert data["choices"] == [1e-5, 2e-3]
    assert data["name"] == "1e5x"


def test_overrides_parse_and_apply(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: t\ndata: {train: a.csv}\n")
    cfg = load_config(p, ["train.learning_rate=3e-3", "train.lora.target=[query, value]", "search.trials=5"])
    assert cfg.train.learning_rate == pytest.approx(3e-3)
    assert cfg.train.lora.target == ["query", "value"]
    assert cfg.search.trials == 5
    assert parse_overrides(["a.b=true"]) == {"a.b": True}


@pytest.mark.parametrize("bad", ["noequals", "=3", "a..b=1"])
def test_bad_override_syntax(bad):
    with pytest.raises(ConfigError, match="--set"):
        parse_overrides([bad])


def test_unknown_key_did_you_mean(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: t\ndata: {train: a.csv}\ntrain:\n  learnig_rate: 1\n")
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    msg = str(exc.value)
    assert "did you mean 'learning_rate'" in msg and str(p) in msg and "line 4" in msg


def test_unknown_override_key():
    cfg = config_from_dict(minimal())
    with pytest.raises(ConfigError, match="did you mean 'batch_size'"):
        apply_updates(cfg, {"train.batch_sise": 4})


def test_apply_updates_revalidates():
    cfg = config_from_dict(minimal())
    cfg2 = apply_updates(cfg, {"train.lora.r": 32})
    assert cfg2.train.lora.r == 32 and cfg.train.lora.r == 8
    with pytest.raises(ConfigError, match="train.lora.r"):
        apply_updates(cfg, {"train.lora.r": 0})
    assert get_value(cfg2, "train.lora.r") == 32


def test_literal_errors_list_allowed_values():
    with pytest.raises(ConfigError) as exc:
        config_from_dict(minimal(train={"lr_scheduler": "cosin"}))
    assert "'cosine'" in str(exc.value) and "train.lr_scheduler" in str(exc.value)


def test_fidelity_ladder_rules():
    cfg = config_from_dict(minimal(scout={"fraction": 0.05}))
    assert cfg.scout.fidelities == [0.05]
    with pytest.raises(ConfigError, match="ascending"):
        config_from_dict(minimal(scout={"fraction": 0.05, "fidelities": [0.02, 0.01, 0.05]}))
    with pytest.raises(ConfigError, match="must equal scout.fraction"):
        config_from_dict(minimal(scout={"fraction": 0.05, "fidelities": [0.01, 0.02]}))


@pytest.mark.parametrize(
    "spec,needle",
    [
        ({"type": "float", "low": 1, "high": 0}, "low must be <= high"),
        ({"type": "float", "low": 0, "high": 1, "log": True}, "low must be > 0 when log=true"),
        ({"type": "categorical", "choices": []}, "non-empty 'choices'"),
        ({"type": "int", "low": 1.5, "high": 4}, "integer bounds"),
        ({"type": "float", "low": 1e-3, "high": 1, "log": True, "step": 0.1}, "cannot be combined"),
    ],
)
def test_param_spec_errors(spec, needle):
    with pytest.raises(ConfigError, match=needle) as exc:
        config_from_dict(minimal(search={"space": {"train.learning_rate": spec}}))
    assert "search.space.train.learning_rate" in str(exc.value)


@pytest.mark.parametrize("name", ["../evil", "a/b", "x\x00y", "a" * 600, "'; DROP TABLE studies; --", ".hidden", ""])
def test_hostile_names_rejected(name):
    with pytest.raises(ConfigError, match="name must be"):
        config_from_dict(minimal(name=name))


def test_task_sections_required():
    with pytest.raises(ConfigError, match="task 'command' needs"):
        config_from_dict(minimal(task="command"))


def test_dump_roundtrip(tmp_path):
    cfg = config_from_dict(minimal(train={"learning_rate": 3e-3}))
    text = dump_config(cfg, header="study x\ntrial 3")
    assert text.startswith("# study x\n# trial 3\n")
    p = tmp_path / "r.yaml"
    p.write_text(text)
    cfg2 = load_config(p)
    assert cfg2 == cfg


def test_builtin_data_resolves():
    cfg = load_config(TEMPLATES / "sst2-minilm-lora.yaml")
    assert Path(cfg.data.train).exists() and cfg.data.train.endswith("train.tsv")
    assert config_from_dict(minimal()).data.train == "a.csv"  # plain paths are untouched


def test_unknown_builtin(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: t\ndata: {train: 'builtin:nope.csv'}\n")
    with pytest.raises(ConfigError, match="available: builtin:"):
        load_config(p)


@pytest.mark.parametrize("template", ["sst2-minilm-lora", "alpaca-sft", "custom-script", "seq2seq-dialogue-summary"])
def test_templates_validate(template):
    cfg = load_config(TEMPLATES / f"{template}.yaml")
    assert cfg.name


def test_seq2seq_template_ranks_by_rouge_on_its_bundled_sample():
    cfg = load_config(TEMPLATES / "seq2seq-dialogue-summary.yaml")
    assert cfg.task == "seq2seq" and cfg.search.metric == "eval_rougeL" and cfg.search.direction == "maximize"
    assert cfg.train.predict_with_generate is True and cfg.train.rouge_tokenizer == "words"
    assert cfg.model.from_config["model_type"] == "t5" and cfg.model.tokenizer == "builtin:dialogue_summary"
    for path in (cfg.data.train, cfg.data.eval):
        rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]
        assert {r["lang"] for r in rows} == {"ko", "en"} and all(r["dialogue"] and r["summary"] for r in rows)
    assert 200 <= sum(len(Path(p).read_text(encoding="utf-8").splitlines()) for p in (cfg.data.train, cfg.data.eval)) <= 400


def test_generation_and_rouge_keys_are_checked():
    cfg = config_from_dict(minimal(train={"generation_max_length": 64, "generation_num_beams": 4, "rouge_tokenizer": "chars",
                                          "gradient_checkpointing": True, "predict_with_generate": False}))
    assert cfg.train.generation_num_beams == 4 and cfg.train.gradient_checkpointing is True
    assert config_from_dict(minimal()).train.predict_with_generate is None  # unset: decided by the metric
    with pytest.raises(ConfigError, match="rouge_tokenizer"):
        config_from_dict(minimal(train={"rouge_tokenizer": "latin"}))
    with pytest.raises(ConfigError, match="generation_num_beams"):
        config_from_dict(minimal(train={"generation_num_beams": 0}))
