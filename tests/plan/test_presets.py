import itertools

import pytest
import yaml

from hpscout._errors import ConfigError
from hpscout.config import config_from_dict, load_yaml_text
from hpscout.plan import (
    BUDGET_CHOICES,
    DATA_TABLE,
    GPU_TABLE,
    HYPERPARAMETER_SETS,
    METHOD_CHOICES,
    PRESET_CHOICES,
    PRESET_TABLE,
    TASK_CHOICES,
    USE_CASES,
    TrainingSettings,
    data_size_bucket,
    device_batch,
    gpu_row,
    guess_model_params,
    lint_settings,
    model_size_bucket,
    parse_model_size,
    preset_row,
    recommend,
    warmup_ratio_for,
)


def _merge(rec):
    data = yaml.safe_load(rec.to_yaml())
    base = {"name": "x", "data": {"train": "a.csv", "target_column": "summary"}}
    return {**base, **data}


@pytest.mark.parametrize(
    "task,samples,size,method,preset",
    list(itertools.product(TASK_CHOICES, (500, 5000, 50_000), ("22M", "7B", "70B"), METHOD_CHOICES, BUDGET_CHOICES)),
)
def test_every_recommendation_validates_as_config(task, samples, size, method, preset):
    rec = recommend(task, samples, size, method, preset)
    cfg = config_from_dict(_merge(rec))
    assert cfg.train.method == method
    assert cfg.search.space["train.learning_rate"].log is True
    assert cfg.scout.fidelities[-1] == cfg.scout.fraction
    # only the train and search sections, merged into a minimal config, validate too
    minimal = {"name": "x", "data": {"train": "a.csv"}, "train": rec.train, "search": rec.search}
    config_from_dict(minimal)
    # the step floor accepts the ladder as recommended: no rung dropped, the fraction not raised
    # (unless even all rows are under the floor: then it scouts on all of them)
    from hpscout.plan import plan_ladder
    from hpscout.search import worst_case

    try:
        ladder = plan_ladder(cfg.scout.fidelities, cfg.scout.fraction, samples, worst_case(cfg), min_steps=cfg.scout.min_steps)
    except ConfigError:
        assert cfg.scout.fraction == 1.0 and cfg.scout.fidelities == [1.0]
    else:
        assert not ladder.changed, ladder.message()


def test_yaml_also_parses_with_hpscout_loader():
    rec = recommend("sequence-classification", 5000, "22M", "lora", "medium")
    data, _ = load_yaml_text(rec.to_yaml())
    assert data["train"]["learning_rate"] == pytest.approx(2e-3)
    assert rec.to_yaml().startswith("# hpscout recommend:")


def test_lora_small_encoder_gets_high_lr():
    rec = recommend("sequence-classification", 5000, "22M", "lora", "medium")
    assert 1e-3 <= rec.train["learning_rate"] <= 5e-3
    space = rec.search["space"]["train.learning_rate"]
    assert space["low"] <= 5e-4 and space["high"] >= 5e-3
    assert rec.search["metric"] == "eval_accuracy" and rec.search["direction"] == "maximize"


def test_llm_rows_follow_the_literature():
    assert 1e-4 <= recommend("causal-lm", 50_000, "7B", "lora").train["learning_rate"] <= 3e-4
    assert 1e-4 <= recommend("causal-lm", 50_000, "7B", "qlora").train["learning_rate"] <= 2e-4
    assert 1e-5 <= recommend("sequence-classification", 50_000, "110M", "full").train["learning_rate"] <= 5e-5
    rec = recommend("causal-lm", 50_000, "7B", "lora")
    assert rec.train["lr_scheduler"] == "cosine" and rec.search["metric"] == "eval_loss"


def test_data_bucket_changes_epochs():
    small = recommend("sequence-classification", 300, "22M", "lora")
    large = recommend("sequence-classification", 100_000, "22M", "lora")
    assert small.train["epochs"] > large.train["epochs"]
    assert small.scout["fraction"] == 1.0 and large.scout["fraction"] < 0.05


def test_presets_grow_the_search():
    sizes = [len(recommend("causal-lm", 20_000, "7B", "lora", p).search["space"]) for p in BUDGET_CHOICES]
    trials = [recommend("causal-lm", 20_000, "7B", "lora", p).search["trials"] for p in BUDGET_CHOICES]
    assert sizes == sorted(sizes) and sizes[0] == 1 and sizes[-1] > sizes[0]
    assert trials == sorted(trials)


