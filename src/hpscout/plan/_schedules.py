"""Learning-rate curves from the scheduler objects training itself uses.

Nothing here re-derives a formula: :func:`compute_schedule` builds a real torch
optimizer on a dummy parameter, asks ``transformers.get_scheduler`` (or torch's
``OneCycleLR``) for the scheduler and steps it, reading the LR off the
optimizer. The value at step ``s`` is the LR after ``s`` scheduler steps: the LR
the optimizer uses for update ``s`` (counting from 0). The Trainer logs the LR
before it steps the scheduler, so its ``learning_rate`` at ``global_step == s``
is the value at ``s - 1``.

``num_cycles`` of ``cosine_with_restarts`` counts cosine decays: ``N`` decays give
``N - 1`` restarts (transformers' docstring says "restarts"; its formula does not).

torch and transformers are imported inside :func:`compute_schedule`, so
``import hpscout.plan`` stays light. Drawing lives in :mod:`hpscout.plan._plot`.
"""

from __future__ import annotations

import difflib
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

from hpscout._errors import ConfigError
from hpscout._imports import try_import
from hpscout.config import SCHEDULERS
from hpscout.plan._steps import warmup_steps_from

__all__ = [
    "SCHEDULE_NAMES",
    "METRIC_DRIVEN_SCHEDULES",
    "ONE_CYCLE_DEFAULT_PCT",
    "PLOTTABLE_SCHEDULES",
    "SCHEDULE_OPTIONS",
    "ScheduleCurve",
    "compute_schedule",
    "metric_driven_explanation",
    "schedule_options",
]

#: every schedule name hpscout knows: our config's names plus transformers' extra
#: ``cosine_warmup_with_min_lr`` and ``greedy``
SCHEDULE_NAMES: tuple[str, ...] = tuple(SCHEDULERS) + ("cosine_warmup_with_min_lr", "greedy")

#: schedules whose LR follows a metric during training, so there is no curve to draw
METRIC_DRIVEN_SCHEDULES: tuple[str, ...] = ("reduce_lr_on_plateau", "greedy")

PLOTTABLE_SCHEDULES: tuple[str, ...] = tuple(n for n in SCHEDULE_NAMES if n not in METRIC_DRIVEN_SCHEDULES)

#: keyword options per schedule. The transformers names mirror the signatures in
#: transformers 5.23 ``optimization.py`` (a test checks they still match);
#: ``decay_ratio`` is ours (turned into ``num_decay_steps``), and ``min_lr_rate`` is
#: accepted for warmup_stable_decay as an alias of its ``min_lr_ratio``.
SCHEDULE_OPTIONS: dict[str, tuple[str, ...]] = {
    "linear": (),
    "cosine": ("num_cycles",),
    "cosine_with_restarts": ("num_cycles",),
    "polynomial": ("lr_end", "power"),
    "constant": (),
    "constant_with_warmup": (),
    "inverse_sqrt": ("timescale",),
    "cosine_with_min_lr": ("num_cycles", "min_lr", "min_lr_rate"),
    "cosine_warmup_with_min_lr": ("num_cycles", "min_lr", "min_lr_rate", "warmup_lr_rate"),
    "warmup_stable_decay": (
        "num_decay_steps",
        "decay_ratio",
        "num_stable_steps",
        "warmup_type",
        "decay_type",
        "min_lr_ratio",
        "min_lr_rate",
        "num_cycles",
    ),
    "one_cycle": ("div_factor", "final_div_factor", "anneal_strategy", "three_phase"),
}

# options whose transformers defaults surprise (polynomial with power 1 is linear), shown in labels
_ALWAYS_SHOWN = {"polynomial": ("power", "lr_end")}

# options compute_schedule turns into the scheduler's own keyword
_RENAMED = {
    ("warmup_stable_decay", "decay_ratio"): "num_decay_steps",
    ("warmup_stable_decay", "min_lr_rate"): "min_lr_ratio",
}

# One-cycle's own default warmup share (torch's pct_start) when no warmup is given: plan and runner read this one.
ONE_CYCLE_DEFAULT_PCT = 0.3

# A curve is computed by stepping a scheduler; this bounds the loop (~15 s on a laptop).
MAX_CURVE_STEPS = 1_000_000

_EXPLANATIONS = {
    "reduce_lr_on_plateau": (
        "reduce_lr_on_plateau has no fixed curve: it keeps the LR constant and multiplies it by `factor` "
        "(default 0.1) after `patience` (default 10) evaluations without improvement of the metric, so the "
        "curve depends on the run's eval results. transformers applies no warmup to it and steps it once per "
        "evaluation. To see a shape, compare constant or linear instead."
    ),
    "greedy": (
        "greedy has no fixed curve: transformers' GreedyLR raises or lowers the LR from the smoothed training "
        "metric as the run goes, so the curve depends on the run itself. To see a shape, compare constant or "
        "linear instead."
    ),
}


