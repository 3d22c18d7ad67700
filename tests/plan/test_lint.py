import textwrap

import pytest

from hpscout._errors import ConfigError
from hpscout.plan import Finding, TrainingSettings, lint_file, lint_settings, read_settings


def _write(tmp_path, text, name="c.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def _rules(findings, severity=None):
    return [f.rule for f in findings if severity is None or f.severity == severity]


# A clean baseline: LoRA on MiniLM, sensible warmup, clipping on, known step count.
CLEAN = dict(
    learning_rate=2e-3,
    lr_scheduler="linear",
    warmup_ratio=0.06,
    epochs=3,
    batch_size=16,
    grad_accum=1,
    method="lora",
    max_grad_norm=1.0,
    samples=5000,
    model_params=22_000_000,
)


def settings(**over):
    return TrainingSettings(**{**CLEAN, **over})


def test_clean_baseline_has_no_findings():
    assert lint_settings(settings()) == []


# --------------------------------------------------------------------------- warmup-share


def test_warmup_share_error_when_warmup_exceeds_half():
    f = lint_settings(settings(warmup_ratio=None, warmup_steps=500, max_steps=600))
    [hit] = [x for x in f if x.rule == "warmup-share"]
    assert hit.severity == "error" and "83% of 600" in hit.message and hit.key == "warmup_steps"


def test_warmup_share_error_when_warmup_covers_run():
    f = lint_settings(settings(warmup_ratio=None, warmup_steps=700, max_steps=600))
    assert "never reaches its peak" in [x for x in f if x.rule == "warmup-share"][0].message


def test_warmup_share_warning_between_20_and_50_percent():
    f = lint_settings(settings(warmup_ratio=0.3))
    assert [(x.rule, x.severity) for x in f] == [("warmup-share", "warning")]


def test_warmup_share_ratio_checked_without_step_count():
    f = lint_settings(settings(warmup_ratio=0.6, samples=None))
    assert ("warmup-share", "error") in [(x.rule, x.severity) for x in f]


def test_warmup_share_clean_at_ten_percent():
    assert "warmup-share" not in _rules(lint_settings(settings(warmup_ratio=0.1)))


# --------------------------------------------------------------------------- warmup-short


def test_warmup_short_with_high_lr():
    f = lint_settings(settings(warmup_ratio=0.0, learning_rate=3e-3))
    [hit] = [x for x in f if x.rule == "warmup-short"]
    assert hit.severity == "warning" and "0 warmup steps" in hit.message


def test_warmup_short_few_steps_without_step_count():
    f = lint_settings(settings(warmup_ratio=None, warmup_steps=3, samples=None))
    assert "warmup-short" in _rules(f)


def test_warmup_short_clean_with_low_lr_or_enough_warmup():
    assert "warmup-short" not in _rules(lint_settings(settings(warmup_ratio=0.0, learning_rate=1e-3)))
    assert "warmup-short" not in _rules(lint_settings(settings(warmup_ratio=0.05, learning_rate=3e-3)))


# --------------------------------------------------------------------------- lr-range


def test_lr_range_full_finetuning_warning_and_error():
    f = lint_settings(settings(method="full", learning_rate=3e-4))
    assert ("lr-range", "warning") in [(x.rule, x.severity) for x in f]
    f = lint_settings(settings(method="full", learning_rate=2e-3))
    assert ("lr-range", "error") in [(x.rule, x.severity) for x in f]


def test_lr_range_lora_small_model_is_lenient():
    # measured: LoRA on MiniLM needs 2e-3..3e-3; this must not be flagged
    assert "lr-range" not in _rules(lint_settings(settings(learning_rate=3e-3)))
    assert ("lr-range", "warning") in [(x.rule, x.severity) for x in lint_settings(settings(learning_rate=2e-2))]


def test_lr_range_depends_on_model_size():
    big = settings(learning_rate=3e-3, model_params=7_000_000_000)
    assert ("lr-range", "warning") in [(x.rule, x.severity) for x in lint_settings(big)]
    assert "lr-range" not in _rules(lint_settings(settings(learning_rate=2e-4, model_params=7_000_000_000)))


def test_lr_low_info_for_lora_on_small_model():
    f = lint_settings(settings(learning_rate=5e-4))
    [hit] = [x for x in f if x.rule == "lr-low"]
    assert hit.severity == "info" and "chance" in hit.message
    # unknown size: no low-LR note (a 7B model would be fine at 2e-4)
    assert "lr-low" not in _rules(lint_settings(settings(learning_rate=2e-4, model_params=None)))


# --------------------------------------------------------------------------- restarts / cycles


def test_restarts_on_short_run_warn():
    f = lint_settings(settings(lr_scheduler="cosine_with_restarts", scheduler_kwargs={"num_cycles": 3}, max_steps=300))
    assert [(x.rule, x.severity) for x in f] == [("restarts-short-run", "warning")]


def test_restarts_clean_on_long_run():
    f = lint_settings(settings(lr_scheduler="cosine_with_restarts", scheduler_kwargs={"num_cycles": 3}, max_steps=5000))
    assert "restarts-short-run" not in _rules(f)


def test_cosine_more_than_half_wave_warns():
    f = lint_settings(settings(lr_scheduler="cosine", scheduler_kwargs={"num_cycles": 1}))
    assert "cosine-cycles" in _rules(f, "warning")
    assert "cosine-cycles" not in _rules(lint_settings(settings(lr_scheduler="cosine")))


# --------------------------------------------------------------------------- precision, clipping, batch


def test_precision_conflict_is_error():
    assert _rules(lint_settings(settings(fp16=True, bf16=True)), "error") == ["precision-conflict"]
    assert "precision-conflict" not in _rules(lint_settings(settings(bf16=True)))


@pytest.mark.parametrize("value", [0, 0.0, None])
def test_grad_clipping_off_warns(value):
    assert "no-grad-clipping" in _rules(lint_settings(settings(max_grad_norm=value)), "warning")


def test_grad_clipping_on_is_clean():
    assert "no-grad-clipping" not in _rules(lint_settings(settings(max_grad_norm=0.5)))


def test_tiny_batch_warns_only_without_accumulation():
    assert "tiny-batch" in _rules(lint_settings(settings(batch_size=2)), "warning")
    assert "tiny-batch" not in _rules(lint_settings(settings(batch_size=2, grad_accum=8)))
    assert "tiny-batch" not in _rules(lint_settings(settings(batch_size=1, devices=4)))


# --------------------------------------------------------------------------- other rules


def test_constant_ignores_warmup():
    assert "constant-ignores-warmup" in _rules(lint_settings(settings(lr_scheduler="constant")))
    assert "constant-ignores-warmup" not in _rules(lint_settings(settings(lr_scheduler="constant_with_warmup")))


def test_unknown_scheduler_is_error():
    assert "unknown-scheduler" in _rules(lint_settings(settings(lr_scheduler="cosine_annealing")), "error")


def test_steps_unknown_info_skips_step_rules():
    f = lint_settings(settings(samples=None, warmup_ratio=0.1))
    assert _rules(f) == ["steps-unknown"] and f[0].severity == "info"


def test_findings_sorted_errors_first_and_serialise():
    f = lint_settings(settings(fp16=True, bf16=True, max_grad_norm=0, samples=None))
    assert [x.severity for x in f] == sorted((x.severity for x in f), key=["error", "warning", "info"].index)
    d = f[0].to_dict()
    assert set(d) == {"severity", "rule", "key", "message", "fix"}
    assert str(f[0]).startswith("error  ")


# --------------------------------------------------------------------------- readers


def test_llamafactory_warmup_500_of_600_is_error(tmp_path):
    p = _write(
        tmp_path,
        """
        model_name_or_path: meta-llama/Meta-Llama-3-8B-Instruct
        stage: sft
        finetuning_type: lora
        dataset: alpaca_en_demo
        template: llama3
        output_dir: saves/llama3-8b/lora/sft
        per_device_train_batch_size: 1
        gradient_accumulation_steps: 8
        learning_rate: 1.0e-4
        lr_scheduler_type: cosine
        warmup_steps: 500
        max_steps: 600
        bf16: true
        """,
    )
    f = lint_file(p)
    errors = [x for x in f if x.severity == "error"]
    assert [x.key for x in errors] == ["warmup_steps"]
    s = read_settings(p)
    assert s.format == "llamafactory" and s.method == "lora" and s.model_params == 8_000_000_000


def test_llamafactory_qlora_max_samples_and_kwargs(tmp_path):
    p = _write(
        tmp_path,
        """
        model_name_or_path: Qwen/Qwen2.5-7B-Instruct
        finetuning_type: lora
        quantization_bit: 4
        max_samples: 2000
        val_size: 0.1
        per_device_train_batch_size: 2
        gradient_accumulation_steps: 4
        num_train_epochs: 1
        learning_rate: 2.0e-4
        lr_scheduler_type: cosine_with_restarts
        lr_scheduler_kwargs: {num_cycles: 4}
        warmup_ratio: 0.05
        fp16: true
        bf16: true
        max_grad_norm: 0
        """,
    )
    s = read_settings(p)
    assert s.method == "qlora" and s.samples == 1800 and s.samples_is_upper_bound
    f = lint_file(p)
    rules = _rules(f)
    assert {"precision-conflict", "no-grad-clipping", "restarts-short-run", "steps-estimated"} <= set(rules)
    assert [x.key for x in f if x.rule == "restarts-short-run"] == ["lr_scheduler_kwargs.num_cycles"]


def test_hf_style_float_warmup_steps_is_a_ratio(tmp_path):
    p = _write(tmp_path, "learning_rate: 3.0e-5\nwarmup_steps: 0.1\nmax_steps: 1000\n")
    s = read_settings(p)
    assert s.format == "hf" and s.warmup_ratio == 0.1 and s.warmup_steps is None and s.method == "full"
    assert [x.severity for x in lint_file(p)] == ["info"]  # only the "full fine-tuning assumed" note


def test_hf_style_warmup_ratio_notes_transformers5(tmp_path):
    p = _write(tmp_path, "learning_rate: 3.0e-5\nwarmup_ratio: 0.1\nmax_steps: 1000\n")
    assert "warmup-ratio-transformers5" in _rules(lint_file(p))


def test_hpscout_format_keys_and_samples(tmp_path):
    p = _write(
        tmp_path,
        """
        name: x
        data: {train: a.csv}
        train:
          method: lora
          learning_rate: 3e-3
          lr_scheduler: cosine_with_restarts
          scheduler_kwargs: {num_cycles: 3}
          warmup_steps: 200
          epochs: 1
          batch_size: 8
          max_grad_norm: 0
        """,
    )
    f = lint_file(p, samples=2400)  # 300 steps
    keys = {x.rule: x.key for x in f}
    assert keys["warmup-share"] == "train.warmup_steps"
    assert keys["restarts-short-run"] == "train.scheduler_kwargs.num_cycles"
    assert keys["no-grad-clipping"] == "train.max_grad_norm"
    assert [x.severity for x in f if x.rule == "warmup-share"] == ["error"]  # 200/300 = 67%
    # without samples: only the step-free rules
    f2 = lint_file(p)
    assert "steps-unknown" in _rules(f2) and "warmup-share" not in _rules(f2)


def test_hpscout_defaults_are_clean(tmp_path):
    p = _write(tmp_path, "name: x\ndata: {train: a.csv}\ntrain: {learning_rate: 2e-3, warmup_ratio: 0.06, method: lora}\n")
    assert lint_file(p, samples=5000) == []


def test_hpscout_devices_override_and_model_size(tmp_path):
    p = _write(tmp_path, "name: x\ndata: {train: a.csv}\ntrain: {learning_rate: 2e-3, method: lora, devices: 2}\n")
    assert read_settings(p).devices == 2
    assert read_settings(p, devices=4).devices == 4
    assert read_settings(p).model_params == 22_700_000  # the default 'minilm' alias
    assert read_settings(p, model_params=7_000_000_000).model_params == 7_000_000_000


@pytest.mark.parametrize(
    "text",
    [
        "just: text\n",
        "- a\n- b\n",
        "train: {learning_rate: fast}\n",
        "learning_rate: 1e-4\nlr_scheduler_kwargs: 3\n",
        "learning_rate: 1e-4\nper_device_train_batch_size: 0\n",
    ],
)
def test_unreadable_settings_raise_config_error(tmp_path, text):
    with pytest.raises(ConfigError):
        lint_file(_write(tmp_path, text))


def test_missing_file_and_bad_samples(tmp_path):
    with pytest.raises(ConfigError):
        lint_file(tmp_path / "nope.yaml")
    p = _write(tmp_path, "learning_rate: 1e-4\n")
    with pytest.raises(ConfigError):
        lint_file(p, samples=0)


def test_duplicate_keys_rejected_by_safe_loader(tmp_path):
    with pytest.raises(ConfigError, match="duplicate"):
        lint_file(_write(tmp_path, "learning_rate: 1e-4\nlearning_rate: 2e-4\n"))


def test_finding_is_frozen():
    f = Finding("info", "r", "k", "m")
    with pytest.raises(AttributeError):
        f.message = "x"  # type: ignore[misc]


# --------------------------------------------------------------------------- LR calibration and wording (issue 16)

TEMPLATES = __import__("pathlib").Path(__file__).resolve().parents[2] / "src" / "hpscout" / "templates"


def _lr(findings):
    return [(x.rule, x.severity) for x in findings if x.rule in ("lr-range", "lr-low")]


@pytest.mark.parametrize(("causal_lm", "params"), [(False, 22_000_000), (True, 500_000_000), (True, 7_000_000_000), (True, None)])
def test_lora_lr_1e6_is_a_warning(causal_lm, params):
    f = lint_settings(settings(learning_rate=1e-6, causal_lm=causal_lm, model_params=params))
    [hit] = [x for x in f if x.rule == "lr-range"]
    assert hit.severity == "warning" and "more than 10x below the usual range" in hit.message


@pytest.mark.parametrize("model", ["meta-llama/Meta-Llama-3-8B-Instruct", "./my-local-model"])
def test_guides_first_mistake_lora_cosine_at_1e3_warns(tmp_path, model):
    p = _write(
        tmp_path,
        f"""
        model_name_or_path: {model}
        stage: sft
        finetuning_type: lora
        dataset: alpaca_en_demo
        template: llama3
        output_dir: saves/sft
        learning_rate: 1.0e-3
        lr_scheduler_type: cosine
        warmup_ratio: 0.1
        max_steps: 2000
        """,
    )
    assert ("lr-range", "warning") in _lr(lint_file(p))


def test_alpaca_sft_template_is_not_flagged_low():
    # 2e-4 LoRA on Qwen2.5-0.5B: the usual LLM LoRA rate; the encoder-calibrated limits called it "low"
    f = lint_file(TEMPLATES / "alpaca-sft.yaml", samples=1000)
    assert _lr(f) == [] and read_settings(TEMPLATES / "alpaca-sft.yaml").causal_lm
    # the same numbers on an encoder are low (measured on MiniLM: LoRA needs ~2e-3)
    assert _lr(lint_settings(settings(learning_rate=2e-4, model_params=500_000_000))) == [("lr-low", "info")]


def test_causal_lm_lora_limits_come_from_llm_sources():
    # 2e-3 is the usual LoRA rate on MiniLM, but above the usual range for a 0.5B causal LM
    assert _lr(lint_settings(settings(learning_rate=2e-3, model_params=500_000_000))) == []
    assert _lr(lint_settings(settings(learning_rate=2e-3, model_params=500_000_000, causal_lm=True))) == [("lr-range", "warning")]
    [hit] = [x for x in lint_settings(settings(causal_lm=True, model_params=7_000_000_000, learning_rate=2e-3)) if x.rule == "lr-range"]
    assert "the usual range for LoRA on 1-10B causal LMs is 1e-4 to 5e-4" in hit.message and "QLoRA" in hit.message


def test_lr_messages_read_as_sentences():
    [hit] = [x for x in lint_settings(settings(method="full", model_params=7_000_000_000, learning_rate=3e-4)) if x.rule == "lr-range"]
    assert hit.message.startswith("Learning rate 3e-4 is above the usual range: ")
    assert "the usual range for full fine-tuning of 1-10B models is 5e-6 to 5e-5" in hit.message
    # every rule's message is a sentence: a capital or a key first, a full stop last
    many = lint_settings(settings(fp16=True, bf16=True, max_grad_norm=0, batch_size=1, lr_scheduler="constant", learning_rate=5e-2,
                                  warmup_ratio=0.6))
    many += lint_settings(settings(lr_scheduler="cosine_with_restarts", scheduler_kwargs={"num_cycles": 3}, max_steps=300))
    many += lint_settings(settings(samples=None, lr_scheduler="polynomial", method="full", model_params=7_000_000_000, learning_rate=2e-5))
    assert len({x.rule for x in many}) >= 9
    for x in many:
        assert x.message.endswith(".") and (x.message[0].isupper() or x.message.split()[0] in ("fp16", "cosine_with_restarts")), x


def test_restart_count_is_cycles_minus_one():
    f = lint_settings(settings(lr_scheduler="cosine_with_restarts", scheduler_kwargs={"num_cycles": 2}, max_steps=300))
    [hit] = [x for x in f if x.rule == "restarts-short-run"]
    assert "num_cycles 2 (2 cosine decays, 1 restart)" in hit.message


# --------------------------------------------------------------------------- gradient checkpointing


def test_gradient_checkpointing_off_warns_for_7b_full_finetuning():
    big = dict(method="full", model_params=7_000_000_000, learning_rate=2e-5)
    [hit] = [x for x in lint_settings(settings(**big)) if x.rule == "gradient-checkpointing"]
    assert hit.severity == "warning" and "7B model" in hit.message and hit.fix.startswith("set gradient_checkpointing: true")
    assert "gradient-checkpointing" not in _rules(lint_settings(settings(**big, gradient_checkpointing=True)))
    assert "gradient-checkpointing" not in _rules(lint_settings(settings(**{**big, "model_params": 3_000_000_000})))
    assert "gradient-checkpointing" not in _rules(lint_settings(settings(**{**big, "method": "lora", "learning_rate": 2e-4})))
    assert "gradient-checkpointing" not in _rules(lint_settings(settings(**{**big, "model_params": None})))


def test_gradient_checkpointing_read_from_each_format(tmp_path):
    lf = """
        model_name_or_path: Qwen/Qwen2.5-7B
        stage: sft
        finetuning_type: full
        dataset: d
        template: qwen
        output_dir: o
        learning_rate: 1.0e-5
        max_steps: 1000
        warmup_ratio: 0.05
        """
    # LLaMA-Factory checkpoints unless told not to
    assert "gradient-checkpointing" not in _rules(lint_file(_write(tmp_path, lf)))
    [hit] = [x for x in lint_file(_write(tmp_path, lf + "disable_gradient_checkpointing: true\n")) if x.rule == "gradient-checkpointing"]
    assert hit.key == "disable_gradient_checkpointing"
    # plain TrainingArguments default off; the size from --model-size
    hf = _write(tmp_path, "learning_rate: 1.0e-5\nmax_steps: 1000\nwarmup_steps: 50\n", "hf.yaml")
    assert "gradient-checkpointing" in _rules(lint_file(hf, model_params=7_000_000_000))
    assert "gradient-checkpointing" not in _rules(lint_file(hf))
    # hpscout config: the size from the model name
    hp = _write(
        tmp_path,
        "name: x\ntask: causal-lm\nmodel: {name_or_path: meta-llama/Llama-2-7b-hf}\ndata: {train: a.json}\n"
        "train: {learning_rate: 1e-5, method: full, warmup_ratio: 0.05}\n",
        "hp.yaml",
    )
    assert [x.key for x in lint_file(hp) if x.rule == "gradient-checkpointing"] == ["train.gradient_checkpointing"]


def test_random_init_models_skip_the_fine_tuning_lr_ranges(tmp_path):
    """hpscout's seq2seq template trains a tiny model from random weights at 1e-2: not a fine-tuning LR error."""
    from pathlib import Path

    from hpscout.plan import lint_file

    template = Path(__file__).resolve().parents[2] / "src" / "hpscout" / "templates" / "seq2seq-dialogue-summary.yaml"
    findings = lint_file(template)
    lr = [f for f in findings if f.key == "train.learning_rate"]
    assert lr and all(f.severity == "info" and "random weights" in f.message for f in lr)
    assert not [f for f in findings if f.severity == "error"]