def test_full_method_has_no_lora_section():
    rec = recommend("sequence-classification", 5000, "110M", "full", "medium")
    assert "lora" not in rec.train and "train.weight_decay" in rec.search["space"]


def test_recommendations_lint_clean():
    """The recommender and the lint read the same table: a recommendation never trips an LR or warmup rule."""
    for task, samples, size, method in itertools.product(TASK_CHOICES, (500, 5000, 50_000), ("22M", "7B", "70B"), METHOD_CHOICES):
        rec = recommend(task, samples, size, method)
        t = rec.train
        s = TrainingSettings(
            learning_rate=t["learning_rate"], lr_scheduler=t["lr_scheduler"], warmup_ratio=t["warmup_ratio"],
            epochs=t["epochs"], batch_size=t["batch_size"], grad_accum=t["grad_accum"], method=method,
            samples=samples, model_params=rec.model_params,
        )
        # LR and warmup rules only: recommend has no gradient-checkpointing key, which lint wants for >= 7B full runs
        lr_or_warmup = ("lr-range", "lr-low", "warmup-share", "warmup-short")
        assert [f for f in lint_settings(s) if f.severity != "info" and f.rule in lr_or_warmup] == [], (task, samples, size, method)


def test_table_is_complete_and_sane():
    keys = {(r.method, r.size) for r in PRESET_TABLE}
    assert keys == set(itertools.product(METHOD_CHOICES, ("<1B", "1-10B", ">10B")))
    for r in PRESET_TABLE:
        assert r.lr_low <= r.lr <= r.lr_high <= r.lr_warn_above < r.lr_error_above, r
        assert r.source
    assert [r.bucket for r in DATA_TABLE] == ["<1k", "1k-10k", ">10k"]


@pytest.mark.parametrize(
    "text,value",
    [("22M", 22_000_000), ("1.1B", 1_100_000_000), ("7b", 7_000_000_000), ("70B", 70_000_000_000), ("350000000", 350_000_000), (125_000_000, 125_000_000)],
)
def test_parse_model_size(text, value):
    assert parse_model_size(text) == value


@pytest.mark.parametrize("text", ["big", "7 GB", "-1B", "0", "", True])
def test_parse_model_size_rejects(text):
    with pytest.raises(ConfigError):
        parse_model_size(text)


def test_buckets_and_name_guessing():
    assert [model_size_bucket(n) for n in (22e6, 1e9, 7e9, 10e9, 70e9)] == ["<1B", "1-10B", "1-10B", "1-10B", ">10B"]
    assert [data_size_bucket(n) for n in (999, 1000, 10_000, 10_001)] == ["<1k", "1k-10k", "1k-10k", ">10k"]
    assert guess_model_params("Qwen/Qwen2.5-0.5B-Instruct") == 500_000_000
    assert guess_model_params("TinyLlama/TinyLlama-1.1B-Chat-v1.0") == 1_100_000_000
    assert guess_model_params("minilm") == 22_700_000
    assert guess_model_params("bert-base-uncased") is None
    assert preset_row("lora", None).size == "<1B"


@pytest.mark.parametrize(
    "args",
    [
        ("token-classification", 100, "22M", "lora", "quick"),
        ("causal-lm", 0, "7B", "lora", "quick"),
        ("causal-lm", 100, "7B", "dora", "quick"),
        ("causal-lm", 100, "7B", "lora", "huge"),
        ("causal-lm", 100, "seven", "lora", "quick"),
    ],
)
def test_recommend_rejects_bad_input(args):
    with pytest.raises(ConfigError):
        recommend(*args)


# --------------------------------------------------------------------------- the guides' presets (issue 16, section 4)


