import itertools

import pytest
import yaml

from hpscout._errors import ConfigError
from hpscout.config import config_from_dict, load_yaml_text
from hpscout.plan import (
    DATA_TABLE,
    METHOD_CHOICES,
    PRESET_CHOICES,
    PRESET_TABLE,
    TASK_CHOICES,
    TrainingSettings,
    data_size_bucket,
    guess_model_params,
    lint_settings,
    model_size_bucket,
    parse_model_size,
    preset_row,
    recommend,
)


def _merge(rec):
    data = yaml.safe_load(rec.to_yaml())
    base = {"name": "x", "data": {"train": "a.csv", "target_column": "summary"}}
    return {**base, **data}


@pytest.mark.parametrize(
    "task,samples,size,method,preset",
    list(itertools.product(TASK_CHOICES, (500, 5000, 50_000), ("22M", "7B", "70B"), METHOD_CHOICES, PRESET_CHOICES)),
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
    rec = recommend("sequence-classification", 5000, "22M", "lora", "balanced")
    data, _ = load_yaml_text(rec.to_yaml())
    assert data["train"]["learning_rate"] == pytest.approx(2e-3)
    assert rec.to_yaml().startswith("# hpscout recommend:")


def test_lora_small_encoder_gets_high_lr():
    rec = recommend("sequence-classification", 5000, "22M", "lora", "balanced")
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


def test_data_bucket_changes_epochs_and_warmup():
    small = recommend("sequence-classification", 300, "22M", "lora")
    large = recommend("sequence-classification", 100_000, "22M", "lora")
    assert small.train["epochs"] > large.train["epochs"]
    assert small.train["warmup_ratio"] > large.train["warmup_ratio"]
    assert small.scout["fraction"] == 1.0 and large.scout["fraction"] < 0.05


def test_presets_grow_the_search():
    sizes = [len(recommend("causal-lm", 20_000, "7B", "lora", p).search["space"]) for p in PRESET_CHOICES]
    trials = [recommend("causal-lm", 20_000, "7B", "lora", p).search["trials"] for p in PRESET_CHOICES]
    assert sizes == sorted(sizes) and sizes[0] == 1 and sizes[-1] > sizes[0]
    assert trials == sorted(trials)


def test_full_method_has_no_lora_section():
    rec = recommend("sequence-classification", 5000, "110M", "full", "balanced")
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
