"""Read a training config file into one normalised :class:`TrainingSettings` for lint.

Two readers: hpscout's experiment config (a ``train:`` section, read raw, without
requiring the whole schema to validate) and the flat keys of LLaMA-Factory / HF
``TrainingArguments`` YAML.

Which format a file is: a ``train:`` mapping makes it an hpscout config; otherwise a
file with any key a training YAML takes (or a near miss of one, ``learnin_rate``) is a
flat training YAML, and a LLaMA-Factory one when it holds a key only LLaMA-Factory
knows (``stage``, ``finetuning_type``, ``template``, ``dataset``, ``model_name_or_path``,
...). A LLaMA-Factory file with a training key (``stage``, ``do_train``,
``learning_rate``, ...) is a *training* YAML, whose required keys lint checks
(``llamafactory-cli chat`` / ``export`` files have none). LLaMA-Factory trains causal
LMs, so its settings are marked ``causal_lm``, as are hpscout configs with
``task: causal-lm``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hpscout._errors import ConfigError
from hpscout.config import TrainConfig, load_yaml_file
from hpscout.plan._lint_keys import suggest_key
from hpscout.plan._presets import guess_model_params

__all__ = ["TrainingSettings", "read_settings"]


@dataclass(frozen=True)
class TrainingSettings:
    """Training settings normalised from either config format.

    ``None`` means "not known". ``keys`` maps each field to the key as written in
    the source (``warmup_steps`` -> ``train.warmup_steps`` for hpscout configs);
    ``explicit`` names the fields the file set itself. ``file_keys`` holds the keys
    as written with their values (the top level of a flat file, the ``train:``
    section of an hpscout config), for the key rules; ``training_file`` marks a
    LLaMA-Factory training YAML (its required keys are checked).
    """

    source: str = "<settings>"
    format: Literal["hpscout", "llamafactory", "hf"] = "hpscout"
    learning_rate: float | None = None
    lr_scheduler: str | None = "linear"
    scheduler_kwargs: dict[str, Any] = field(default_factory=dict)
    warmup_ratio: float | None = None
    warmup_steps: int | None = None
    epochs: float | None = None
    max_steps: int | None = None
    batch_size: int = 8
    grad_accum: int = 1
    devices: int = 1
    method: str | None = None
    fp16: bool = False
    bf16: bool = False
    max_grad_norm: float | None = 1.0
    samples: int | None = None
    samples_is_upper_bound: bool = False
    model_params: int | None = None
    causal_lm: bool = False
    gradient_checkpointing: bool | None = None
    #: the model starts from random weights (hpscout's model.from_config): fine-tuning LR ranges do not apply
    random_init: bool = False
    file_keys: dict[str, Any] = field(default_factory=dict)
    training_file: bool = False
    keys: dict[str, str] = field(default_factory=dict)
    explicit: frozenset[str] = frozenset()
    assumptions: tuple[str, ...] = ()

    def key(self, name: str) -> str:
        """The key of field ``name`` as written in the source file."""
        return self.keys.get(name, name)



def read_settings(
    path: str | os.PathLike[str],
    samples: int | None = None,
    *,
    devices: int | None = None,
    model_params: int | None = None,
) -> TrainingSettings:
    """Read a config file into :class:`TrainingSettings` (format detected from its keys)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p} does not exist or is not a file")
    data, _positions = load_yaml_file(p)
    if not isinstance(data, Mapping):
        raise ConfigError(f"{p} must hold a mapping of keys at the top level, but holds {type(data).__name__}")
    if samples is not None and (isinstance(samples, bool) or not isinstance(samples, int) or samples < 1):
        raise ConfigError(f"samples must be an integer >= 1, but got {samples!r}")
    if devices is not None and (isinstance(devices, bool) or not isinstance(devices, int) or devices < 1):
        raise ConfigError(f"devices must be an integer >= 1, but got {devices!r}")
    if isinstance(data.get("train"), Mapping):
        return _from_hpscout(data, str(p), samples, devices, model_params)
    if any(k in _FLAT_KEYS or k in _LLAMAFACTORY_MARKERS or (isinstance(k, str) and suggest_key(k)) for k in data):
        return _from_flat(data, str(p), samples, devices, model_params)
    raise ConfigError(
        f"{p} is neither an hpscout config (no 'train:' section) nor a LLaMA-Factory / HF training YAML "
        f"(none of {', '.join(sorted(_FLAT_KEYS)[:6])}, ...)"
    )


# --------------------------------------------------------------------------- readers

