"""What every export format shares: the final config moved to the full data, its plan and provenance."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpscout._errors import ExportError
from hpscout.config import ExperimentConfig, apply_updates
from hpscout.export._full_data import FullDataPlan, full_data_plan
from hpscout.export._provenance import (
    Provenance,
    _sub,
    build_provenance,
    final_config,
    final_config_source,
    lr_correction,
    pick_steps,
    read_run_analysis,
    scout_info,
)
from hpscout.runner import LORA_PRESETS, model_family, scheduler_kwargs

__all__ = [
    "EXPORT_PRECISIONS",
    "BestModel",
    "Prepared",
    "best_model_settings",
    "export_precision",
    "precision_flags",
    "prepare_export",
    "scheduler_args",
    "TrainerSettings",
    "trainer_settings",
]

#: target precisions ``hpscout export --precision`` offers
EXPORT_PRECISIONS = ("bf16", "fp16", "fp32")

# what each target precision needs from the machine that trains
_PRECISION_NEEDS = {
    "bf16": "bf16 needs a GPU with bfloat16 (NVIDIA Ampere or newer: A100, H100, RTX 30xx/40xx; recent AMD, TPU); "
            "TrainingArguments raises on a V100, T4 or CPU: export --precision fp16 for those GPUs, fp32 for CPU",
    "fp16": "fp16 (mixed precision with loss scaling) needs a CUDA GPU; export --precision fp32 for CPU",
    "fp32": "fp32 runs anywhere, CPU included, at twice the activation memory of bf16/fp16",
}


@dataclass(frozen=True)
class Prepared:
    """The final config for full-scale training and everything known about it."""

    run_dir: Path
    scouted: ExperimentConfig
    config: ExperimentConfig
    source: Path
    plan: FullDataPlan
    provenance: Provenance
    analysis: dict[str, Any]
    #: ``--precision`` when given (the config's train.precision then holds it), else None
    precision_choice: str | None = None

    @property
    def notes(self) -> list[str]:
        return self.provenance.notes


def prepare_export(
    run_dir: str | Path,
    *,
    full_samples: int | None = None,
    devices: int | None = None,
    storage: str | None = None,
    lr_correction_mode: str = "horizon",
    precision: str | None = None,
) -> Prepared:
    """Load the final config, plan the full-data run, apply the LR correction and gather provenance.

    ``precision`` (one of :data:`EXPORT_PRECISIONS`) replaces ``train.precision`` for the target
    machine; unset, the scouted precision stays and ``auto`` is written as bf16.
    """
    if precision is not None and precision not in EXPORT_PRECISIONS:
        raise ExportError(f"--precision must be one of {', '.join(EXPORT_PRECISIONS)}, but got {precision!r}")
    root = Path(run_dir)
    if not root.is_dir():
        raise ExportError(f"run folder {root} does not exist")
    source = final_config_source(root)
    scouted = final_config(root)
    analysis = read_run_analysis(root)
    info = scout_info(root, storage)
    known_rows, known_src = _known_full_rows(analysis)
    plan = full_data_plan(
        scouted,
        full_samples=full_samples,
        devices=devices,
        scout_samples=info.train_samples,
        scout_fraction=info.fraction or scouted.scout.fraction,
        known_full_rows=known_rows,
        known_full_rows_source=known_src,
    )
    correction = lr_correction(
        scouted,
        analysis.get("lr_scaling"),
        mode=lr_correction_mode,
        full_total_steps=plan.total_steps,
        full_samples=plan.samples,
        scout_fraction=info.fraction,
        pick_steps=pick_steps(analysis, plan.scout_total_steps),
    )
    t = scouted.train
    updates: dict[str, Any] = {
        "train.learning_rate": correction.corrected_lr,
        "train.devices": plan.devices,
        "train.batch_size": plan.batch_size,
        "train.grad_accum": plan.grad_accum,
        # the eval batch only needs memory, which the scouted per-device batch proved
        "train.eval_batch_size": t.eval_batch_size or 2 * t.batch_size,
        "train.logging_steps": plan.logging_steps,
    }
    if t.max_steps is not None and plan.max_steps is not None:
        updates["train.max_steps"] = plan.max_steps
    if t.warmup_steps is not None and plan.warmup_steps is not None:
        updates["train.warmup_steps"] = plan.warmup_steps
    # the full run evaluates per epoch unless scouted with steps (full_run_eval_strategy)
    updates["train.eval_strategy"] = plan.eval_strategy
    if plan.eval_strategy == "steps" and plan.eval_steps is not None:
        updates["train.eval_steps"] = plan.eval_steps
    if precision is not None:
        updates["train.precision"] = precision
    full = apply_updates(scouted, updates, source="full-data export")
    provenance = build_provenance(root, scouted, source, info, analysis, correction, list(plan.notes))
    return Prepared(root, scouted, full, source, plan, provenance, analysis, precision)


def _known_full_rows(analysis: dict[str, Any]) -> tuple[int | None, str]:
    cost = _sub(analysis, "cost")
    rows = cost.get("full_train_rows")
    if isinstance(rows, int) and rows > 0:
        return rows, "analysis.json cost.full_train_rows"
    law = _sub(analysis, "lr_scaling")
    full = _sub(law, "full")
    rows = full.get("train_rows")
    if isinstance(rows, int) and rows > 0:
        return rows, "analysis.json lr_scaling.full.train_rows"
    return None, ""


def scheduler_args(config: ExperimentConfig, total_steps: int | None, fmt: str) -> tuple[str, dict[str, Any] | None]:
    """``lr_scheduler_type`` and ``lr_scheduler_kwargs`` for a transformers-based trainer.

    Raises:
        ExportError: the schedule is torch's OneCycleLR (no transformers name), or it needs the run length.
    """
    t = config.train
    if t.lr_scheduler == "one_cycle":
        raise ExportError(
            f"train.lr_scheduler one_cycle is torch's OneCycleLR, which {fmt} cannot express "
            "(it takes transformers' schedule names); export with --format json, or pick a transformers schedule "
            "such as cosine with warmup and re-check it"
        )
    given = dict(t.scheduler_kwargs)
    if "decay_ratio" in given and total_steps is None:
        raise ExportError("train.scheduler_kwargs.decay_ratio needs the full run's length in steps: pass --full-samples N")
    kwargs = scheduler_kwargs(t.lr_scheduler, given, total_steps or 1)
    return t.lr_scheduler, (kwargs or None)


def export_precision(config: ExperimentConfig, choice: str | None = None) -> tuple[str, str]:
    """``(target precision, note)``: ``choice`` (``--precision``), else the scouted one with ``auto`` as bf16.

    The note says how the target was chosen and what it needs from the machine that trains.

    Example:
        >>> export_precision(config, "fp32")[0]  # doctest: +SKIP
        'fp32'
    """
    p = config.train.precision
    if choice is not None:
        target, how = choice, f"precision {choice} (--precision {choice})"
    elif p == "auto":
        target, how = "bf16", "precision auto -> bf16 (the default export target)"
    else:
        target, how = p, f"precision {p} as scouted"
    return target, f"{how}: {_PRECISION_NEEDS[target]}"


def precision_flags(prep: Prepared) -> tuple[dict[str, bool], str]:
    """bf16/fp16 flags for the full run, and the :func:`export_precision` note."""
    target, note = export_precision(prep.scouted, prep.precision_choice)
    return {"bf16": target == "bf16", "fp16": target == "fp16"}, note


@dataclass(frozen=True)
class BestModel:
    """What the full run keeps of the best evaluation: checkpoint restore, its metric, early stopping."""

    load_best: bool  # restore the best checkpoint at the end (early stopping, or train.save_best_checkpoint)
    metric: str | None  # metric_for_best_model, when something reads it (None: leave it unset)
    greater_is_better: bool
    patience: int | None  # EarlyStoppingCallback(early_stopping_patience=...), None = no early stopping
    threshold: float  # EarlyStoppingCallback(early_stopping_threshold=...)


def best_model_settings(config: ExperimentConfig) -> BestModel:
    """The best-model settings of a config, as the runner trains them (:func:`hpscout.runner._hf_trainer.build_training_args`).

    ``metric_for_best_model`` applies when the best checkpoint is restored (early stopping,
    ``train.save_best_checkpoint``) and to ``reduce_lr_on_plateau``, which watches it.
    """
    t = config.train
    load_best = t.restores_best
    watched = load_best or t.lr_scheduler == "reduce_lr_on_plateau"
    return BestModel(
        load_best=load_best,
        metric=config.search.metric if watched else None,
        greater_is_better=config.search.direction == "maximize",
        patience=t.early_stopping.patience,
        threshold=t.early_stopping.threshold,
    )


def warmup_value(plan: FullDataPlan, config: ExperimentConfig) -> tuple[str, float | int]:
    """``("warmup_steps", steps)`` when the full run's length is known, else ``("warmup_ratio", ratio)``."""
    if plan.warmup_steps is not None:
        return "warmup_steps", int(plan.warmup_steps)
    ratio = plan.warmup_ratio if plan.warmup_ratio is not None else config.train.warmup_ratio
    if not 0 <= ratio < 1 or not math.isfinite(ratio):
        raise ExportError(f"warmup ratio must be in [0, 1), but got {ratio}")
    return "warmup_ratio", float(ratio)



