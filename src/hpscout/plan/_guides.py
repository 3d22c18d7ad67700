"""The guides' layers on top of hpscout's tables: use cases, hyperparameter sets, the warmup rule and GPUs.

Each function edits a recommendation's ``train`` section in place and appends a note wherever the guides'
value differs from hpscout's tables or measurements (see :func:`hpscout.plan.recommend`, docs/presets.md).
"""

from __future__ import annotations

import math
from typing import Any

from hpscout.plan._hardware import REF_ROW_GB, device_batch
from hpscout.plan._preset_table import (
    WARMUP_LORA_SHARE,
    WARMUP_MAX_SHARE,
    WARMUP_MIN_STEPS,
    HyperparameterSet,
    PresetRow,
    UseCase,
)
from hpscout.plan._steps import plan_steps

__all__ = [
    "apply_use_case",
    "apply_hyperparameter_set",
    "apply_warmup_rule",
    "apply_gpu",
    "warmup_ratio_for",
    "gpu_label",
    "human_params",
    "round2_up",
]


def apply_use_case(train: dict[str, Any], case: UseCase, row: PresetRow, notes: list[str], sources: list[str]) -> None:
    """The guides' values for the use case; values the guides leave open stay from the tables, said so."""
    sources.append(f"use case (the guides): {case.guide}")
    given = {"learning_rate": case.learning_rate, "lr_scheduler": case.lr_scheduler, "batch_size": case.batch_size,
             "grad_accum": case.grad_accum, "warmup_ratio": case.warmup_ratio}
    for key, value in given.items():
        if value is not None:
            train[key] = value
    left = [k for k, v in given.items() if v is None]
    if left:
        notes.append(f"the guides give no {', '.join(left)} for the {case.name} case: taken from hpscout's tables")
    _note_lr_disagreement(train["learning_rate"], row, notes, who=f"the guides' {case.name} case")
    if case.name == "prototype":
        notes.append("QLoRA 4-bit needs a CUDA GPU with bitsandbytes")


def apply_hyperparameter_set(
    train: dict[str, Any], hp: HyperparameterSet, task: str, samples: int, row: PresetRow, notes: list[str],
    sources: list[str],
) -> None:
    """The guides' quick / balanced / best set, with notes where hpscout's tables or measurements disagree."""
    sources.append(f"preset {hp.name}: {hp.source}")
    train.update(learning_rate=hp.learning_rate, batch_size=hp.batch_size, grad_accum=hp.grad_accum,
                 epochs=float(hp.epochs), warmup_ratio=hp.warmup_ratio, lr_scheduler=hp.lr_scheduler)
    if task != "seq2seq":
        notes.append(f"the {hp.name} set comes from the guides' seq2seq (Seq2SeqTrainer) tuning; for {task} it is a "
                     "starting point, not a tested recipe")
    if hp.lr_scheduler == "cosine_with_restarts":
        # transformers' default num_cycles=1 is a single cosine decay: no restart at all
        train["scheduler_kwargs"] = {"num_cycles": 2}
        notes.append("cosine_with_restarts with num_cycles 2 (one restart): transformers' default num_cycles 1 "
                     "would be plain cosine")
    if hp.early_stopping_patience is not None:
        train["early_stopping"] = {"patience": hp.early_stopping_patience, "threshold": 0.0}
    notes.append(f"the guides train in {hp.precision}; precision auto picks bf16 where the GPU has it, fp16 with "
                 "loss scaling on older GPUs, fp32 on CPU")
    if samples > 10_000:
        steps = plan_steps(samples, hp.batch_size, grad_accum=hp.grad_accum, devices=1, epochs=hp.epochs).total_steps
        notes.append(f"{hp.epochs:g} epochs over {samples:,} rows is {steps:,} optimizer steps: the guides' sets were "
                     "made for a small dialogue-summary set; consider fewer epochs or early stopping")
    _note_lr_disagreement(hp.learning_rate, row, notes, who=f"the guides' {hp.name} set")


def _note_lr_disagreement(lr: float, row: PresetRow, notes: list[str], *, who: str) -> None:
    if row.lr_low <= lr <= row.lr_high:
        return
    side = "below" if lr < row.lr_low else "above"
    notes.append(
        f"{who} starts at LR {lr:g}, {side} the {row.lr_low:g}-{row.lr_high:g} range of hpscout's table for "
        f"{row.method} on {row.size} models ({row.source}); the search range covers both"
    )


