"""Lint reads keys: unknown keys with a did-you-mean, the guides' invalid keys, required LLaMA-Factory keys."""

import dataclasses
import textwrap

import pytest

from hpscout._errors import ConfigError
from hpscout.plan import lint_file, read_settings
from hpscout.plan._lint_keys import known_keys, right_spelling, suggest_key

# LLaMA-Factory's own examples/train_lora/llama3_lora_sft.yaml (v0.9.x): every key must be known
LF_EXAMPLE = """\
### model
model_name_or_path: meta-llama/Meta-Llama-3-8B-Instruct
trust_remote_code: true
### method
stage: sft
do_train: true
finetuning_type: lora
lora_rank: 8
lora_target: all
### dataset
dataset: identity,alpaca_en_demo
template: llama3
cutoff_len: 2048
max_samples: 1000
overwrite_cache: true
preprocessing_num_workers: 16
dataloader_num_workers: 4
### output
output_dir: saves/llama3-8b/lora/sft
logging_steps: 10
save_steps: 500
plot_loss: true
overwrite_output_dir: true
save_only_model: false
report_to: none
### train
per_device_train_batch_size: 1
gradient_accumulation_steps: 8
learning_rate: 1.0e-4
num_train_epochs: 3.0
lr_scheduler_type: cosine
warmup_ratio: 0.1
bf16: true
ddp_timeout: 180000000
resume_from_checkpoint: null
"""