@dataclass(frozen=True)
class ScheduleCurve:
    """The LR at every optimizer step 0..total_steps of one schedule.

    Attributes:
        name: schedule name (``cosine``, ``one_cycle``, ...).
        lr: peak learning rate the optimizer was created with.
        total_steps: optimizer steps of the run.
        warmup_steps: warmup in steps (0 without warmup).
        steps: ``0..total_steps``.
        lrs: the LR at each of ``steps``.
        params: the schedule options in effect (defaults filled in).
        warmup_ratio: the ratio warmup came from, when it came from one.
        notes: things worth knowing about this curve (ignored warmup, never-reached peak, ...).
        given: the option names the caller set (shown in :attr:`label`).
    """

    name: str
    lr: float
    total_steps: int
    warmup_steps: int
    steps: tuple[int, ...]
    lrs: tuple[float, ...]
    params: dict[str, Any] = field(default_factory=dict)
    warmup_ratio: float | None = None
    notes: tuple[str, ...] = ()
    given: tuple[str, ...] = ()

    def lr_at(self, step: int) -> float:
        """The LR the optimizer uses at ``step`` (0-based update index)."""
        if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= self.total_steps:
            raise ConfigError(f"step must be an integer in 0..{self.total_steps}, but got {step!r}")
        return self.lrs[step]

    @property
    def short_label(self) -> str:
        """Name and the options set (no warmup)."""
        shown = list(self.given) + [k for k in _ALWAYS_SHOWN.get(self.name, ()) if k not in self.given]
        parts = [f"{k}={_fmt(self.params[k])}" for k in shown if k in self.params]
        return self.name + (f" ({', '.join(parts)})" if parts else "")

    @property
    def label(self) -> str:
        """A legend label: name, options set, warmup."""
        text = self.short_label
        if self.warmup_steps == 0:
            text += ", no warmup" if self.warmup_ratio is not None else ""
        elif self.warmup_ratio is not None:
            text += f", warmup {_fmt(self.warmup_ratio)} ({self.warmup_steps} steps)"
        else:
            text += f", warmup {self.warmup_steps} steps"
        return text

    def to_dict(self) -> dict[str, Any]:
        """Plain data: ``{"name", "lr", "total_steps", "warmup_steps", "steps", "lr_values", "params", "notes"}``."""
        return {
            "name": self.name,
            "lr": self.lr,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "warmup_ratio": self.warmup_ratio,
            "steps": list(self.steps),
            "lr_values": list(self.lrs),
            "params": dict(self.params),
            "notes": list(self.notes),
        }


def schedule_options(name: str) -> tuple[str, ...]:
    """The keyword options ``name`` accepts (see :data:`SCHEDULE_OPTIONS`)."""
    _check_name(name)
    return SCHEDULE_OPTIONS.get(name, ())


def metric_driven_explanation(name: str) -> str:
    """Why a metric-driven schedule (reduce_lr_on_plateau, greedy) has no curve to plot."""
    _check_name(name)
    if name not in _EXPLANATIONS:
        raise ConfigError(f"{name} is not metric-driven; metric-driven schedules: {', '.join(METRIC_DRIVEN_SCHEDULES)}")
    return _EXPLANATIONS[name]