# LLaMA-Factory / HF TrainingArguments keys this reader understands
_FLAT_KEYS = frozenset(
    {
        "learning_rate",
        "lr_scheduler_type",
        "lr_scheduler_kwargs",
        "warmup_steps",
        "warmup_ratio",
        "num_train_epochs",
        "max_steps",
        "per_device_train_batch_size",
        "gradient_accumulation_steps",
        "finetuning_type",
        "quantization_bit",
        "fp16",
        "bf16",
        "num_cycles",
        "max_grad_norm",
        "max_samples",
    }
)
# keys only LLaMA-Factory uses; their presence means its defaults apply (finetuning_type: lora)
_LLAMAFACTORY_MARKERS = frozenset(
    {"stage", "finetuning_type", "template", "dataset", "quantization_bit", "max_samples", "lora_rank", "model_name_or_path"}
)
# keys that make a LLaMA-Factory YAML a training one (chat / export YAMLs have none of them)
_TRAINING_MARKERS = frozenset(
    {
        "stage",
        "do_train",
        "learning_rate",
        "num_train_epochs",
        "max_steps",
        "per_device_train_batch_size",
        "gradient_accumulation_steps",
        "lr_scheduler_type",
        "warmup_steps",
        "warmup_ratio",
    }
)

# transformers TrainingArguments defaults (LLaMA-Factory inherits them)
_HF_DEFAULTS = {
    "learning_rate": 5e-5,
    "lr_scheduler_type": "linear",
    "num_train_epochs": 3.0,
    "per_device_train_batch_size": 8,
    "gradient_accumulation_steps": 1,
    "max_grad_norm": 1.0,
}


def _from_hpscout(
    data: Mapping[str, Any], source: str, samples: int | None, devices: int | None, model_params: int | None
) -> TrainingSettings:
    train = data["train"]
    defaults = {name: f.default for name, f in TrainConfig.model_fields.items()}

    def get(key: str) -> Any:
        return train[key] if key in train else defaults.get(key)

    where = f"in {source}"
    explicit = {k for k in train}
    kwargs = train.get("scheduler_kwargs") or {}
    if not isinstance(kwargs, Mapping):
        raise ConfigError(f"train.scheduler_kwargs must be a mapping, but got {kwargs!r} ({where})")
    precision = get("precision")
    max_grad_norm = train.get("max_grad_norm", defaults["max_grad_norm"])
    assumptions: list[str] = []
    params = model_params
    if params is None:
        model = data.get("model")
        params = guess_model_params(model.get("name_or_path", "minilm") if isinstance(model, Mapping) else "minilm")
    method = _text(get("method"), "train.method", where)
    if "method" not in explicit:
        assumptions.append(f"train.method is not set, so hpscout's default '{method}' is assumed.")
    warmup_steps = _int(train.get("warmup_steps"), "train.warmup_steps", where, minimum=0)
    model_section = data.get("model")
    return TrainingSettings(
        source=source,
        format="hpscout",
        random_init=isinstance(model_section, Mapping) and bool(model_section.get("from_config")),
        learning_rate=_float(get("learning_rate"), "train.learning_rate", where),
        lr_scheduler=_text(get("lr_scheduler"), "train.lr_scheduler", where),
        scheduler_kwargs=dict(kwargs),
        warmup_ratio=_float(get("warmup_ratio"), "train.warmup_ratio", where) if warmup_steps is None or "warmup_ratio" in explicit else None,
        warmup_steps=warmup_steps,
        epochs=_float(get("epochs"), "train.epochs", where),
        max_steps=_int(train.get("max_steps"), "train.max_steps", where, minimum=1),
        batch_size=_int(get("batch_size"), "train.batch_size", where, minimum=1) or 1,
        grad_accum=_int(get("grad_accum"), "train.grad_accum", where, minimum=1) or 1,
        devices=devices or _int(get("devices"), "train.devices", where, minimum=1) or 1,
        method=method,
        fp16=precision == "fp16",
        bf16=precision == "bf16",
        max_grad_norm=_float(max_grad_norm, "train.max_grad_norm", where),
        samples=samples,
        model_params=params,
        causal_lm=data.get("task") == "causal-lm",
        gradient_checkpointing=_bool(train.get("gradient_checkpointing"), "train.gradient_checkpointing", where),
        file_keys={**{k: v for k, v in data.items() if k != "train"}, **{f"train.{k}": v for k, v in train.items()}},
        keys={
            "learning_rate": "train.learning_rate",
            "lr_scheduler": "train.lr_scheduler",
            "num_cycles": "train.scheduler_kwargs.num_cycles",
            "warmup_ratio": "train.warmup_ratio",
            "warmup_steps": "train.warmup_steps",
            "epochs": "train.epochs",
            "max_steps": "train.max_steps",
            "batch_size": "train.batch_size",
            "grad_accum": "train.grad_accum",
            "devices": "train.devices",
            "method": "train.method",
            "fp16": "train.precision",
            "bf16": "train.precision",
            "max_grad_norm": "train.max_grad_norm",
            "gradient_checkpointing": "train.gradient_checkpointing",
        },
        explicit=frozenset(_HPSCOUT_FIELD.get(k, k) for k in explicit),
        assumptions=tuple(assumptions),
    )