def _write(tmp_path, text, name="c.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def _by_rule(findings, rule):
    return [f for f in findings if f.rule == rule]


def test_llamafactory_example_is_clean(tmp_path):
    findings = lint_file(_write(tmp_path, LF_EXAMPLE))
    assert [f for f in findings if f.severity != "info"] == []


@pytest.mark.parametrize(("typo", "right"), [("learnin_rate", "learning_rate"), ("num_train_epoch", "num_train_epochs")])
def test_misspelled_key_is_an_error_with_did_you_mean(tmp_path, typo, right):
    p = _write(tmp_path, LF_EXAMPLE + f"{typo}: 1.0e-2\n")
    [hit] = _by_rule(lint_file(p), "unknown-key")
    assert hit.severity == "error" and hit.key == typo and hit.fix == f"did you mean {right}?"
    assert "LLaMA-Factory refuses the file" in hit.message


def test_a_file_of_one_misspelled_key_is_read_as_a_training_yaml(tmp_path):
    # before: "neither an hpscout config nor a LLaMA-Factory / HF training YAML" (exit 2)
    p = _write(tmp_path, "learnin_rate: 1.0e-2\n")
    assert read_settings(p).format == "hf"
    [hit] = _by_rule(lint_file(p), "unknown-key")
    assert hit.fix == "did you mean learning_rate?" and "TrainingArguments(**kwargs) raises TypeError" in hit.message
    with pytest.raises(ConfigError, match="neither"):
        lint_file(_write(tmp_path, "just: text\n", "other.yaml"))


@pytest.mark.parametrize(
    ("line", "in_fix"),
    [
        ("power: 2", ["lr_scheduler_type: polynomial", "lr_scheduler_kwargs: {power: 2}"]),
        ("lr_end: 0", ["lr_scheduler_kwargs: {lr_end: 0}"]),
        ("num_cycles: 3", ["lr_scheduler_kwargs: {num_cycles: 3}"]),
        ("cosine_restarts: 2", ["lr_scheduler_type: cosine_with_restarts", "lr_scheduler_kwargs: {num_cycles: 3}", "N - 1 restarts"]),
        ("early_stopping_patience: 3", ["early_stopping_steps: N", "EarlyStoppingCallback(early_stopping_patience=N", "load_best_model_at_end"]),
        ("early_stopping_threshold: 0.01", ["early_stopping_threshold=T", "metric_for_best_model"]),
        ("reduce_lr_patience: 2", ["lr_scheduler_type: reduce_lr_on_plateau", "lr_scheduler_kwargs: {patience: 2}"]),
        ("reduce_lr_factor: 0.5", ["lr_scheduler_type: reduce_lr_on_plateau", "lr_scheduler_kwargs: {factor: 0.5}"]),
        ("evaluation_strategy: steps", ["eval_strategy: steps"]),
    ],
)
def test_guides_invalid_keys_get_the_right_spelling(tmp_path, line, in_fix):
    p = _write(tmp_path, LF_EXAMPLE + line + "\n")
    [hit] = _by_rule(lint_file(p), "unknown-key")
    assert hit.severity == "error" and hit.key == line.split(":")[0]
    for text in in_fix:
        assert text in hit.fix, (text, hit.fix)


def test_hpscout_config_keys_are_checked_against_the_schema(tmp_path):
    p = _write(
        tmp_path,
        """
        name: x
        data: {train: a.csv}
        modle: {name_or_path: minilm}
        train: {learnin_rate: 2e-3, method: lora, power: 2, early_stopping_patience: 3}
        """,
    )
    hits = {f.key: f for f in _by_rule(lint_file(p), "unknown-key")}
    assert hits["modle"].fix == "did you mean model?"
    assert hits["train.learnin_rate"].fix == "did you mean train.learning_rate?"
    assert "train.scheduler_kwargs: {power: 2}" in hits["train.power"].fix
    assert hits["train.early_stopping_patience"].fix == "train.early_stopping: {patience: 3}"
    assert all(f.severity == "error" for f in hits.values())


def test_known_keys_cover_the_installed_training_arguments():
    transformers = pytest.importorskip("transformers")
    fields = {f.name for f in dataclasses.fields(transformers.Seq2SeqTrainingArguments) if f.init}
    assert fields - known_keys() == set(), "regenerate plan/data/lint_keys.txt with scripts/gen_lint_keys.py"


def test_known_keys_hold_llamafactory_hparams():
    keys = known_keys()
    # one key from each hparams dataclass: model, data, LoRA, freeze, RLHF, GaLore, BAdam, SwanLab, generation, Ray
    for key in ("model_name_or_path", "cutoff_len", "lora_rank", "freeze_trainable_layers", "pref_beta", "galore_rank",
                "badam_mode", "use_swanlab", "max_new_tokens", "ray_num_workers", "early_stopping_steps"):
        assert key in keys, key
    # init=False fields are not keys LLaMA-Factory's parser accepts
    assert "compute_dtype" not in keys and "device_map" not in keys
    assert suggest_key("nothing_like_any_key") is None
    assert right_spelling("learning_rate", 1e-4, "hf") is None


# --------------------------------------------------------------------------- missing keys


@pytest.mark.parametrize("key", ["model_name_or_path", "dataset", "template", "finetuning_type", "output_dir"])
def test_llamafactory_training_yaml_without_a_required_key_is_an_error(tmp_path, key):
    text = "".join(line + "\n" for line in LF_EXAMPLE.splitlines() if not line.startswith(f"{key}:"))
    [hit] = _by_rule(lint_file(_write(tmp_path, text)), "missing-key")
    assert hit.severity == "error" and hit.key == key and hit.message.startswith(f"This LLaMA-Factory training YAML has no {key}")


def test_required_keys_only_for_llamafactory_training_files(tmp_path):
    # an HF TrainingArguments file and a LLaMA-Factory chat file have no such requirement
    assert _by_rule(lint_file(_write(tmp_path, "learning_rate: 3.0e-5\nmax_steps: 100\n")), "missing-key") == []
    chat = "model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\ntemplate: qwen\nfinetuning_type: lora\n"
    assert _by_rule(lint_file(_write(tmp_path, chat, "chat.yaml")), "missing-key") == []


# --------------------------------------------------------------------------- silent defaults


def test_polynomial_without_power_is_linear_in_all_but_name(tmp_path):
    p = _write(tmp_path, LF_EXAMPLE.replace("lr_scheduler_type: cosine", "lr_scheduler_type: polynomial"))
    [hit] = _by_rule(lint_file(p), "polynomial-linear")
    assert hit.severity == "warning" and "linear in all but name" in hit.message and "{power: 2, lr_end: 0}" in hit.fix
    with_power = LF_EXAMPLE.replace("lr_scheduler_type: cosine", "lr_scheduler_type: polynomial\nlr_scheduler_kwargs: {power: 2}")
    assert _by_rule(lint_file(_write(tmp_path, with_power, "p2.yaml")), "polynomial-linear") == []
    # a top-level power does not reach the scheduler: both findings
    top = LF_EXAMPLE.replace("lr_scheduler_type: cosine", "lr_scheduler_type: polynomial\npower: 2")
    rules = {f.rule for f in lint_file(_write(tmp_path, top, "top.yaml"))}
    assert {"unknown-key", "polynomial-linear"} <= rules