def compute_schedule(
    name: str,
    lr: float,
    total_steps: int,
    warmup_steps: int | None = None,
    warmup_ratio: float | None = None,
    **kwargs: Any,
) -> ScheduleCurve:
    """Step the real scheduler ``name`` and record the LR at every step.

    Args:
        name: one of :data:`PLOTTABLE_SCHEDULES`.
        lr: peak learning rate (> 0).
        total_steps: optimizer steps of the run (>= 1).
        warmup_steps: warmup in steps; or
        warmup_ratio: warmup as a share of ``total_steps``, rounded up like the Trainer.
        **kwargs: schedule options (:data:`SCHEDULE_OPTIONS`); ``None`` values are ignored.

    Returns:
        The :class:`ScheduleCurve`.

    Example:
        >>> c = compute_schedule("cosine", 5e-5, 1000, warmup_steps=0)
        >>> round(c.lr_at(250), 8)  # 5e-5 x (1 + cos(pi/4)) / 2
        4.268e-05
    """
    _check_name(name)
    if name in METRIC_DRIVEN_SCHEDULES:
        raise ConfigError(metric_driven_explanation(name))
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise ConfigError(f"lr must be a finite number > 0, but got {lr!r}")
    if isinstance(total_steps, bool) or not isinstance(total_steps, int) or not 1 <= total_steps <= MAX_CURVE_STEPS:
        raise ConfigError(f"total_steps must be an integer in 1..{MAX_CURVE_STEPS}, but got {total_steps!r}")
    if name == "one_cycle" and warmup_steps is None and warmup_ratio is None:
        warmup_ratio = ONE_CYCLE_DEFAULT_PCT
    warm = warmup_steps_from(total_steps, warmup_steps=warmup_steps, warmup_ratio=warmup_ratio)
    given = {k: v for k, v in kwargs.items() if v is not None}
    options = _resolve_options(name, float(lr), total_steps, warm, given)

    notes: list[str] = []
    if name == "constant" and warm > 0:
        notes.append(
            f"transformers' 'constant' ignores warmup ({warm} steps asked); use constant_with_warmup to get one"
        )
    elif warm >= total_steps and name != "one_cycle":
        notes.append(f"warmup ({warm} steps) is not shorter than the run ({total_steps} steps): the LR never reaches its peak")
    if name == "warmup_stable_decay":
        end = warm + options["num_stable_steps"] + options["num_decay_steps"]
        if end < total_steps:
            notes.append(f"warmup + stable + decay end at step {end}; the LR stays at its floor for the last {total_steps - end} steps")
        elif end > total_steps:
            notes.append(f"warmup + stable + decay end at step {end}, after the run ends ({total_steps}): the decay is cut short")

    lrs = _step_scheduler(name, float(lr), total_steps, warm, options)
    return ScheduleCurve(
        name=name,
        lr=float(lr),
        total_steps=total_steps,
        warmup_steps=warm,
        steps=tuple(range(total_steps + 1)),
        lrs=tuple(lrs),
        params=options,
        warmup_ratio=warmup_ratio if warmup_steps is None else None,
        notes=tuple(notes),
        given=tuple(sorted({_RENAMED.get((name, k), k) for k in given} & set(options))),
    )


# --------------------------------------------------------------------------- helpers


def _check_name(name: str) -> None:
    if name not in SCHEDULE_NAMES:
        guess = difflib.get_close_matches(str(name), SCHEDULE_NAMES, n=1)
        hint = f" (did you mean '{guess[0]}'?)" if guess else ""
        raise ConfigError(f"unknown schedule {name!r}{hint}; allowed: {', '.join(SCHEDULE_NAMES)}")


# transformers 5.23 defaults, filled in so a curve records what was in effect
_DEFAULTS: dict[str, dict[str, Any]] = {
    "cosine": {"num_cycles": 0.5},
    "cosine_with_restarts": {"num_cycles": 1},
    "polynomial": {"lr_end": 1e-7, "power": 1.0},
    "cosine_with_min_lr": {"num_cycles": 0.5},
    "cosine_warmup_with_min_lr": {"num_cycles": 0.5},
    "warmup_stable_decay": {"warmup_type": "linear", "decay_type": "cosine", "min_lr_ratio": 0.0, "num_cycles": 0.5},
    "one_cycle": {"div_factor": 25.0, "final_div_factor": 1e4, "anneal_strategy": "cos", "three_phase": False},
}