def test_warmup_follows_the_guides_rule():
    # the guides: default 10%, small data 3-5%, large data 5-10%, LoRA 3-5%, at least 50 steps, at most 20%
    assert warmup_ratio_for(0.1, 10_000, "full") == 0.1
    assert warmup_ratio_for(0.1, 10_000, "lora") == 0.05  # LoRA's 3-5%
    assert warmup_ratio_for(0.1, 10_000, "lora", explicit=True) == 0.1  # a value the guides gave stays
    assert warmup_ratio_for(0.05, 400, "full") == 0.13  # 50 steps of 400 -> 12.5%, rounded up
    assert warmup_ratio_for(0.1, 100, "full") == 0.2  # 50 of 100 would be 50%: capped at 20%
    assert warmup_ratio_for(0.0, None, "full") == 0.0
    large_full = recommend("sequence-classification", 200_000, "110M", "full")
    large_lora = recommend("causal-lm", 200_000, "7B", "lora")
    small_full = recommend("sequence-classification", 800, "110M", "full")  # 500 optimizer steps
    tiny_full = recommend("sequence-classification", 300, "110M", "full")  # 190 optimizer steps
    assert large_full.train["warmup_ratio"] == 0.1 and large_lora.train["warmup_ratio"] == 0.05
    # small data: the guides' 3-5%, but never under 50 warmup steps nor over 20% of the run
    assert small_full.train["warmup_ratio"] == 0.1 and tiny_full.train["warmup_ratio"] == 0.2
    assert any("floor of 50 warmup steps (500 optimizer steps" in n for n in small_full.notes)
    assert [r.warmup_ratio for r in DATA_TABLE] == [0.05, 0.1, 0.1]


def _validates(rec):
    cfg = config_from_dict(_merge(rec))
    assert cfg.train.learning_rate == rec.train["learning_rate"]
    return cfg


@pytest.mark.parametrize("case", USE_CASES, ids=lambda c: c.name)
def test_every_use_case_carries_the_guides_values_and_validates(case):
    rec = recommend("causal-lm", None, "7B", use_case=case.name)
    cfg = _validates(rec)
    assert rec.samples == case.samples and rec.method == case.method and rec.use_case == case.name
    for key in ("learning_rate", "lr_scheduler", "batch_size", "grad_accum", "warmup_ratio"):
        given = getattr(case, key)
        if given is not None and key != "warmup_ratio":
            assert rec.train[key] == given, key
    if case.warmup_ratio is not None:  # the guides' ratio, raised only by their own 50-step floor
        assert rec.train["warmup_ratio"] >= case.warmup_ratio
    assert any(case.guide in s for s in rec.sources)
    lo, hi = cfg.search.space["train.learning_rate"].low, cfg.search.space["train.learning_rate"].high
    assert lo <= rec.train["learning_rate"] <= hi  # the search covers the guides' start
    if case.learning_rate is not None and case.learning_rate < 1e-4:
        # LLM LoRA sources start at 1e-4..2e-4: the disagreement is said, with the source
        assert any("below the" in n and "QLoRA paper" in n for n in rec.notes), rec.notes


def test_use_case_values_the_guides_leave_open_are_said():
    rec = recommend("causal-lm", 3000, "1.5B", use_case="prototype")
    assert rec.method == "qlora" and rec.samples == 3000
    assert any("the guides give no learning_rate" in n for n in rec.notes)


@pytest.mark.parametrize("hp", HYPERPARAMETER_SETS, ids=lambda h: h.name)
def test_hyperparameter_sets_are_the_guides(hp):
    rec = recommend("seq2seq", 8000, "124M", "full", preset=hp.name)
    cfg = _validates(rec)
    t = cfg.train
    assert (t.learning_rate, t.batch_size, t.grad_accum, t.epochs) == (hp.learning_rate, hp.batch_size, hp.grad_accum, hp.epochs)
    assert (t.warmup_ratio, t.lr_scheduler) == (hp.warmup_ratio, hp.lr_scheduler)
    assert t.early_stopping.patience == hp.early_stopping_patience


def test_the_guides_sets_by_name():
    by = {h.name: h for h in HYPERPARAMETER_SETS}
    assert PRESET_CHOICES == ("quick", "balanced", "best") and BUDGET_CHOICES == ("small", "medium", "large")
    assert (by["quick"].learning_rate, by["quick"].batch_size, by["quick"].epochs, by["quick"].precision) == (5e-5, 32, 10, "fp16")
    assert (by["balanced"].grad_accum, by["balanced"].lr_scheduler, by["balanced"].epochs) == (2, "cosine", 20)
    best = recommend("seq2seq", 8000, "124M", "full", preset="best")
    # cosine_with_restarts restarts only with num_cycles > 1 (transformers' default 1 is plain cosine)
    assert best.train["scheduler_kwargs"] == {"num_cycles": 2}


