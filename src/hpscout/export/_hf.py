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
from hpscout.export._prepare import (
    Prepared,
    best_model_settings,
    lora_targets,
    precision_flags,
    scheduler_args,
    warmup_value,
)

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
    from hpscout.runner._hf import checkpointing_arg
    from hpscout.runner._optim import LEGACY_OPTIMIZERS
    from hpscout.runner._tasks import generation_args

    transformers = try_import("transformers", "the TrainingArguments export")
    cfg, plan = prep.config, prep.plan
    fields = training_args_fields(cfg.task)
    cls_name = training_args_class(cfg.task)
    t = cfg.train
    notes: list[str] = []

    sched, sched_kwargs = scheduler_args(cfg, plan.total_steps, "TrainingArguments")
    optim = LEGACY_OPTIMIZERS.get(t.optimizer, t.optimizer)
    if optim != t.optimizer:
        notes.append(f"optim {t.optimizer} does not exist in transformers {transformers.__version__}; wrote {optim}, "
                     "the same AdamW in torch")
    args: dict[str, Any] = {
        "output_dir": f"outputs/{cfg.name}",
        "run_name": cfg.name,
        "per_device_train_batch_size": t.batch_size,
        "per_device_eval_batch_size": t.eval_batch_size,
        "gradient_accumulation_steps": plan.grad_accum,
        "learning_rate": float(f"{t.learning_rate:.6g}"),
        "lr_scheduler_type": sched,
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
    if sched_kwargs:
        args["lr_scheduler_kwargs"] = sched_kwargs
    if plan.max_steps:
        args["max_steps"] = plan.max_steps
    else:
        args["num_train_epochs"] = float(t.epochs)
    key, warm = warmup_value(plan, cfg)
    if key == "warmup_ratio":
        if "warmup_ratio" in fields:
            args["warmup_ratio"] = warm
        else:  # transformers 5: a float below 1 is a ratio
            args["warmup_steps"] = float(warm)
            notes.append(f"warmup written as warmup_steps={warm:g}: transformers {transformers.__version__} has no "
                         "warmup_ratio and reads a float below 1 as a share of the run")
    else:
        args["warmup_steps"] = int(warm)
    if plan.eval_strategy == "steps":
        args["eval_steps"] = plan.eval_steps
        args["save_steps"] = plan.save_steps
    best = best_model_settings(cfg)
    if best.load_best:  # save_strategy/save_steps already match the evaluation, as load_best_model_at_end needs
        args["load_best_model_at_end"] = True
    if best.metric is not None:
        args.update(metric_for_best_model=best.metric, greater_is_better=best.greater_is_better)
    # recompute activations in backward (train.gradient_checkpointing); the field's name depends on transformers
    args[checkpointing_arg(fields)] = t.gradient_checkpointing
    if cfg.task == "seq2seq":
        args.update(generation_args(cfg))
    flags, prec_note = precision_flags(prep)
    args.update(flags)
    notes.append(prec_note)
    if "eval_strategy" not in fields and "evaluation_strategy" in fields:  # transformers < 4.41
        args["evaluation_strategy"] = args.pop("eval_strategy")
    unknown = sorted(k for k in args if k not in fields)
    if unknown:
        raise ExportError(
            f"transformers {transformers.__version__} {cls_name} has no field(s) {unknown}; "
            "upgrade transformers or export --format json"
        )

    peft: dict[str, Any] | None = None
    if t.method in ("lora", "qlora"):
        targets, target_note = lora_targets(cfg)
        if target_note:
            notes.append(target_note)
        peft = {"r": t.lora.r, "lora_alpha": t.lora.alpha, "lora_dropout": t.lora.dropout, "target_modules": targets}
    sidecar = {
        "what": "hpscout export sidecar of training_args.json: everything that is not a TrainingArguments field",
        "transformers_version": transformers.__version__,
        "task": cfg.task,
        "method": t.method,
        "model": cfg.model.model_dump(mode="json"),
        "data": cfg.data.model_dump(mode="json"),
        "peft_lora_config": peft,
        "quantization": {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4"} if t.method == "qlora" else None,
        "arguments_class": f"transformers.{cls_name}",
        # transformers.EarlyStoppingCallback(**early_stopping_callback), next to these arguments
        "early_stopping_callback": None if best.patience is None else {
            "early_stopping_patience": best.patience, "early_stopping_threshold": best.threshold},
        "precision": {"bf16": bool(flags["bf16"]), "fp16": bool(flags["fp16"]), "note": prec_note},
        "provenance": prep.provenance.to_dict(),
        "full_data_plan": plan.to_dict(),
        "notes": notes + list(prep.notes),
    }
    return args, sidecar
