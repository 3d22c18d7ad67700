"""Hugging Face ``TrainingArguments`` JSON for the installed transformers, plus a provenance sidecar.

Design: ``training_args.json`` holds only ``TrainingArguments`` fields
(``Seq2SeqTrainingArguments`` for seq2seq: the generation settings), so
``TrainingArguments(**json.load(open("training_args.json")))`` works as is. What is not
a training argument goes into ``training_args.provenance.json`` beside it: the
provenance, the full-data plan, notes (translations such as ``adamw_hf`` ->
``adamw_torch``), the model, data and PEFT ``LoraConfig`` settings, the
``EarlyStoppingCallback`` keyword arguments and the target precision with what it needs.

Precision: ``auto`` is written as bf16 unless ``--precision`` says otherwise; bf16 makes
``TrainingArguments`` raise on machines without bfloat16 (V100, T4, CPU).

transformers 5 dropped ``warmup_ratio``: a ratio is written as a float ``warmup_steps``
below 1 (``TrainingArguments.get_warmup_steps`` reads it as a share of the run). The
exporter writes whole warmup steps whenever the full run's length is known, which
every transformers version reads the same way.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hpscout._errors import ExportError
from hpscout._imports import try_import
from hpscout.export._prepare import Prepared, TrainerSettings, lora_targets, trainer_settings
from hpscout.runner import LEGACY_OPTIMIZERS, checkpointing_arg, generation_args

__all__ = ["training_args_class", "training_args_dict", "training_args_fields", "sidecar_path_for"]


def training_args_class(task: str = "sequence-classification") -> str:
    """``Seq2SeqTrainingArguments`` for seq2seq (it adds the generation fields), else ``TrainingArguments``."""
    return "Seq2SeqTrainingArguments" if task == "seq2seq" else "TrainingArguments"


def training_args_fields(task: str = "sequence-classification") -> frozenset[str]:
    """The init fields of the installed ``transformers`` arguments class for ``task``."""
    transformers = try_import("transformers", "the TrainingArguments export")
    cls = getattr(transformers, training_args_class(task))
    return frozenset(f.name for f in dataclasses.fields(cls) if f.init)


def sidecar_path_for(path: Any) -> Any:
    """``training_args.json`` -> ``training_args.provenance.json``."""
    return path.with_name(path.stem + ".provenance.json")


def training_args_dict(prep: Prepared) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(TrainingArguments kwargs, sidecar)`` for the full-data run.

    Example:
        >>> args, sidecar = training_args_dict(prepare_export("runs/demo"))  # doctest: +SKIP
        >>> TrainingArguments(**args)  # doctest: +SKIP
    """
    transformers = try_import("transformers", "the TrainingArguments export")
    cfg = prep.config
    fields = training_args_fields(cfg.task)
    notes: list[str] = []
    settings = trainer_settings(prep, "TrainingArguments")
    args = _arguments(prep, settings, fields, transformers.__version__, notes)
    unknown = sorted(k for k in args if k not in fields)
    if unknown:
        raise ExportError(
            f"transformers {transformers.__version__} {training_args_class(cfg.task)} has no field(s) {unknown}; "
            "upgrade transformers or export --format json"
        )
    return args, _sidecar(prep, settings, transformers.__version__, notes)


