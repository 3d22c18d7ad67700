"""Which LLaMA-Factory keys hpscout maps onto its own config, and back.

One table, :data:`MAPPED_KEYS`, says which training-YAML key stands for which hpscout key
and what LLaMA-Factory assumes when the key is absent (defaults of LLaMA-Factory 0.9.5 with
transformers 5.6). :func:`updates_from_llamafactory` reads a file's keys into hpscout
updates; :func:`llamafactory_from_config` writes a config's values back as LLaMA-Factory
keys. Everything else in the file is kept verbatim (``llamafactory.args``), except the
keys of :data:`REFUSED_VALUES`, which would make subsets meaningless.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping
from typing import Any

from hpscout._errors import ConfigError
from hpscout.config import SCHEDULERS, ExperimentConfig
from hpscout.export import LLAMAFACTORY_VERSION

__all__ = [
    "MAPPED_KEYS",
    "REFUSED_VALUES",
    "TRIAL_KEYS",
    "check_keys",
    "llamafactory_from_config",
    "updates_from_llamafactory",
]

#: LLaMA-Factory key -> (hpscout key, LLaMA-Factory's default when the key is absent)
MAPPED_KEYS: dict[str, tuple[str, Any]] = {
    "model_name_or_path": ("model.name_or_path", None),
    "learning_rate": ("train.learning_rate", 5e-5),
    "lr_scheduler_type": ("train.lr_scheduler", "linear"),
    "lr_scheduler_kwargs": ("train.scheduler_kwargs", None),
    "warmup_ratio": ("train.warmup_ratio", 0.0),
    "warmup_steps": ("train.warmup_steps", 0),
    "num_train_epochs": ("train.epochs", 3.0),
    "max_steps": ("train.max_steps", -1),
    "per_device_train_batch_size": ("train.batch_size", 8),
    "per_device_eval_batch_size": ("train.eval_batch_size", 8),
    "gradient_accumulation_steps": ("train.grad_accum", 1),
    "weight_decay": ("train.weight_decay", 0.0),
    "max_grad_norm": ("train.max_grad_norm", 1.0),
    "finetuning_type": ("train.method", "lora"),
    "lora_rank": ("train.lora.r", 8),
    "lora_alpha": ("train.lora.alpha", None),  # None: LLaMA-Factory uses 2 x lora_rank
    "lora_dropout": ("train.lora.dropout", 0.0),
    "lora_target": ("train.lora.target", "all"),
    "cutoff_len": ("data.max_length", 2048),
    "bf16": ("train.precision", False),
    "fp16": ("train.precision", False),
    "logging_steps": ("train.logging_steps", 500),
    "eval_strategy": ("train.eval_strategy", "no"),
    "eval_steps": ("train.eval_steps", None),
    "seed": ("seed", 42),
    "val_size": ("data.eval_split", 0.0),
}

#: keys every trial sets itself (its own subset, output folder, no checkpoints, no hub, no loggers)
TRIAL_KEYS = (
    "dataset",
    "eval_dataset",
    "dataset_dir",
    "val_size",
    "max_samples",
    "output_dir",
    "overwrite_output_dir",
    "do_train",
    "do_eval",
    "save_strategy",
    "load_best_model_at_end",
    "report_to",
    "plot_loss",
    "push_to_hub",
    "resume_from_checkpoint",
)

#: key -> (values hpscout accepts, why others are refused)
REFUSED_VALUES: dict[str, tuple[tuple[Any, ...], str]] = {
    "stage": (("sft", "pt"), "hpscout scouts sft and pt runs, whose eval_loss ranks trials; the other stages need pairs or rewards"),
    "finetuning_type": (("lora", "full"), "hpscout scouts lora (qlora: lora with quantization_bit) and full fine-tuning"),
    "streaming": ((False, None), "a streamed dataset cannot be cut into nested subsets"),
    "tokenized_path": ((None,), "pre-tokenized data bypasses the subsets hpscout writes"),
    "do_train": ((True, None), "scouting trains"),
}

_LORA_KEYS = ("lora_rank", "lora_alpha", "lora_dropout", "lora_target")
_SCOUTABLE_SCHEDULERS = tuple(s for s in SCHEDULERS if s != "one_cycle")


def check_keys(
    args: Mapping[str, Any], accepted: frozenset[str], *, source: str, lines: Mapping[str, int] | None = None
) -> None:
    """Raise :class:`ConfigError` naming the first key LLaMA-Factory would reject, or a refused value.

    Args:
        args: the training YAML's keys.
        accepted: the keys LLaMA-Factory's parser accepts (:func:`hpscout.export.llamafactory_keys`).
        source: where ``args`` came from, for the message.
        lines: key -> line number in ``source``, when known.
    """

    def where(key: str) -> str:
        line = (lines or {}).get(key)
        return f"in {source}" + (f", line {line}" if line else "")

    for key in args:
        if key not in accepted:
            guess = difflib.get_close_matches(str(key), sorted(accepted), n=1)
            hint = f" (did you mean '{guess[0]}'?)" if guess else ""
            raise ConfigError(
                f"key '{key}'{hint} ({where(key)}) is not a LLaMA-Factory {LLAMAFACTORY_VERSION} training key, "
                "so llamafactory-cli would reject it"
            )
    for key, (allowed, why) in REFUSED_VALUES.items():
        if key in args and args[key] not in allowed:
            shown = ", ".join(repr(v) for v in allowed if v is not None)
            raise ConfigError(f"{key} must be one of {shown} for scouting, but got {args[key]!r} ({where(key)}): {why}")


def _number(args: Mapping[str, Any], key: str, kind: type, source: str) -> Any:
    """A numeric key as LLaMA-Factory's parser reads it (YAML may hold 1e-4 as the string '1e-4')."""
    value = args.get(key, MAPPED_KEYS[key][1])
    if value is None:
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a number, but got {value!r} (in {source})") from None
    if not math.isfinite(number):
        raise ConfigError(f"{key} must be a finite number, but got {value!r} (in {source})")
    if kind is int:
        if not number.is_integer():
            raise ConfigError(f"{key} must be a whole number, but got {value!r} (in {source})")
        return int(number)
    return number