def _resolve_options(name: str, lr: float, total: int, warm: int, given: dict[str, Any]) -> dict[str, Any]:
    allowed = SCHEDULE_OPTIONS[name]
    for key in given:
        if key not in allowed:
            takes = f"it takes: {', '.join(allowed)}" if allowed else "it takes no options"
            raise ConfigError(f"schedule {name} does not take {key!r}; {takes}")
    opts = dict(_DEFAULTS.get(name, {}))
    for key, value in given.items():
        opts[key] = _check_option(key, value, lr)

    if name == "polynomial" and not opts["lr_end"] < lr:
        raise ConfigError(f"lr_end must be smaller than lr ({lr:g}), but got {opts['lr_end']:g}")
    if name in ("cosine_with_min_lr", "cosine_warmup_with_min_lr"):
        has_abs, has_rate = "min_lr" in opts, "min_lr_rate" in opts
        if has_abs == has_rate:
            raise ConfigError(f"schedule {name} needs exactly one of min_lr (absolute) or min_lr_rate (share of lr)")
        if has_abs and opts["min_lr"] >= lr:
            raise ConfigError(f"min_lr must be smaller than lr ({lr:g}), but got {opts['min_lr']:g}")
    if name == "cosine_with_restarts" and opts["num_cycles"] != int(opts["num_cycles"]):
        raise ConfigError(f"num_cycles of cosine_with_restarts must be a whole number, but got {opts['num_cycles']}")
    if name == "warmup_stable_decay":
        if "min_lr_rate" in opts:
            if "min_lr_ratio" in given:
                raise ConfigError("give min_lr_ratio or min_lr_rate for warmup_stable_decay, not both")
            opts["min_lr_ratio"] = opts.pop("min_lr_rate")
        if ("num_decay_steps" in opts) == ("decay_ratio" in opts):
            raise ConfigError("schedule warmup_stable_decay needs exactly one of num_decay_steps or decay_ratio")
        if "decay_ratio" in opts:
            # same rounding as warmup ratios in the Trainer
            opts["num_decay_steps"] = math.ceil(total * opts.pop("decay_ratio"))
        for key in ("warmup_type", "decay_type"):
            if opts[key] not in ("linear", "cosine", "1-sqrt"):
                raise ConfigError(f"{key} must be one of linear, cosine, 1-sqrt, but got {opts[key]!r}")
        if "num_stable_steps" not in opts:
            stable = total - warm - opts["num_decay_steps"]
            if stable < 0:
                raise ConfigError(
                    f"warmup ({warm}) + decay ({opts['num_decay_steps']}) steps exceed total_steps ({total}); "
                    "shorten one or give num_stable_steps"
                )
            opts["num_stable_steps"] = stable
    if name == "one_cycle":
        if opts["anneal_strategy"] not in ("cos", "linear"):
            raise ConfigError(f"anneal_strategy must be one of cos, linear, but got {opts['anneal_strategy']!r}")
        if not 0 < warm < total:
            raise ConfigError(
                f"one_cycle needs a warmup between 1 and {total - 1} steps (it is OneCycleLR's pct_start), but got {warm}"
            )
    if name == "inverse_sqrt" and "timescale" not in opts:
        opts["timescale"] = warm or 10_000  # transformers' default
    return opts


_POSITIVE = ("num_cycles", "power", "div_factor", "final_div_factor", "timescale")
_INT = ("num_decay_steps", "num_stable_steps", "timescale")
_RATIO = ("min_lr_rate", "min_lr_ratio", "warmup_lr_rate", "decay_ratio")
_NONNEG = ("lr_end", "min_lr")
_TEXT = ("warmup_type", "decay_type", "anneal_strategy")


def _check_option(key: str, value: Any, lr: float) -> Any:
    if key == "three_phase":
        if not isinstance(value, bool):
            raise ConfigError(f"three_phase must be true or false, but got {value!r}")
        return value
    if key in _TEXT:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, but got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number, but got {value!r}")
    if key in _INT:
        if value != int(value) or value < 0:
            raise ConfigError(f"{key} must be a whole number >= 0, but got {value!r}")
        value = int(value)
    if key in _POSITIVE and value <= 0:
        raise ConfigError(f"{key} must be > 0, but got {value!r}")
    if key in _RATIO and not 0 <= value < 1:
        raise ConfigError(f"{key} must be in [0, 1), but got {value!r}")
    if key in _NONNEG and value < 0:
        raise ConfigError(f"{key} must be >= 0, but got {value!r}")
    return value


def _step_scheduler(name: str, lr: float, total: int, warm: int, options: dict[str, Any]) -> list[float]:
    torch = try_import("torch", "learning-rate schedules")
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([param], lr=lr)
    kwargs = dict(options)
    try:
        with warnings.catch_warnings():
            # wsd warns when both total and stable steps are known (it uses stable steps, as we intend);
            # torch warns about scheduler.step() without optimizer.step(), which changes nothing here
            warnings.simplefilter("ignore")
            if name == "one_cycle":
                scheduler = torch.optim.lr_scheduler.OneCycleLR(
                    optimizer, max_lr=lr, total_steps=total, pct_start=warm / total, **kwargs
                )
            else:
                # the module the Trainer's create_scheduler calls into (lighter than `import transformers`)
                optimization = try_import("transformers.optimization", "learning-rate schedules")
                scheduler = optimization.get_scheduler(
                    name,
                    optimizer,
                    num_warmup_steps=warm,
                    num_training_steps=total,
                    scheduler_specific_kwargs=kwargs,
                )
            group = optimizer.param_groups[0]
            lrs = [float(group["lr"])]
            for _ in range(total):
                scheduler.step()
                lrs.append(float(group["lr"]))
    except (ValueError, TypeError, ZeroDivisionError) as exc:
        raise ConfigError(f"the {name} scheduler rejected these settings ({kwargs}, warmup {warm}, total {total}): {exc}") from exc
    return lrs


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