def _arguments(
    prep: Prepared, settings: TrainerSettings, fields: frozenset[str], version: str, notes: list[str]
) -> dict[str, Any]:
    """The ``TrainingArguments`` keyword arguments; translations the installed version needs go to ``notes``."""
    cfg, plan = prep.config, prep.plan
    t = cfg.train
    optim = LEGACY_OPTIMIZERS.get(t.optimizer, t.optimizer)
    if optim != t.optimizer:
        notes.append(f"optim {t.optimizer} does not exist in transformers {version}; wrote {optim}, "
                     "the same AdamW in torch")
    args: dict[str, Any] = {
        "output_dir": f"outputs/{cfg.name}",
        "run_name": cfg.name,
        "per_device_train_batch_size": t.batch_size,
        "per_device_eval_batch_size": t.eval_batch_size,
        "gradient_accumulation_steps": plan.grad_accum,
        "learning_rate": float(f"{t.learning_rate:.6g}"),
        "lr_scheduler_type": settings.scheduler,
        "weight_decay": t.weight_decay,
        "max_grad_norm": t.max_grad_norm,
        "optim": optim,
        "seed": cfg.seed,
        "logging_strategy": "steps",
        "logging_steps": plan.logging_steps,
        "eval_strategy": plan.eval_strategy,
        "save_strategy": plan.eval_strategy,
        "save_total_limit": 2,
        "report_to": list(t.report_to) if t.report_to else "none",
    }
    if settings.scheduler_kwargs:
        args["lr_scheduler_kwargs"] = settings.scheduler_kwargs
    if plan.max_steps:
        args["max_steps"] = plan.max_steps
    else:
        args["num_train_epochs"] = float(t.epochs)
    args.update(_warmup_argument(settings, fields, version, notes))
    if plan.eval_strategy == "steps":
        args["eval_steps"] = plan.eval_steps
        args["save_steps"] = plan.save_steps
    best = settings.best
    if best.load_best:  # save_strategy/save_steps already match the evaluation, as load_best_model_at_end needs
        args["load_best_model_at_end"] = True
    if best.metric is not None:
        args.update(metric_for_best_model=best.metric, greater_is_better=best.greater_is_better)
    # recompute activations in backward (train.gradient_checkpointing); the field's name depends on transformers
    args[checkpointing_arg(fields)] = t.gradient_checkpointing
    if cfg.task == "seq2seq":
        args.update(generation_args(cfg))
    args.update(settings.precision_flags)
    notes.append(settings.precision_note)
    if "eval_strategy" not in fields and "evaluation_strategy" in fields:  # transformers < 4.41
        args["evaluation_strategy"] = args.pop("eval_strategy")
    return args


def _warmup_argument(settings: TrainerSettings, fields: frozenset[str], version: str, notes: list[str]) -> dict[str, Any]:
    """Warmup as steps, or as a ratio where this transformers version still has ``warmup_ratio``."""
    warm = settings.warmup
    if settings.warmup_key != "warmup_ratio":
        return {"warmup_steps": int(warm)}
    if "warmup_ratio" in fields:
        return {"warmup_ratio": warm}
    # transformers 5: a float below 1 is a ratio
    notes.append(f"warmup written as warmup_steps={warm:g}: transformers {version} has no "
                 "warmup_ratio and reads a float below 1 as a share of the run")
    return {"warmup_steps": float(warm)}


def _sidecar(prep: Prepared, settings: TrainerSettings, version: str, notes: list[str]) -> dict[str, Any]:
    """Everything that is not a ``TrainingArguments`` field: provenance, plan, model, data, PEFT, early stopping."""
    cfg = prep.config
    t = cfg.train
    peft: dict[str, Any] | None = None
    if t.method in ("lora", "qlora"):
        targets, target_note = lora_targets(cfg)
        if target_note:
            notes.append(target_note)
        peft = {"r": t.lora.r, "lora_alpha": t.lora.alpha, "lora_dropout": t.lora.dropout, "target_modules": targets}
    best, flags = settings.best, settings.precision_flags
    return {
        "what": "hpscout export sidecar of training_args.json: everything that is not a TrainingArguments field",
        "transformers_version": version,
        "task": cfg.task,
        "method": t.method,
        "model": cfg.model.model_dump(mode="json"),
        "data": cfg.data.model_dump(mode="json"),
        "peft_lora_config": peft,
        "quantization": {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4"} if t.method == "qlora" else None,
        "arguments_class": f"transformers.{training_args_class(cfg.task)}",
        # transformers.EarlyStoppingCallback(**early_stopping_callback), next to these arguments
        "early_stopping_callback": None if best.patience is None else {
            "early_stopping_patience": best.patience, "early_stopping_threshold": best.threshold},
        "precision": {"bf16": bool(flags["bf16"]), "fp16": bool(flags["fp16"]), "note": settings.precision_note},
        "provenance": prep.provenance.to_dict(),
        "full_data_plan": prep.plan.to_dict(),
        "notes": notes + list(prep.notes),
    }
