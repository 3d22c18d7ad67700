"""Optimizer names and LR schedulers, shared by the HF and plain-torch runners.

Schedules come from the objects training uses: ``transformers.get_scheduler`` for
transformers' names and ``torch.optim.lr_scheduler.OneCycleLR`` for ``one_cycle``
(not a transformers schedule). Both runners build them through
:func:`make_scheduler`, so a config means the same LR curve on either path.
"""

from __future__ import annotations

import difflib
import math
from typing import Any

from hpscout._errors import RunnerError
from hpscout.plan import ONE_CYCLE_DEFAULT_PCT, plan_steps, warmup_steps_from

__all__ = [
    "LEGACY_OPTIMIZERS",
    "TORCH_OPTIMIZERS",
    "resolve_optimizer_name",
    "warmup_for",
    "step_matched_steps",
    "scheduler_kwargs",
    "make_scheduler",
    "make_torch_optimizer",
]

#: names older transformers accepted that 5.x removed -> their replacement
LEGACY_OPTIMIZERS = {
    "adamw_hf": "adamw_torch",
    "adamw": "adamw_torch",
    "adamw_apex_fused": "adamw_torch_fused",
}

#: optimizer names the plain-torch runner builds itself
TORCH_OPTIMIZERS = ("adamw_torch", "adamw_torch_fused", "adafactor", "sgd", "adagrad", "rmsprop")



def resolve_optimizer_name(name: str, allowed: tuple[str, ...] | None = None) -> tuple[str, str | None]:
    """Map a config optimizer name to one this transformers knows; returns ``(name, note)``.

    Args:
        name: ``train.optimizer``.
        allowed: restrict to these names (the plain-torch runner); default: every
            ``transformers.training_args.OptimizerNames`` value.

    Example:
        >>> resolve_optimizer_name("adamw_hf", TORCH_OPTIMIZERS)
        ('adamw_torch', 'optimizer adamw_hf was removed in transformers 5; used adamw_torch')
    """
    note = None
    if name in LEGACY_OPTIMIZERS:
        new = LEGACY_OPTIMIZERS[name]
        note = f"optimizer {name} was removed in transformers 5; used {new}"
        name = new
    if allowed is None:
        from transformers.training_args import OptimizerNames

        allowed = tuple(o.value for o in OptimizerNames)
    if name not in allowed:
        guess = difflib.get_close_matches(name, allowed, n=1)
        hint = f" (did you mean '{guess[0]}'?)" if guess else ""
        raise RunnerError(f"unknown train.optimizer {name!r}{hint}; allowed: {', '.join(allowed)}")
    return name, note


def warmup_for(train: Any) -> float | int:
    """``TrainingArguments.warmup_steps`` for a train config: steps (int) or a ratio in [0, 1).

    transformers 5 dropped ``warmup_ratio``; ``warmup_steps`` takes a float < 1 as a ratio.
    """
    if train.warmup_steps is not None:
        return int(train.warmup_steps)
    return float(train.warmup_ratio)


def _warmup_steps(warmup: float | int, total_steps: int) -> int:
    """Warmup in optimizer steps for :func:`warmup_for`'s value: steps when >= 1, else a ratio of the run.

    The rounding (``TrainingArguments.get_warmup_steps``) is the plan's, :func:`hpscout.plan.warmup_steps_from`.
    """
    if warmup >= 1:
        return warmup_steps_from(total_steps, warmup_steps=int(warmup))
    return warmup_steps_from(total_steps, warmup_ratio=warmup)


def step_matched_steps(config: Any, scout_rows: int) -> tuple[int, str]:
    """With ``scout.step_matched``: the optimizer steps ``train.epochs`` take on the scouting fraction's rows.

    Every fidelity then trains that many steps (smaller rungs see more epochs). Both
    trial runners call this; each knows ``scout_rows`` its own way (the HF runner from
    the full training set, the torch runner estimated from its factory's subset).

    Args:
        config: the resolved config (``train.batch_size``, ``grad_accum``, ``epochs``).
        scout_rows: training rows at ``scout.fraction`` (floored at 1).

    Returns:
        ``(steps, note)``: the run length and the note the trial's message carries.
    """
    t = config.train
    # one device per trial: the worker's GPU (CUDA_VISIBLE_DEVICES) or the CPU
    plan = plan_steps(max(scout_rows, 1), t.batch_size, grad_accum=t.grad_accum, devices=1, epochs=t.epochs)
    steps = plan.total_steps
    return steps, f"step-matched: {steps} steps, as {t.epochs:g} epochs take at fraction {config.scout.fraction:g}"