def _flag(args: Mapping[str, Any], key: str) -> bool:
    value = args.get(key, False)
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _lora_target(value: Any) -> str | list[str]:
    names = [n.strip() for n in value.split(",")] if isinstance(value, str) else [str(n) for n in value]
    names = [n for n in names if n]
    return "all-linear" if names == ["all"] else names


def updates_from_llamafactory(args: Mapping[str, Any], *, rows: int | None, source: str) -> tuple[dict[str, Any], list[str]]:
    """hpscout dotted-key updates for the mapped keys of a LLaMA-Factory file, plus notes on what was assumed.

    ``rows`` (training rows of the dataset) turns an integer ``val_size`` into a share.

    Example:
        >>> ups, _ = updates_from_llamafactory({"model_name_or_path": "m", "learning_rate": "1e-4"}, rows=None, source="f")
        >>> ups["train.learning_rate"], ups["train.lora.alpha"]
        (0.0001, 16)
    """
    notes: list[str] = []
    up: dict[str, Any] = {"model.name_or_path": args.get("model_name_or_path")}
    if not up["model.name_or_path"]:
        raise ConfigError(f"model_name_or_path is missing in {source}; LLaMA-Factory needs it too")
    for key, kind in (
        ("learning_rate", float),
        ("num_train_epochs", float),
        ("per_device_train_batch_size", int),
        ("gradient_accumulation_steps", int),
        ("weight_decay", float),
        ("max_grad_norm", float),
        ("cutoff_len", int),
        ("logging_steps", int),
        ("seed", int),
    ):
        up[MAPPED_KEYS[key][0]] = _number(args, key, kind, source)
    if "per_device_eval_batch_size" in args:
        up["train.eval_batch_size"] = _number(args, "per_device_eval_batch_size", int, source)
    max_steps = _number(args, "max_steps", int, source)
    up["train.max_steps"] = max_steps if max_steps and max_steps > 0 else None

    up.update(_scheduler_updates(args, source))
    up.update(_warmup_updates(args, source, notes))
    up.update(_method_updates(args, source, notes))
    up.update(_precision_and_eval_updates(args, source, notes, logging_steps=up["train.logging_steps"]))

    val_size = _number(args, "val_size", float, source)
    if val_size and val_size >= 1:
        if not rows:
            raise ConfigError(f"val_size {val_size:g} counts rows, but the dataset's size is unknown (in {source})")
        val_size = val_size / rows
    if val_size and 0 < val_size < 1:
        up["data.eval_split"] = val_size
    return up, notes