@dataclass(frozen=True)
class TrainerSettings:
    """What every transformers-based export writes the same way: schedule, warmup, precision, best model."""

    scheduler: str
    scheduler_kwargs: dict[str, Any] | None
    warmup_key: str  # warmup_steps when the full run's length is known, else warmup_ratio
    warmup: float | int
    precision_flags: dict[str, bool]
    precision_note: str
    best: BestModel


def trainer_settings(prep: Prepared, fmt: str) -> TrainerSettings:
    """The :class:`TrainerSettings` of a prepared export; ``fmt`` names the format in error messages.

    Raises:
        ExportError: the schedule or the warmup cannot be written (see :func:`scheduler_args`, :func:`warmup_value`).
    """
    sched, sched_kwargs = scheduler_args(prep.config, prep.plan.total_steps, fmt)
    warm_key, warm = warmup_value(prep.plan, prep.config)
    flags, note = precision_flags(prep)
    return TrainerSettings(sched, sched_kwargs, warm_key, warm, flags, note, best_model_settings(prep.config))

# name fragments -> attention naming family, for models that are neither local nor cached
_NAME_HINTS = (
    ("distilbert", "distilbert"),
    ("roberta", "bert"),
    ("electra", "bert"),
    ("minilm", "bert"),
    ("bert", "bert"),
    ("llama", "llama"),
    ("qwen", "llama"),
    ("mistral", "llama"),
    ("mixtral", "llama"),
    ("gemma", "llama"),
    ("t5", "t5"),
    ("bart", "bart"),
    ("opt-", "bart"),
    ("gpt2", "gpt2"),
)