def scheduler_kwargs(name: str, given: dict[str, Any], total_steps: int) -> dict[str, Any]:
    """Turn ``train.scheduler_kwargs`` into the keyword arguments the scheduler takes.

    ``warmup_stable_decay`` also accepts ``decay_ratio`` (share of the run spent
    decaying, rounded up like warmup ratios) and ``min_lr_rate`` (alias of
    ``min_lr_ratio``), as :mod:`hpscout.plan` does.
    """
    kwargs = dict(given)
    if name == "warmup_stable_decay":
        if "decay_ratio" in kwargs:
            kwargs["num_decay_steps"] = math.ceil(total_steps * float(kwargs.pop("decay_ratio")))
        if "min_lr_rate" in kwargs:
            kwargs["min_lr_ratio"] = kwargs.pop("min_lr_rate")
    return kwargs


def make_scheduler(
    name: str,
    optimizer: Any,
    *,
    total_steps: int,
    warmup: float | int,
    kwargs: dict[str, Any],
    greater_is_better: bool | None = None,
) -> Any:
    """Build the LR scheduler ``name`` for ``total_steps`` optimizer steps.

    Args:
        name: ``train.lr_scheduler``.
        optimizer: the torch optimizer (its group ``lr`` is the peak LR).
        total_steps: optimizer steps of the run.
        warmup: warmup steps (int >= 1) or ratio (float < 1), as :func:`warmup_for` returns.
        kwargs: ``train.scheduler_kwargs``.
        greater_is_better: the search direction; ``reduce_lr_on_plateau`` watches the
            search metric, so its ``mode`` defaults to ``max`` for maximised metrics.
    """
    import torch

    warm = _warmup_steps(warmup, total_steps)
    opts = scheduler_kwargs(name, kwargs, total_steps)
    if name == "reduce_lr_on_plateau" and greater_is_better is not None:
        opts.setdefault("mode", "max" if greater_is_better else "min")
    try:
        if name == "one_cycle":
            pct = warm / total_steps if warm > 0 else ONE_CYCLE_DEFAULT_PCT
            if not 0 < pct < 1:
                raise RunnerError(f"one_cycle needs a warmup shorter than the run ({total_steps} steps), but got {warm} steps")
            # momentum cycling needs betas or momentum; off for optimizers without them (adafactor, plain sgd)
            defaults = optimizer.defaults
            opts.setdefault("cycle_momentum", "betas" in defaults or bool(defaults.get("momentum", 0)))
            return torch.optim.lr_scheduler.OneCycleLR(
                optimizer,
                max_lr=[g["lr"] for g in optimizer.param_groups],
                total_steps=total_steps,
                pct_start=pct,
                **opts,
            )
        from transformers import get_scheduler

        return get_scheduler(
            name, optimizer, num_warmup_steps=warm, num_training_steps=total_steps, scheduler_specific_kwargs=opts
        )
    except (TypeError, ValueError) as exc:
        raise RunnerError(
            f"the {name} scheduler rejected train.scheduler_kwargs={kwargs} (warmup {warm}, total {total_steps} steps): {exc}"
        ) from exc


def make_torch_optimizer(name: str, model: Any, *, lr: float, weight_decay: float) -> Any:
    """An optimizer for the plain-torch runner; weight decay skips biases and norm weights (1-D tensors)."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    groups = [g for g in groups if g["params"]]
    if name in ("adamw_torch", "adamw_torch_fused"):
        return torch.optim.AdamW(groups, lr=lr, fused=name == "adamw_torch_fused" or None)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr)
    if name == "adagrad":
        return torch.optim.Adagrad(groups, lr=lr)
    if name == "rmsprop":
        return torch.optim.RMSprop(groups, lr=lr)
    if name == "adafactor":
        from transformers.optimization import Adafactor

        # fixed LR (the scheduler drives it), as the Trainer configures Adafactor
        return Adafactor(groups, lr=lr, scale_parameter=False, relative_step=False)
    raise RunnerError(f"the torch runner does not build optimizer {name!r}; allowed: {', '.join(TORCH_OPTIMIZERS)}")