def warmup_ratio_for(ratio: float, total_steps: int | None, method: str, *, explicit: bool = False) -> float:
    """The guides' warmup rule on top of a data-size ratio.

    LoRA / QLoRA take at most 5% (unless the ratio was given explicitly, e.g. by a use case); then at least
    :data:`WARMUP_MIN_STEPS` steps and at most :data:`WARMUP_MAX_SHARE` of ``total_steps``.

    Example:
        >>> warmup_ratio_for(0.1, 10_000, "lora"), warmup_ratio_for(0.1, 300, "full"), warmup_ratio_for(0.1, 100, "full")
        (0.05, 0.17, 0.2)
    """
    share = ratio
    if method in ("lora", "qlora") and not explicit:
        share = min(share, WARMUP_LORA_SHARE)
    if total_steps:
        share = max(share, WARMUP_MIN_STEPS / total_steps)
        share = min(share, WARMUP_MAX_SHARE)
    return min(WARMUP_MAX_SHARE, round2_up(share)) if share > 0 else 0.0


def apply_warmup_rule(train: dict[str, Any], samples: int, method: str, *, explicit: bool, notes: list[str]) -> None:
    total = plan_steps(samples, int(train["batch_size"]), grad_accum=int(train["grad_accum"]), devices=1,
                       epochs=float(train["epochs"])).total_steps
    before = float(train["warmup_ratio"])
    after = warmup_ratio_for(before, total, method, explicit=explicit)
    train["warmup_ratio"] = after
    if after > before and after * total >= WARMUP_MIN_STEPS - 1:
        notes.append(f"warmup {after:g}, not {before:g}: the guides' floor of {WARMUP_MIN_STEPS} warmup steps "
                     f"({total:,} optimizer steps on all the data)")
    elif after < before and method in ("lora", "qlora") and not explicit and after == WARMUP_LORA_SHARE:
        notes.append(f"warmup {after:g}: the guides' 3-5% for LoRA (the adapter starts at zero)")
    elif after < before:
        notes.append(f"warmup {after:g}, not {before:g}: the guides cap warmup at {WARMUP_MAX_SHARE:.0%} of the run "
                     f"({total:,} optimizer steps)")


def apply_gpu(
    train: dict[str, Any], space: dict[str, dict[str, Any]], params: int, method: str, gpu: str | None,
    gpu_mem: float | None, notes: list[str], sources: list[str],
) -> None:
    """Per-device batch and accumulation for the GPU, keeping the effective batch; bf16-less GPUs train in fp16."""
    effective = int(train["batch_size"]) * int(train["grad_accum"])
    db = device_batch(params, method, effective, gpu=gpu, memory_gb=gpu_mem)
    train["batch_size"], train["grad_accum"] = db.batch_size, db.grad_accum
    sources.append("per-device batch: the guides' per-GPU batches for a ~124M seq2seq model, scaled by memory "
                   "(16 bytes/param full, 2 LoRA, 0.55 QLoRA) and activations growing like params^(2/3)")
    notes.append(db.why() + f" (effective batch {effective} kept)")
    if not db.fits:
        ways = ([] if method == "qlora" else ["method qlora (4-bit base weights)"]) + [
            "train.gradient_checkpointing: true (keeps about one layer's activations instead of all)",
            "shorter sequences", "a larger GPU or sharding (FSDP/DeepSpeed)",
        ]
        notes.append(f"the model does not fit this GPU even at batch 1 by this estimate: try {'; '.join(ways)}")
    g = db.gpu
    if g is not None and g.guide_class_batch is not None:
        extra = " at LR 1e-4 with a linear schedule" if g.guide_class_batch <= 2 else ""
        notes.append(f"the guides give batch {g.guide_class_batch} for the {g.name} class{extra}; "
                     f"hpscout's {db.batch_size} is for this model's size")
    if g is not None and g.guide_range is not None:
        lo, hi = g.guide_range
        article = "an" if g.name.startswith("A") else "a"
        notes.append(f"the guides' per-device range on {article} {g.name} is {lo}-{hi} rows for their ~124M seq2seq "
                     f"model, whose rows take ~{REF_ROW_GB:g} GB of activations; at {human_params(params)} a row takes "
                     f"~{db.row_gb:.2f} GB")
    if g is not None and not g.bf16:
        train["precision"] = "fp16"
        notes.append(f"{g.name} has no bf16: fp16 with loss scaling")
    spec = space.get("train.batch_size")
    if spec is not None:
        fits = [c for c in spec["choices"] if c <= db.batch_size]
        if len(fits) > 1:
            spec["choices"] = fits
        else:
            del space["train.batch_size"]
            notes.append("batch size is not searched: larger per-device batches do not fit this GPU")


def gpu_label(gpu: str | None, gpu_mem: float | None) -> str | None:
    if gpu is None and gpu_mem is None:
        return None
    return " ".join(x for x in (gpu, f"{gpu_mem:g} GB" if gpu_mem is not None else None) if x)


def round2_up(x: float) -> float:
    """``x`` rounded up to 2 significant digits."""
    exp = math.floor(math.log10(x)) - 1
    return math.ceil(x / 10**exp - 1e-9) * 10**exp if x > 0 else x


def human_params(n: int) -> str:
    for unit, scale in (("T", 10**12), ("B", 10**9), ("M", 10**6), ("k", 10**3)):
        if n >= scale:
            return f"{n / scale:g}{unit}"
    return str(n)