def model_type_of(config: ExperimentConfig) -> tuple[str | None, str]:
    """The model's ``model_type`` without loading it: from_config, a local or cached config.json, or None."""
    m = config.model
    if m.from_config and isinstance(m.from_config.get("model_type"), str):
        return m.from_config["model_type"], "model.from_config"
    if m.name_or_path == "minilm":
        return "bert", "the minilm alias (a BERT model)"
    local = Path(m.name_or_path) / "config.json"
    candidates = [local] if local.is_file() else []
    if not candidates and "/" in m.name_or_path and not Path(m.name_or_path).exists():
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(m.name_or_path, "config.json")
            if isinstance(cached, str):
                candidates.append(Path(cached))
        except ImportError:
            pass
    for path in candidates:
        try:
            model_type = json.loads(path.read_text(encoding="utf-8")).get("model_type")
        except (OSError, ValueError):
            continue
        if isinstance(model_type, str):
            return model_type, str(path)
    return None, "unknown"


def lora_targets(config: ExperimentConfig) -> tuple[list[str] | str, str | None]:
    """LoRA target modules of the final config: ``"all-linear"``, or module names for a preset or list.

    Presets resolve per architecture with the runner's table (:data:`hpscout.runner.LORA_PRESETS`);
    an architecture that cannot be detected without loading the model falls back to a guess from its name.
    """
    target = config.train.lora.target
    if isinstance(target, list):
        return list(target), None
    if target == "all-linear":
        return "all-linear", None
    model_type, how = model_type_of(config)
    family = model_family(model_type) if model_type else None
    if family is None:
        name = config.model.name_or_path.lower()
        family = next((fam for hint, fam in _NAME_HINTS if hint in name), None)
        if family is None:
            return list(LORA_PRESETS["llama"][target]), (
                f"lora.target preset {target!r}: the architecture of {config.model.name_or_path!r} is unknown here, "
                "so Llama-style module names were written; check them against the model's linear layers"
            )
        return list(LORA_PRESETS[family][target]), (
            f"lora.target preset {target!r} resolved from the model name ({family}-style module names); "
            "check them if the model is not of that family"
        )
    return list(LORA_PRESETS[family][target]), None