_HPSCOUT_FIELD = {"precision": "fp16"}


def _from_flat(
    data: Mapping[str, Any], source: str, samples: int | None, devices: int | None, model_params: int | None
) -> TrainingSettings:
    where = f"in {source}"
    is_lf = any(k in data for k in _LLAMAFACTORY_MARKERS)
    training_file = is_lf and any(k in data for k in _TRAINING_MARKERS)

    def get(key: str) -> Any:
        value = data.get(key)
        return _HF_DEFAULTS.get(key) if value is None and key not in data else value

    assumptions: list[str] = []
    kwargs, cycles_key = _flat_scheduler_kwargs(data, where)
    warmup_ratio, warmup_steps, ratio_key = _flat_warmup(data, where)
    method = _flat_method(data, is_lf, training_file, where, assumptions)
    max_steps = _int(data.get("max_steps"), "max_steps", where, minimum=-1)
    if max_steps is not None and max_steps <= 0:
        max_steps = None  # HF's -1 means "use epochs"
    samples, upper = _flat_samples(data, samples, where)
    params = model_params if model_params is not None else guess_model_params(data.get("model_name_or_path"))
    return TrainingSettings(
        source=source,
        format="llamafactory" if is_lf else "hf",
        learning_rate=_float(get("learning_rate"), "learning_rate", where),
        lr_scheduler=_text(get("lr_scheduler_type"), "lr_scheduler_type", where),
        scheduler_kwargs=kwargs,
        warmup_ratio=warmup_ratio,
        warmup_steps=warmup_steps,
        epochs=_float(get("num_train_epochs"), "num_train_epochs", where),
        max_steps=max_steps,
        batch_size=_int(get("per_device_train_batch_size"), "per_device_train_batch_size", where, minimum=1) or 1,
        grad_accum=_int(get("gradient_accumulation_steps"), "gradient_accumulation_steps", where, minimum=1) or 1,
        devices=devices or 1,
        method=method,
        fp16=bool(data.get("fp16", False)),
        bf16=bool(data.get("bf16", False)),
        max_grad_norm=_float(data["max_grad_norm"], "max_grad_norm", where) if "max_grad_norm" in data else 1.0,
        samples=samples,
        samples_is_upper_bound=upper,
        model_params=params,
        causal_lm=is_lf,  # LLaMA-Factory trains causal LMs
        gradient_checkpointing=_checkpointing(data, is_lf, where),
        file_keys=dict(data),
        training_file=training_file,
        keys=_flat_keys(is_lf, cycles_key, ratio_key),
        explicit=frozenset(
            {_FLAT_FIELD.get(k, k) for k in data}
            | ({"warmup_ratio"} if ratio_key == "warmup_steps" else set())
        ),
        assumptions=tuple(assumptions),
    )


def _flat_scheduler_kwargs(data: Mapping[str, Any], where: str) -> tuple[dict[str, Any], str]:
    """``lr_scheduler_kwargs`` (a mapping or a JSON string) and the key ``num_cycles`` was read from."""
    kwargs: Any = data.get("lr_scheduler_kwargs") or {}
    if isinstance(kwargs, str):  # TrainingArguments also accepts a JSON string
        try:
            kwargs = json.loads(kwargs)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"lr_scheduler_kwargs must be a mapping or a JSON object, but got {kwargs!r} ({where})") from exc
    if not isinstance(kwargs, Mapping):
        raise ConfigError(f"lr_scheduler_kwargs must be a mapping, but got {kwargs!r} ({where})")
    kwargs = dict(kwargs)
    cycles_key = "lr_scheduler_kwargs.num_cycles"
    if "num_cycles" in data:
        kwargs["num_cycles"] = data["num_cycles"]
        cycles_key = "num_cycles"
    return kwargs, cycles_key


