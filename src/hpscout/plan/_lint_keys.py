"""Which keys a flat LLaMA-Factory / HF TrainingArguments YAML may hold, and the right spelling of the rest.

``data/lint_keys.txt`` lists every key that LLaMA-Factory 0.9.x's hparams dataclasses
or transformers' ``TrainingArguments`` / ``Seq2SeqTrainingArguments`` accept (a union
over releases, from ``scripts/gen_lint_keys.py``). A key outside it is checked once
more against the installed transformers, when there is one, so a newer release's
fields are not flagged. Anything else is unknown: LLaMA-Factory refuses the file
("Some keys are not used by the HfArgumentParser") and ``TrainingArguments(**kwargs)``
raises ``TypeError``.

The guides' own invalid keys (a top-level ``power``, ``num_cycles``,
``cosine_restarts``, ``early_stopping_patience``, ``reduce_lr_*``) get the spelling
that does what they meant, from :func:`right_spelling`.

Pure Python: transformers is imported only for a key the list does not know.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib.util
from collections.abc import Mapping
from importlib import resources
from typing import Any

__all__ = [
    "LLAMAFACTORY_REQUIRED",
    "is_known_key",
    "known_keys",
    "right_spelling",
    "suggest_key",
]

#: keys a LLaMA-Factory training YAML cannot do without (the model, the data, its chat
#: template, the method on record, and where the weights go)
LLAMAFACTORY_REQUIRED: tuple[str, ...] = ("model_name_or_path", "dataset", "template", "finetuning_type", "output_dir")

# transformers.optimization names these kwargs for each schedule; ReduceLROnPlateau's are torch's
_PLATEAU_KWARGS = ("patience", "factor", "threshold", "cooldown", "min_lr", "mode", "eps", "threshold_mode")


@functools.lru_cache(maxsize=1)
def known_keys() -> frozenset[str]:
    """Every key in ``data/lint_keys.txt`` (LLaMA-Factory 0.9.x and transformers TrainingArguments)."""
    text = resources.files("hpscout.plan").joinpath("data/lint_keys.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


@functools.lru_cache(maxsize=1)
def _installed_training_args_fields() -> frozenset[str]:
    # only reached for a key the list does not know; a newer transformers may have added it
    if importlib.util.find_spec("transformers") is None:
        return frozenset()
    from transformers import Seq2SeqTrainingArguments

    return frozenset(f.name for f in dataclasses.fields(Seq2SeqTrainingArguments) if f.init)


def is_known_key(key: str) -> bool:
    """True when LLaMA-Factory 0.9.x or transformers' (Seq2Seq)TrainingArguments accepts ``key``.

    Example:
        >>> is_known_key("learning_rate"), is_known_key("learnin_rate")
        (True, False)
    """
    return key in known_keys() or key in _installed_training_args_fields()


def suggest_key(key: str, candidates: frozenset[str] | None = None) -> str | None:
    """The closest of ``candidates`` (default: every known flat key) by difflib, or None when nothing is close.

    Example:
        >>> suggest_key("learnin_rate"), suggest_key("num_train_epoch")
        ('learning_rate', 'num_train_epochs')
    """
    matches = difflib.get_close_matches(key, sorted(known_keys() if candidates is None else candidates), n=1, cutoff=0.8)
    return matches[0] if matches else None


def _flow(mapping: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in mapping.items()) + "}"


def right_spelling(key: str, value: Any, fmt: str) -> tuple[str, str] | None:
    """``(what the key was meant to do, the keys that do it)`` for a known mistake, else None.

    ``fmt`` is ``hpscout`` (keys under ``train:``) or a flat format (``llamafactory``,
    ``hf``). The guides write schedule options as top-level keys and early stopping
    or plateau settings as TrainingArguments keys; neither exists.

    Example:
        >>> right_spelling("power", 2, "llamafactory")[1]
        'lr_scheduler_type: polynomial and lr_scheduler_kwargs: {power: 2}'
    """
    hp = fmt == "hpscout"
    sched, kwargs = ("train.lr_scheduler", "train.scheduler_kwargs") if hp else ("lr_scheduler_type", "lr_scheduler_kwargs")
    shown = value if isinstance(value, (int, float, str)) and not isinstance(value, bool) else "N"
    if key in ("power", "lr_end"):
        return (f"{key} is an option of the polynomial schedule and belongs in {kwargs}",
                f"{sched}: polynomial and {kwargs}: {_flow({key: shown})}")
    if key == "num_cycles":
        return (f"num_cycles is a schedule option and belongs in {kwargs} "
                "(for cosine_with_restarts it counts cosine decays: N decays give N - 1 restarts)",
                f"{kwargs}: {_flow({'num_cycles': shown})}")
    if key in ("min_lr", "min_lr_rate"):
        return (f"{key} is an option of the cosine_with_min_lr schedule and belongs in {kwargs}",
                f"{sched}: cosine_with_min_lr and {kwargs}: {_flow({key: shown})}")
    if key in ("cosine_restarts", "cosine_with_restarts", "num_restarts", "restarts"):
        cycles = value + 1 if isinstance(value, int) and not isinstance(value, bool) and value > 0 else "N"
        return ("restarts are a schedule, not a key",
                f"{sched}: cosine_with_restarts and {kwargs}: {_flow({'num_cycles': cycles})} "
                "(num_cycles counts cosine decays: N decays give N - 1 restarts)")
    if key.startswith("early_stopping_") or key == "early_stopping":
        if hp:
            field = key.removeprefix("early_stopping_") if key != "early_stopping" else "patience"
            return ("hpscout keeps early stopping under train.early_stopping",
                    f"train.early_stopping: {_flow({field if field in ('patience', 'threshold') else 'patience': shown})}")
        lf = "in LLaMA-Factory write early_stopping_steps: N (it adds EarlyStoppingCallback(early_stopping_patience=N)); "
        return ("TrainingArguments has no early-stopping keys: early stopping is transformers' EarlyStoppingCallback",
                lf + "with plain transformers pass EarlyStoppingCallback(early_stopping_patience=N, "
                "early_stopping_threshold=T) to the Trainer, with load_best_model_at_end: true, metric_for_best_model "
                "and eval_strategy matching save_strategy")
    if key.startswith("reduce_lr_") or key == "reduce_on_plateau":
        option = key.removeprefix("reduce_lr_")
        options = {option: shown} if option in _PLATEAU_KWARGS else {"patience": "N", "factor": "F"}
        return ("reduce-on-plateau is a schedule whose options go in the schedule's kwargs",
                f"{sched}: reduce_lr_on_plateau and {kwargs}: {_flow(options)} (torch's ReduceLROnPlateau arguments; "
                "it steps on the evaluation metric, so evaluate regularly)")
    if key == "evaluation_strategy" and not hp:
        return ("evaluation_strategy was renamed eval_strategy (transformers 4.41) and removed in 4.46",
                f"eval_strategy: {shown}")
    return None
