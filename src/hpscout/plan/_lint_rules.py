"""The lint rules: each takes the normalised settings and their step context and returns findings.

Thresholds are module constants with the reason for each; :data:`RULES` lists the rules in reporting order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal

from hpscout._errors import ConfigError
from hpscout.config import SCHEDULERS, ExperimentConfig, TrainConfig
from hpscout.plan._lint_keys import LLAMAFACTORY_REQUIRED, is_known_key, right_spelling, suggest_key
from hpscout.plan._lint_read import TrainingSettings
from hpscout.plan._lr_ranges import FAR_BELOW, LrLimits, lr_limits
from hpscout.plan._presets import model_size_bucket
from hpscout.plan._schedules import SCHEDULE_NAMES
from hpscout.plan._steps import plan_steps, warmup_steps_from

__all__ = ["Finding", "RULES", "SEVERITIES", "Severity", "lint_context"]


Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[str, ...] = ("error", "warning", "info")

# Thresholds of the step-based rules, with the reason for each.
WARMUP_WARN_SHARE = 0.2  # beyond ~20% warmup eats the part of the run where the LR is useful
WARMUP_ERROR_SHARE = 0.5  # beyond half the run the schedule barely decays: almost surely a units mistake
WARMUP_MIN_SHARE = 0.03  # Alpaca/Vicuna-style SFT uses 3%; below that Adam's early steps are unprotected
WARMUP_MIN_STEPS = 10  # a handful of updates is too few for Adam's second-moment estimates to settle
SHORT_RUN_STEPS = 500  # "a few hundred steps": too short for restarts to do anything but waste steps
TINY_EFFECTIVE_BATCH = 2  # gradients of 1-2 rows are mostly noise for fine-tuning
# full fine-tuning from 7B up: weights, gradients and Adam states alone take ~16 bytes/param
# (112 GB at 7B) before activations, which gradient checkpointing cuts to ~one layer's worth
CHECKPOINTING_MIN_PARAMS = 7 * 10**9


@dataclass(frozen=True)
class Finding:
    """One lint result.

    Attributes:
        severity: ``error`` (exit 1), ``warning`` or ``info``.
        rule: rule id (``warmup-share``, ``lr-range``, ...).
        key: the key as written in the linted file (``warmup_steps``, ``train.learning_rate``).
        message: what is wrong, with the numbers.
        fix: what to change.
    """

    severity: Severity
    rule: str
    key: str
    message: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.severity}  {self.key}  {self.message}" + (f"  fix: {self.fix}" if self.fix else "")


@dataclass(frozen=True)
class _Context:
    total_steps: int | None
    warmup_steps: int | None  # resolved warmup in steps, when total is known or warmup is in steps
    warmup_share: float | None
    warmup_key: str


# --------------------------------------------------------------------------- rules


def lint_context(s: TrainingSettings) -> _Context:
    """Total and warmup steps of ``s`` (None where the file does not tell them)."""
    total: int | None = None
    if s.max_steps is not None:
        total = s.max_steps
    elif s.samples is not None and s.epochs is not None and s.epochs > 0:
        total = plan_steps(s.samples, s.batch_size, s.grad_accum, s.devices, epochs=s.epochs).total_steps
    # warmup_steps wins over warmup_ratio in hpscout configs and in transformers 4 / LLaMA-Factory
    if s.warmup_steps is not None:
        key = s.key("warmup_steps")
        warm: int | None = s.warmup_steps
        share = s.warmup_steps / total if total else None
    elif s.warmup_ratio:
        key = s.key("warmup_ratio")
        if total and 0 <= s.warmup_ratio < 1:
            warm = warmup_steps_from(total, warmup_ratio=s.warmup_ratio)  # rounded like the Trainer
        else:  # no step count, or a ratio the warmup-share rule reports
            warm = math.ceil(total * s.warmup_ratio) if total else None
        share = warm / total if total and warm is not None else s.warmup_ratio
    else:
        key = s.key("warmup_ratio") if "warmup_ratio" in s.explicit else s.key("warmup_steps")
        warm, share = 0, 0.0
    return _Context(total_steps=total, warmup_steps=warm, warmup_share=share, warmup_key=key)


def _rule_steps_unknown(s: TrainingSettings, ctx: _Context) -> list[Finding]:
    if ctx.total_steps is None:
        return [
            Finding(
                "info",
                "steps-unknown",
                s.key("epochs"),
                "The total number of steps is unknown (epochs without a sample count), so the warmup-share and "
                "restart rules were skipped.",
                "pass --samples N (training rows), or set max_steps" + (" or max_samples" if s.format == "llamafactory" else ""),
            )
        ]
    if s.samples_is_upper_bound and s.max_steps is None:
        return [
            Finding(
                "info",
                "steps-estimated",
                s.key("samples"),
                f"The total of {ctx.total_steps} steps is estimated from max_samples ({s.samples} rows after val_size); "
                "it is an upper bound, since a smaller dataset gives fewer steps.",
                "pass --samples N for the exact count",
            )
        ]
    return []


def _rule_unknown_keys(s: TrainingSettings, ctx: _Context) -> list[Finding]:
    out: list[Finding] = []
    for key, value in s.file_keys.items():
        if not isinstance(key, str):
            continue
        if s.format == "hpscout":
            section, _, name = key.rpartition(".")
            fields = frozenset(TrainConfig.model_fields if section == "train" else ExperimentConfig.model_fields)
            if name in fields:
                continue
            where = "hpscout's train section" if section == "train" else "hpscout's config"
            guide = right_spelling(name, value, "hpscout")
            close = suggest_key(name, fields)
            prefix = f"{section}." if section else ""
        else:
            if is_known_key(key):
                continue
            where = "LLaMA-Factory's arguments or transformers' TrainingArguments"
            guide = right_spelling(key, value, s.format)
            close = suggest_key(key)
            prefix = ""
        consequence = {
            "hpscout": "hpscout refuses the config",
            "llamafactory": "LLaMA-Factory refuses the file (\"Some keys are not used by the HfArgumentParser\")",
            "hf": "TrainingArguments(**kwargs) raises TypeError",
        }[s.format]
        if guide is not None:
            meant, fix = guide
            message = f"{key} is not a key of {where}, so {consequence}: {meant}."
        else:
            fix = f"did you mean {prefix}{close}?" if close else "remove it, or check the spelling against the docs"
            message = f"{key} is not a key of {where}, so {consequence}."
        out.append(Finding("error", "unknown-key", key, message, fix))
    return out


def _rule_missing_keys(s: TrainingSettings, ctx: _Context) -> list[Finding]:
    if not s.training_file:
        return []
    missing = [k for k in LLAMAFACTORY_REQUIRED if k not in s.file_keys]
    why = {
        "model_name_or_path": "LLaMA-Factory cannot load a model without it",
        "dataset": "LLaMA-Factory has nothing to train on without it",
        "template": "without it the prompts are not formatted with the model's chat template",
        "finetuning_type": "LLaMA-Factory silently falls back to lora",
        "output_dir": "the weights go to a default folder that the next run overwrites",
    }
    return [
        Finding("error", "missing-key", k, f"This LLaMA-Factory training YAML has no {k}: {why[k]}.",
                f"add {k}: ..." if k != "finetuning_type" else "add finetuning_type: lora (or full, freeze)")
        for k in missing
    ]


def _rule_unknown_scheduler(s: TrainingSettings, ctx: _Context) -> list[Finding]:
    allowed = SCHEDULERS if s.format == "hpscout" else SCHEDULE_NAMES
    if s.lr_scheduler is not None and s.lr_scheduler not in allowed:
        return [
            Finding(
                "error",
                "unknown-scheduler",
                s.key("lr_scheduler"),
                f"{s.lr_scheduler!r} is not an LR scheduler {'hpscout' if s.format == 'hpscout' else 'transformers'} knows.",
                f"use one of {', '.join(allowed)}",
            )
        ]
    return []


def _rule_warmup_share(s: TrainingSettings, ctx: _Context) -> list[Finding]:
    share, warm, total = ctx.warmup_share, ctx.warmup_steps, ctx.total_steps
    if not share or s.lr_scheduler in ("constant", "reduce_lr_on_plateau", "greedy", "one_cycle"):
        return []
    what = f"Warmup ({warm} steps) is {share:.0%} of {total} total steps" if total else f"Warmup is {share:.0%} of the run"
    suggest = f"{s.key('warmup_ratio')}: 0.06" if s.format == "hpscout" else "warmup_ratio: 0.06"
    if total:
        suggest += f" (or warmup_steps: {max(1, math.ceil(0.06 * total))})"
    fix = f"keep warmup at 3-10% of the run, e.g. {suggest}"
    if warm is not None and total and warm >= total:
        return [Finding("error", "warmup-share", ctx.warmup_key, f"{what}, so the LR never reaches its peak.", fix)]
    if share > WARMUP_ERROR_SHARE:
        return [Finding("error", "warmup-share", ctx.warmup_key, f"{what}, so the schedule barely decays.", fix)]
    if share > WARMUP_WARN_SHARE:
        return [Finding("warning", "warmup-share", ctx.warmup_key, f"{what}: a long stretch of the run at a low LR.", fix)]
    return []


def _rule_warmup_short(s: TrainingSettings, ctx: _Context) -> list[Finding]:
    if s.learning_rate is None or s.method not in ("lora", "qlora", "full"):
        return []
    if s.lr_scheduler in ("reduce_lr_on_plateau", "greedy", "one_cycle"):
        return []  # no warmup of their own to tune (one_cycle's ramp is its pct_start)
    limits = _limits(s)
    if s.learning_rate < limits.start:
        return []
    total, warm = ctx.total_steps, ctx.warmup_steps
    # transformers' constant ignores warmup
    effective: int | None = 0 if s.lr_scheduler == "constant" else warm
    if total:
        minimum = min(max(WARMUP_MIN_STEPS, math.ceil(WARMUP_MIN_SHARE * total)), math.ceil(0.1 * total))
        short = effective is not None and effective < minimum
        target = f"at least {minimum} steps ({minimum / total:.0%} of {total})"
    elif s.warmup_steps is not None:
        short = s.warmup_steps < WARMUP_MIN_STEPS
        target = f"at least {WARMUP_MIN_STEPS} steps"
    else:
        short = (s.warmup_ratio or 0.0) < WARMUP_MIN_SHARE
        target = f"at least {WARMUP_MIN_SHARE:.0%} of the run"
    if not short:
        return []
    have = f"{effective} warmup steps" if effective is not None else f"warmup ratio {s.warmup_ratio or 0:g}"
    fix = f"warm up for {target}"
    if s.lr_scheduler == "constant":
        fix = f"use constant_with_warmup and warm up for {target}"
    return [
        Finding(
            "warning",
            "warmup-short",
            ctx.warmup_key,
            f"The run has {have} at learning rate {_num(s.learning_rate)}, at or above the usual start of "
            f"{_num(limits.start)} for {_what(s, limits)}, so the first updates can overshoot.",
            fix,
        )
    ]


def _rule_lr_range(s: TrainingSettings, ctx: _Context) -> list[Finding]:
    lr = s.learning_rate
    if lr is None or s.method not in ("lora", "qlora", "full"):
        return []
    if s.random_init:
        return [
            Finding(
                "info", "lr-range", s.key("learning_rate"),
                f"Learning rate {_num(lr)} is not checked: the model starts from random weights (model.from_config), "
                "so the ranges for fine-tuning pretrained models do not apply.",
                "scout the learning rate; training from scratch usually wants a higher one than fine-tuning",
            )
        ]
    limits = _limits(s)
    known = s.model_params is not None
    key = s.key("learning_rate")

    def said(relation: str) -> str:
        unknown = "" if known else "; the model size is unknown, so the most lenient limits of any size apply"
        return (
            f"Learning rate {_num(lr)} is {relation}: the usual range for {_what(s, limits)} is "
            f"{_num(limits.low)} to {_num(limits.high)} ({limits.source}{unknown})."
        )

    scout = f"start at {_num(limits.start)} and scout {_num(limits.low)} to {_num(limits.high)} on a log scale"
    if not known:
        scout += ", or pass --model-size for the limits of your model's size"
    if lr > limits.error_above:
        return [Finding("error", "lr-range", key, said("far above the usual range"), scout)]
    if lr > limits.warn_above:
        return [Finding("warning", "lr-range", key, said("above the usual range"), scout)]
    if lr < limits.warn_below:
        return [Finding("warning", "lr-range", key, said(f"more than {FAR_BELOW:g}x below the usual range, so the run will barely move"), scout)]
    if known and lr < limits.info_below:
        return [
            Finding("info", "lr-low", key, said("below the usual range"),
                    f"scout {_num(limits.low)} to {_num(limits.high)} on a log scale before concluding the method does not work")
        ]
    return []


def _rule_polynomial_power(s: TrainingSettings, ctx: _Context) -> list[Finding]:
    if s.lr_scheduler != "polynomial":
        return []
    power = s.scheduler_kwargs.get("power")
    if power is not None and power != 1:
        return []
    kwargs = "train.scheduler_kwargs" if s.format == "hpscout" else "lr_scheduler_kwargs"
    said = "sets power 1" if power is not None else f"has no power in {kwargs}"
    return [
        Finding("warning", "polynomial-linear", s.key("lr_scheduler"),
                f"The polynomial schedule {said}, so it decays with transformers' default power 1 to lr_end 1e-7: "
                "linear in all but name.",
                f"set {kwargs}: {{power: 2, lr_end: 0}} for the textbook quadratic decay, or write linear")
    ]


def _rule_gradient_checkpointing(s: TrainingSettings, ctx: _Context) -> list[Finding]:
    if s.method != "full" or s.model_params is None or s.model_params < CHECKPOINTING_MIN_PARAMS or s.gradient_checkpointing:
        return []
    billions = s.model_params / 1e9
    if s.format == "llamafactory":
        key, fix = "disable_gradient_checkpointing", "remove disable_gradient_checkpointing: true (LLaMA-Factory checkpoints by default)"
    else:
        key = s.key("gradient_checkpointing")
        fix = f"set {key}: true (about 30% more compute for activations of about one layer)"
    state = "off" if s.gradient_checkpointing is False else "not set, so off"
    return [
        Finding("warning", "gradient-checkpointing", key,
                f"Gradient checkpointing is {state} for full fine-tuning of a {billions:.3g}B model: weights, gradients and "
                f"Adam states alone take about {16 * billions:.0f} GB, and every layer's activations come on top.",
                fix)
    ]


def _rule_restarts(s: TrainingSettings, ctx: _Context) -> list[Finding]:
    name = s.lr_scheduler
    cycles = s.scheduler_kwargs.get("num_cycles")
    if cycles is not None and (isinstance(cycles, bool) or not isinstance(cycles, (int, float))):
        raise ConfigError(f"{s.key('num_cycles')} must be a number, but got {cycles!r} (in {s.source})")
    out: list[Finding] = []
    if name == "cosine_with_restarts":
        n = 1 if cycles is None else cycles
        total = ctx.total_steps
        if n > 1 and total is not None and total <= SHORT_RUN_STEPS:
            out.append(
                Finding(
                    "warning",
                    "restarts-short-run",
                    s.key("num_cycles") if cycles is not None else s.key("lr_scheduler"),
                    f"cosine_with_restarts with num_cycles {n:g} ({n:g} cosine decays, {n - 1:g} restart{'' if n == 2 else 's'}) on a {total}-step "
                    f"run: each decay is about {total // max(1, int(n))} steps, and every restart throws the LR back to "
                    "its peak just as the model settles.",
                    "use cosine (one decay), or keep restarts for runs of thousands of steps",
                )
            )
        elif n <= 1:
            out.append(
                Finding("info", "restarts-short-run", s.key("lr_scheduler"),
                        "cosine_with_restarts with num_cycles 1 never restarts: it is plain cosine.", "write cosine")
            )
    elif name in ("cosine", "cosine_with_min_lr", "cosine_warmup_with_min_lr") and cycles is not None and cycles > 0.5:
        out.append(
            Finding(
                "warning",
                "cosine-cycles",
                s.key("num_cycles"),
                f"{name} with num_cycles {cycles:g} runs past half a wave, so the LR rises again"
                + (" (back to its peak at the end)." if float(cycles).is_integer() else "."),
                "leave num_cycles at 0.5 for one decay to the end (transformers counts waves, not restarts)",
            )
        )
    return out


def _rule_precision(s: TrainingSettings, ctx: _Context) -> list[Finding]:
    if s.fp16 and s.bf16:
        return [
            Finding("error", "precision-conflict", s.key("fp16"), "fp16 and bf16 are both set, and the Trainer refuses that.",
                    "keep bf16 on GPUs that support it (Ampere and newer), fp16 on older ones")
        ]
    return []


def _rule_grad_clipping(s: TrainingSettings, ctx: _Context) -> list[Finding]:
    if s.max_grad_norm is None or s.max_grad_norm == 0:
        shown = "null" if s.max_grad_norm is None else "0"
        return [
            Finding("warning", "no-grad-clipping", s.key("max_grad_norm"),
                    f"Gradient clipping is off ({s.key('max_grad_norm')}: {shown}), so one bad batch can blow up the run.",
                    f"set {s.key('max_grad_norm')}: 1.0")
        ]
    return []


def _rule_tiny_batch(s: TrainingSettings, ctx: _Context) -> list[Finding]:
    effective = s.batch_size * s.grad_accum * s.devices
    if effective <= TINY_EFFECTIVE_BATCH and s.grad_accum == 1:
        accum = math.ceil(16 / (s.batch_size * s.devices))
        return [
            Finding("warning", "tiny-batch", s.key("batch_size"),
                    f"The effective batch is {effective} ({s.batch_size} per device x {s.devices} devices, no accumulation), "
                    "so the gradients are very noisy.",
                    f"set {s.key('grad_accum')}: {accum} for an effective batch of ~16")
        ]
    return []


def _rule_constant_warmup(s: TrainingSettings, ctx: _Context) -> list[Finding]:
    if s.lr_scheduler == "constant" and ((s.warmup_steps or 0) > 0 or (s.warmup_ratio or 0) > 0):
        return [
            Finding("warning", "constant-ignores-warmup", s.key("lr_scheduler"),
                    "The 'constant' scheduler ignores warmup: transformers passes no warmup to it.",
                    "use constant_with_warmup")
        ]
    return []


def _rule_warmup_both(s: TrainingSettings, ctx: _Context) -> list[Finding]:
    if s.warmup_steps and s.warmup_ratio and "warmup_ratio" in s.explicit:
        return [
            Finding("warning", "warmup-both", s.key("warmup_steps"),
                    f"warmup_steps ({s.warmup_steps}) and warmup_ratio ({s.warmup_ratio:g}) are both set; "
                    "warmup_steps wins and the ratio is ignored.",
                    "keep one of them")
        ]
    return []


def _rule_transformers5_ratio(s: TrainingSettings, ctx: _Context) -> list[Finding]:
    if s.format == "hf" and s.key("warmup_ratio") == "warmup_ratio" and "warmup_ratio" in s.explicit:
        return [
            Finding("info", "warmup-ratio-transformers5", "warmup_ratio",
                    "transformers 5 TrainingArguments has no warmup_ratio (it raises TypeError).",
                    f"write the ratio as warmup_steps: {s.warmup_ratio or 0:g} (a float below 1 is a ratio in transformers 5)")
        ]
    return []


def _limits(s: TrainingSettings) -> LrLimits:
    size = model_size_bucket(s.model_params) if s.model_params is not None else None
    return lr_limits(s.method or "full", size, causal_lm=s.causal_lm)


_METHOD_WORDS = {"full": "full fine-tuning of", "lora": "LoRA on", "qlora": "QLoRA on"}


def _what(s: TrainingSettings, limits: LrLimits) -> str:
    """``full fine-tuning of 1-10B models``, ``LoRA on causal LMs under 1B``."""
    noun = "causal LMs" if s.causal_lm else "models"
    sized = {"<1B": f"{noun} under 1B", "1-10B": f"1-10B {noun}", ">10B": f"{noun} over 10B"}.get(limits.size, f"{noun} of unknown size")
    return f"{_METHOD_WORDS.get(s.method or 'full', s.method)} {sized}"


def _num(x: float) -> str:
    """A learning rate as people write it: ``2e-4``, ``5e-6``, ``0.05``."""
    if x == 0 or 1e-2 <= abs(x) < 1e3:
        return f"{x:g}"
    mantissa, exponent = f"{x:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


#: every lint rule, in reporting order; each takes (settings, context) and returns findings
RULES: tuple[Callable[[TrainingSettings, _Context], list[Finding]], ...] = (
    _rule_unknown_keys,
    _rule_missing_keys,
    _rule_steps_unknown,
    _rule_unknown_scheduler,
    _rule_warmup_share,
    _rule_warmup_short,
    _rule_lr_range,
    _rule_polynomial_power,
    _rule_restarts,
    _rule_constant_warmup,
    _rule_warmup_both,
    _rule_precision,
    _rule_grad_clipping,
    _rule_tiny_batch,
    _rule_gradient_checkpointing,
    _rule_transformers5_ratio,
)