def _flat_warmup(data: Mapping[str, Any], where: str) -> tuple[float | None, int | None, str]:
    """(warmup_ratio, warmup_steps, the key the ratio came from).

    transformers 5 reads a float warmup_steps in [0, 1) as a ratio; an int >= 1 is steps.
    transformers 4 / LLaMA-Factory: warmup_steps > 0 wins over warmup_ratio.
    """
    raw_ws = data.get("warmup_steps")
    warmup_steps: int | None = None
    warmup_ratio = _float(data.get("warmup_ratio"), "warmup_ratio", where)
    ratio_key = "warmup_ratio"
    if raw_ws is not None:
        ws = _float(raw_ws, "warmup_steps", where)
        if ws is not None and 0 < ws < 1:
            if warmup_ratio:
                raise ConfigError(f"warmup_steps ({ws}, a ratio in transformers 5) and warmup_ratio are both set ({where})")
            warmup_ratio, ratio_key = ws, "warmup_steps"
        elif ws is not None and ws >= 1:
            warmup_steps = _int(raw_ws, "warmup_steps", where, minimum=0)
    return warmup_ratio, warmup_steps, ratio_key


def _flat_method(
    data: Mapping[str, Any], is_lf: bool, training_file: bool, where: str, assumptions: list[str]
) -> str | None:
    """lora / qlora / full from LLaMA-Factory's finetuning_type (+ quantization_bit); plain HF keys mean full."""
    if not is_lf:
        assumptions.append("The file has plain TrainingArguments keys (no finetuning_type), so full fine-tuning is assumed.")
        return "full"
    method = _text(data.get("finetuning_type", "lora"), "finetuning_type", where)
    if "finetuning_type" not in data and not training_file:  # a training file gets a missing-key error
        assumptions.append("finetuning_type is not set, so LLaMA-Factory's default 'lora' is assumed.")
    if method not in ("lora", "full", "freeze", "oft"):
        raise ConfigError(f"finetuning_type must be one of lora, full, freeze, oft, but got {method!r} ({where})")
    if method == "lora" and data.get("quantization_bit") not in (None, 0):
        method = "qlora"
    if method in ("freeze", "oft"):
        method = "full" if method == "freeze" else "lora"
    return method


def _flat_samples(data: Mapping[str, Any], samples: int | None, where: str) -> tuple[int | None, bool]:
    """Rows per epoch: ``samples`` if given, else LLaMA-Factory's max_samples (an upper bound, less val_size)."""
    max_samples = _int(data.get("max_samples"), "max_samples", where, minimum=1)
    if samples is not None or max_samples is None:
        return samples, False
    rows = max_samples
    val_size = data.get("val_size")
    if isinstance(val_size, (int, float)) and not isinstance(val_size, bool) and 0 < val_size < 1:
        rows = max(1, math.floor(rows * (1 - val_size)))
    return rows, True


def _flat_keys(is_lf: bool, cycles_key: str, ratio_key: str) -> dict[str, str]:
    """Settings field -> the key as written in the file (for messages)."""
    return {
        "learning_rate": "learning_rate",
        "lr_scheduler": "lr_scheduler_type",
        "num_cycles": cycles_key,
        "warmup_ratio": ratio_key,
        "warmup_steps": "warmup_steps",
        "epochs": "num_train_epochs",
        "max_steps": "max_steps",
        "batch_size": "per_device_train_batch_size",
        "grad_accum": "gradient_accumulation_steps",
        "devices": "devices",
        "method": "finetuning_type",
        "fp16": "fp16",
        "bf16": "bf16",
        "max_grad_norm": "max_grad_norm",
        "samples": "max_samples",
        "gradient_checkpointing": "disable_gradient_checkpointing" if is_lf else "gradient_checkpointing",
    }


_FLAT_FIELD = {
    "lr_scheduler_type": "lr_scheduler",
    "num_train_epochs": "epochs",
    "per_device_train_batch_size": "batch_size",
    "gradient_accumulation_steps": "grad_accum",
    "finetuning_type": "method",
}


def _checkpointing(data: Mapping[str, Any], is_lf: bool, where: str) -> bool:
    """Whether the run checkpoints activations: LLaMA-Factory does unless told not to; transformers does not."""
    explicit = _bool(data.get("gradient_checkpointing"), "gradient_checkpointing", where)
    if is_lf:
        return bool(explicit) or not _bool(data.get("disable_gradient_checkpointing"), "disable_gradient_checkpointing", where)
    return bool(explicit)


def _bool(value: Any, key: str, where: str) -> bool | None:
    if value is None:
        return None
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false, but got {value!r} ({where})")
    return value


def _float(value: Any, key: str, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{key} must be a number, but got {value!r} ({where})")
    return float(value)


def _int(value: Any, key: str, where: str, *, minimum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{key} must be an integer >= {minimum}, but got {value!r} ({where})")
    return value


def _text(value: Any, key: str, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be a string, but got {value!r} ({where})")
    return value