def test_a_guides_lr_outside_hpscouts_measured_range_is_noted():
    # LoRA on a 22M encoder: hpscout measured 2e-3..3e-3 working and 5e-4 at chance; the guides' 5e-5 is a full-FT LR
    rec = recommend("sequence-classification", 20_000, "22M", "lora", preset="quick")
    assert any("the guides' quick set starts at LR 5e-05, below" in n and "measured on MiniLM" in n for n in rec.notes)
    assert rec.search["space"]["train.learning_rate"]["low"] <= 5e-5


def test_use_case_and_preset_are_exclusive_and_names_are_checked():
    with pytest.raises(ConfigError, match="not both"):
        recommend("causal-lm", 5000, "7B", use_case="chatbot", preset="quick")
    with pytest.raises(ConfigError, match="chatbot, summarization, prototype, code, creative"):
        recommend("causal-lm", 5000, "7B", use_case="poetry")
    with pytest.raises(ConfigError, match="small, medium, large"):
        recommend("causal-lm", 5000, "7B", "lora", "balanced")
    with pytest.raises(ConfigError, match="samples"):
        recommend("causal-lm", None, "7B")


# --------------------------------------------------------------------------- GPUs


def test_device_batch_reproduces_the_guides_per_gpu_ranges():
    # the guides' ranges are for their ~124M seq2seq model (full fine-tuning)
    for row in GPU_TABLE:
        if row.guide_range is not None:
            lo, hi = row.guide_range
            got = device_batch(124_000_000, "full", 1024, gpu=row.name).batch_size
            assert lo <= got <= hi, (row.name, got)


def test_device_batch_scales_with_model_size_and_method():
    small = device_batch(124_000_000, "full", 64, gpu="A100")
    big = device_batch(7_000_000_000, "lora", 64, gpu="A100")
    assert big.batch_size < small.batch_size and big.batch_size * big.grad_accum >= 64
    # 16 bytes per parameter for full fine-tuning with Adam: 7B does not fit in 40 GB; LoRA does, QLoRA leaves more
    assert not device_batch(7_000_000_000, "full", 64, gpu="A100").fits
    assert device_batch(7_000_000_000, "qlora", 64, gpu="A100").batch_size >= big.batch_size
    assert device_batch(7_000_000_000, "lora", 64, gpu="A100", memory_gb=80).batch_size > big.batch_size
    # never more per device than the effective batch asks for
    assert device_batch(124_000_000, "lora", 4, gpu="H100").batch_size == 4
    assert gpu_row("RTX 3090").name == "3090" and gpu_row("a100").name == "A100"
    with pytest.raises(ConfigError, match="A100"):
        gpu_row("B200")


def test_recommend_for_a_gpu_keeps_the_effective_batch_and_says_how():
    plain = recommend("causal-lm", 50_000, "7B", "lora", "large")
    rec = recommend("causal-lm", 50_000, "7B", "lora", "large", gpu="4090")
    assert rec.train["batch_size"] * rec.train["grad_accum"] == plain.train["batch_size"] * plain.train["grad_accum"]
    assert any(n.startswith("4090 24 GB:") and "per-device batch" in n for n in rec.notes)
    assert any("the guides give batch 8 for the 4090 class" in n for n in rec.notes)
    assert all(c <= rec.train["batch_size"] for c in rec.search["space"].get("train.batch_size", {}).get("choices", []))
    _validates(rec)
    v100 = recommend("seq2seq", 8000, "124M", "full", preset="quick", gpu="V100")
    assert v100.train["precision"] == "fp16"  # Volta has no bf16
    assert any("fp16" in n for n in v100.notes)
    tight = recommend("causal-lm", 5000, "7B", "qlora", gpu="4060")
    assert any("does not fit" in n and "gradient_checkpointing" in n and "method qlora" not in n for n in tight.notes)


def test_gpu_memory_alone_is_enough():
    rec = recommend("causal-lm", 50_000, "7B", "lora", gpu_mem=80)
    assert rec.gpu == "80 GB" and rec.train["batch_size"] * rec.train["grad_accum"] == 16
    assert any(n.startswith("the GPU 80 GB:") for n in rec.notes) and "GPU 80 GB" in rec.to_yaml().splitlines()[0]
    with pytest.raises(ConfigError, match="--gpu NAME or --gpu-mem GB"):
        device_batch(7_000_000_000, "lora", 16)
