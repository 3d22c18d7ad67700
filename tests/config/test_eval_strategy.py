"""train.eval_strategy: auto resolves to end or epoch; end is refused where evaluations are read during training."""

from __future__ import annotations

import pytest

from hpscout import ConfigError
from hpscout.config import apply_updates, config_from_dict


def config(**train):
    return config_from_dict({"name": "t", "data": {"train": "a.csv"}, "train": train})


def test_auto_is_the_default_and_resolves_to_end():
    cfg = config()
    assert cfg.train.eval_strategy == "auto" and cfg.eval_needs == []
    assert cfg.resolved_eval_strategy == "end"


@pytest.mark.parametrize(
    "updates",
    [
        {"train.early_stopping.patience": 2},
        {"train.save_best_checkpoint": True},
        {"train.lr_scheduler": "reduce_lr_on_plateau"},
        {"search.fidelity": "eval"},
    ],
)
def test_auto_resolves_to_epoch_when_something_reads_evaluations(updates):
    cfg = apply_updates(config(), updates)
    assert cfg.train.eval_strategy == "auto" and len(cfg.eval_needs) == 1
    assert cfg.resolved_eval_strategy == "epoch"


@pytest.mark.parametrize("strategy", ["end", "epoch"])
def test_explicit_strategies_are_kept(strategy):
    assert config(eval_strategy=strategy).resolved_eval_strategy == strategy
    assert config(eval_strategy="steps", eval_steps=5).resolved_eval_strategy == "steps"


def test_end_with_early_stopping_is_refused_with_the_reason():
    with pytest.raises(ConfigError) as err:
        config(eval_strategy="end", early_stopping={"patience": 2})
    msg = str(err.value)
    assert msg.startswith("train.eval_strategy must be one of auto, epoch, steps when something reads evaluations")
    assert "train.early_stopping.patience=2 stops on evaluations" in msg
    assert "but got 'end', which evaluates only once, after the last step" in msg


@pytest.mark.parametrize(
    ("updates", "reason"),
    [
        ({"train.save_best_checkpoint": True}, "train.save_best_checkpoint=True keeps the weights"),
        ({"train.lr_scheduler": "reduce_lr_on_plateau"}, "reduce_lr_on_plateau lowers the LR on evaluations"),
        ({"search.fidelity": "eval"}, "search.fidelity=eval prunes between the evaluations"),
    ],
)
def test_end_is_refused_for_every_reader(updates, reason):
    with pytest.raises(ConfigError, match="train.eval_strategy must be one of auto, epoch, steps") as err:
        apply_updates(config(eval_strategy="end"), updates)
    assert reason in str(err.value)


def test_end_is_refused_when_a_searched_or_ablated_value_reads_evaluations():
    cfg = config(eval_strategy="end")
    space = {"train.lr_scheduler": {"type": "categorical", "choices": ["linear", "reduce_lr_on_plateau"]}}
    with pytest.raises(ConfigError, match="search.space.train.lr_scheduler tries train.lr_scheduler=reduce_lr_on_plateau"):
        apply_updates(cfg, {"search.space": space})
    with pytest.raises(ConfigError, match="ablation.factors.train.early_stopping.patience tries train.early_stopping.patience=3"):
        apply_updates(cfg, {"ablation.factors": {"train.early_stopping.patience": [None, 3]}})
    # values that read nothing are fine
    ok = apply_updates(cfg, {"search.space": {"train.lr_scheduler": {"type": "categorical", "choices": ["linear", "cosine"]}}})
    assert ok.resolved_eval_strategy == "end"


def test_unknown_strategy_lists_the_allowed_values():
    with pytest.raises(ConfigError, match="'auto', 'end', 'epoch' or 'steps'"):
        config(eval_strategy="sometimes")