def _scheduler_updates(args: Mapping[str, Any], source: str) -> dict[str, Any]:
    sched = args.get("lr_scheduler_type", "linear")
    if sched not in _SCOUTABLE_SCHEDULERS:
        raise ConfigError(f"lr_scheduler_type must be one of {', '.join(_SCOUTABLE_SCHEDULERS)} to scout it, but got {sched!r} (in {source})")
    kwargs = args.get("lr_scheduler_kwargs")
    if isinstance(kwargs, str):  # LLaMA-Factory also takes the dict as a JSON string
        try:
            kwargs = json.loads(kwargs)
        except json.JSONDecodeError:
            raise ConfigError(f"lr_scheduler_kwargs must be a mapping or its JSON text, but got {kwargs!r} (in {source})") from None
    if kwargs is not None and not isinstance(kwargs, dict):
        raise ConfigError(f"lr_scheduler_kwargs must be a mapping, but got {kwargs!r} (in {source})")
    return {"train.lr_scheduler": sched, "train.scheduler_kwargs": dict(kwargs or {})}


def _warmup_updates(args: Mapping[str, Any], source: str, notes: list[str]) -> dict[str, Any]:
    warmup_steps = _number(args, "warmup_steps", float, source)
    up: dict[str, Any] = {"train.warmup_ratio": _number(args, "warmup_ratio", float, source) or 0.0, "train.warmup_steps": None}
    if warmup_steps and 0 < warmup_steps < 1:  # transformers 5 reads a warmup_steps below 1 as a share of the run
        up["train.warmup_ratio"] = warmup_steps
        notes.append(f"warmup_steps {warmup_steps:g} is below 1, which transformers 5 reads as a share: train.warmup_ratio")
    elif warmup_steps:
        if not warmup_steps.is_integer():
            raise ConfigError(f"warmup_steps must be a whole number of steps or a share below 1, but got {warmup_steps!r} (in {source})")
        up["train.warmup_steps"] = int(warmup_steps)
    return up


def _method_updates(args: Mapping[str, Any], source: str, notes: list[str]) -> dict[str, Any]:
    if args.get("finetuning_type", "lora") != "lora":
        return {"train.method": "full"}
    rank = _number(args, "lora_rank", int, source)
    alpha = _number(args, "lora_alpha", float, source)
    if alpha is None:
        alpha = 2 * rank
        notes.append(f"lora_alpha is unset, so LLaMA-Factory uses 2 x lora_rank = {alpha}: train.lora.alpha = {alpha}")
    return {
        "train.method": "qlora" if args.get("quantization_bit") is not None else "lora",
        "train.lora.r": rank,
        "train.lora.alpha": int(alpha) if float(alpha).is_integer() else alpha,
        "train.lora.dropout": _number(args, "lora_dropout", float, source),
        "train.lora.target": _lora_target(args.get("lora_target", "all")),
    }


def _precision_and_eval_updates(
    args: Mapping[str, Any], source: str, notes: list[str], *, logging_steps: int | None
) -> dict[str, Any]:
    bf16, fp16 = _flag(args, "bf16") or _flag(args, "pure_bf16"), _flag(args, "fp16")
    if bf16 and fp16:
        raise ConfigError(f"bf16 and fp16 cannot both be true (in {source})")
    up: dict[str, Any] = {"train.precision": "bf16" if bf16 else "fp16" if fp16 else "fp32"}
    strategy = args.get("eval_strategy", "no")
    if strategy == "steps":
        steps = _number(args, "eval_steps", int, source) or logging_steps
        up["train.eval_strategy"], up["train.eval_steps"] = "steps", steps
    elif strategy == "epoch":
        up["train.eval_strategy"] = "epoch"
    elif strategy == "no":
        # LLaMA-Factory still evaluates once after training (do_eval); auto does that in a trial
        up["train.eval_strategy"] = "auto"
        notes.append("eval_strategy is 'no': each trial evaluates once, at its end (train.eval_strategy auto)")
    else:
        raise ConfigError(f"eval_strategy must be one of no, steps, epoch, but got {strategy!r} (in {source})")
    return up


def _short(value: float) -> float:
    """A float as a short decimal (6 significant digits), which is what a YAML file should show."""
    return float(f"{value:.6g}")


def _llamafactory_eval_strategy(config: ExperimentConfig) -> str:
    """LLaMA-Factory's ``eval_strategy`` for the config's trials: end is ``no``.

    LLaMA-Factory has no "evaluate once at the end" strategy, but with ``do_eval`` (every trial sets it)
    its sft workflow evaluates once after training and writes the metrics to ``all_results.json``,
    which the runner reads: ``no`` + ``do_eval`` is exactly end. That evaluation skips
    ``trainer_log.jsonl`` (LLaMA-Factory 0.9.5 closes its writer when training ends), so nothing
    streams to the pruner, which is fine: auto never resolves to end with ``search.fidelity: eval``.
    """
    strategy = config.resolved_eval_strategy
    return "no" if strategy == "end" else strategy


def llamafactory_from_config(config: ExperimentConfig) -> dict[str, Any]:
    """The mapped keys of ``config`` as LLaMA-Factory keys (the inverse of :func:`updates_from_llamafactory`).

    Example:
        >>> llamafactory_from_config(cfg)["lora_target"]  # doctest: +SKIP
        'all'
    """
    t, d = config.train, config.data
    out: dict[str, Any] = {
        "model_name_or_path": config.model.name_or_path,
        "learning_rate": _short(t.learning_rate),
        "lr_scheduler_type": t.lr_scheduler,
        "num_train_epochs": float(t.epochs),
        "per_device_train_batch_size": t.batch_size,
        "gradient_accumulation_steps": t.grad_accum,
        "weight_decay": t.weight_decay,
        "max_grad_norm": t.max_grad_norm,
        "finetuning_type": "full" if t.method == "full" else "lora",
        "cutoff_len": d.max_length,
        "bf16": t.precision in ("bf16", "auto"),
        "fp16": t.precision == "fp16",
        "logging_steps": t.logging_steps,
        "eval_strategy": _llamafactory_eval_strategy(config),
        "seed": config.seed,
    }
    if t.scheduler_kwargs:
        out["lr_scheduler_kwargs"] = dict(t.scheduler_kwargs)
    if t.warmup_steps is not None:
        out["warmup_steps"] = t.warmup_steps
    else:
        out["warmup_ratio"] = _short(t.warmup_ratio)
    if t.max_steps is not None:
        out["max_steps"] = t.max_steps
    if t.eval_batch_size is not None:
        out["per_device_eval_batch_size"] = t.eval_batch_size
    if out["eval_strategy"] == "steps":
        out["eval_steps"] = t.eval_steps
    if t.method != "full":
        from hpscout.export import lora_targets

        targets, _ = lora_targets(config)
        out.update(
            lora_rank=t.lora.r,
            lora_alpha=int(t.lora.alpha) if float(t.lora.alpha).is_integer() else t.lora.alpha,
            lora_dropout=t.lora.dropout,
            lora_target="all" if targets == "all-linear" else ",".join(targets),
        )
    if d.eval is None:
        out["val_size"] = _short(d.eval_split)
    return out
