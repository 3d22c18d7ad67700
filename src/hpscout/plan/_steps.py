"""Step math: effective batch, steps per epoch, total and warmup steps, as the Trainer counts them.

Pure Python on purpose (no torch import): the runner, the export and the
workflow call :func:`plan_steps` before anything heavy is loaded.

The rounding follows ``transformers`` 5.23 (``Trainer.set_initial_training_values``
and ``TrainingArguments.get_warmup_steps``):

* batches per device per epoch = ``ceil(samples / (batch_size * devices))`` (the
  length of the sharded dataloader with ``drop_last=False``; accelerate pads the
  last round so every process sees the same count);
* optimizer steps per epoch = ``max(ceil(batches / grad_accum), 1)``: a trailing
  partial accumulation window still makes an optimizer step;
* total steps = ``ceil(epochs * steps_per_epoch)``, or ``max_steps`` when given;
* warmup steps = ``warmup_steps`` when given, else ``ceil(warmup_ratio * total_steps)``.

The "naive" figures are what people compute by hand (``floor(samples / effective
batch)`` per epoch); they are reported so a mismatch is visible, never used.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from hpscout._errors import ConfigError

__all__ = ["StepPlan", "plan_steps", "warmup_steps_from"]


@dataclass(frozen=True)
class StepPlan:
    """How many optimizer steps a run takes, as the transformers Trainer counts them.

    Attributes:
        samples: training rows per epoch (None when only ``max_steps`` is known).
        batch_size: per-device batch size.
        grad_accum: gradient accumulation steps.
        devices: data-parallel devices.
        epochs: requested epochs (None when ``max_steps`` drives the run).
        max_steps: requested optimizer steps (None when epochs drive the run).
        effective_batch_size: ``batch_size * grad_accum * devices``.
        batches_per_epoch: micro-batches each device sees per epoch.
        steps_per_epoch: optimizer steps per epoch (None without ``samples``).
        total_steps: optimizer steps of the whole run.
        warmup_steps: warmup in optimizer steps.
        warmup_ratio: the ratio warmup came from (None when given in steps).
        train_epochs: epochs the Trainer's loop iterates (it stops early at ``total_steps``).
        naive_steps_per_epoch: ``floor(samples / effective_batch_size)``.
        naive_total_steps: naive steps per epoch times epochs (floored).
        naive_warmup_steps: ``warmup_ratio * naive_total_steps`` rounded half up.
    """

    samples: int | None
    batch_size: int
    grad_accum: int
    devices: int
    epochs: float | None
    max_steps: int | None
    effective_batch_size: int
    batches_per_epoch: int | None
    steps_per_epoch: int | None
    total_steps: int
    warmup_steps: int
    warmup_ratio: float | None
    train_epochs: int | None
    naive_steps_per_epoch: int | None
    naive_total_steps: int
    naive_warmup_steps: int

    @property
    def differs_from_naive(self) -> bool:
        """True when hand arithmetic (floor division) gives other figures than the Trainer."""
        return (
            self.naive_steps_per_epoch != self.steps_per_epoch
            or self.naive_total_steps != self.total_steps
            or self.naive_warmup_steps != self.warmup_steps
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data, JSON-serialisable (``differs_from_naive`` included)."""
        out = asdict(self)
        out["differs_from_naive"] = self.differs_from_naive
        return out


def warmup_steps_from(total_steps: int, warmup_steps: int | None = None, warmup_ratio: float | None = None) -> int:
    """Warmup in optimizer steps, rounded like ``TrainingArguments.get_warmup_steps``.

    Args:
        total_steps: optimizer steps of the run.
        warmup_steps: absolute warmup steps (wins when given).
        warmup_ratio: share of ``total_steps`` in [0, 1); rounded up with ``math.ceil``.

    Returns:
        Warmup steps (0 when neither is given).

    Example:
        >>> warmup_steps_from(471, warmup_ratio=0.1)
        48
    """
    _check_int("total_steps", total_steps, minimum=1)
    if warmup_steps is not None and warmup_ratio is not None:
        raise ConfigError(
            f"give warmup_steps or warmup_ratio, not both, but got warmup_steps={warmup_steps}, warmup_ratio={warmup_ratio}"
        )
    if warmup_steps is not None:
        _check_int("warmup_steps", warmup_steps, minimum=0)
        return int(warmup_steps)
    if warmup_ratio is not None:
        _check_ratio(warmup_ratio)
        # transformers 5.23: math.ceil(num_training_steps * warmup_steps) for a float warmup in [0, 1)
        return math.ceil(total_steps * warmup_ratio)
    return 0


def _check_plan_inputs(
    samples: int | None, batch_size: int, grad_accum: int, devices: int, epochs: float | None, max_steps: int | None,
    warmup_ratio: float | None, warmup_steps: int | None,
) -> None:
    _check_int("batch_size", batch_size, minimum=1)
    _check_int("grad_accum", grad_accum, minimum=1)
    _check_int("devices", devices, minimum=1)
    if max_steps is not None:
        _check_int("max_steps", max_steps, minimum=1)
    if epochs is not None:
        if isinstance(epochs, bool) or not isinstance(epochs, (int, float)) or not math.isfinite(epochs) or epochs <= 0:
            raise ConfigError(f"epochs must be a number > 0, but got {epochs!r}")
    if epochs is None and max_steps is None:
        raise ConfigError("give epochs or max_steps; got neither, so the run length is unknown")
    if samples is None:
        if max_steps is None:
            raise ConfigError("samples is needed to turn epochs into steps; give samples or max_steps")
    else:
        _check_int("samples", samples, minimum=1)
    if warmup_steps is not None and warmup_ratio is not None:
        raise ConfigError(
            f"give warmup_steps or warmup_ratio, not both, but got warmup_steps={warmup_steps}, warmup_ratio={warmup_ratio}"
        )



def plan_steps(
    samples: int | None,
    batch_size: int,
    grad_accum: int = 1,
    devices: int = 1,
    epochs: float | None = None,
    max_steps: int | None = None,
    warmup_ratio: float | None = None,
    warmup_steps: int | None = None,
) -> StepPlan:
    """Compute the Trainer's step figures for a run.

    ``max_steps`` wins over ``epochs`` (as in the Trainer). ``samples`` may be None
    only when ``max_steps`` is given.

    Example:
        >>> p = plan_steps(10_000, 8, grad_accum=4, devices=2, epochs=3, warmup_ratio=0.1)
        >>> (p.effective_batch_size, p.steps_per_epoch, p.total_steps, p.warmup_steps)
        (64, 157, 471, 48)
        >>> (p.naive_steps_per_epoch, p.naive_total_steps, p.naive_warmup_steps)
        (156, 468, 47)
    """
    _check_plan_inputs(samples, batch_size, grad_accum, devices, epochs, max_steps, warmup_ratio, warmup_steps)
    effective = batch_size * grad_accum * devices
    batches = steps_per_epoch = naive_spe = train_epochs = None
    if samples is not None:
        # len(dataloader) per device: ceil(ceil(samples / batch) / devices) == ceil(samples / (batch * devices))
        batches = _ceil_div(samples, batch_size * devices)
        steps_per_epoch = max(_ceil_div(batches, grad_accum), 1)
        naive_spe = samples // effective
    if max_steps is not None:
        total = max_steps
        naive_total = max_steps
        if steps_per_epoch is not None:
            train_epochs = _ceil_div(max_steps, steps_per_epoch)
    elif epochs is not None and steps_per_epoch is not None and naive_spe is not None:
        total = math.ceil(epochs * steps_per_epoch)
        naive_total = math.floor(naive_spe * epochs)
        train_epochs = math.ceil(epochs)
    else:  # pragma: no cover - the checks above make this unreachable
        raise ConfigError(f"cannot plan steps from samples={samples}, epochs={epochs}, max_steps={max_steps}")

    warm = warmup_steps_from(total, warmup_steps=warmup_steps, warmup_ratio=warmup_ratio)
    if warmup_ratio is not None:
        naive_warm = math.floor(warmup_ratio * naive_total + 0.5)
    else:
        naive_warm = warm
    return StepPlan(
        samples=samples,
        batch_size=batch_size,
        grad_accum=grad_accum,
        devices=devices,
        epochs=None if max_steps is not None else epochs,
        max_steps=max_steps,
        effective_batch_size=effective,
        batches_per_epoch=batches,
        steps_per_epoch=steps_per_epoch,
        total_steps=total,
        warmup_steps=warm,
        warmup_ratio=warmup_ratio,
        train_epochs=train_epochs,
        naive_steps_per_epoch=naive_spe,
        naive_total_steps=naive_total,
        naive_warmup_steps=naive_warm,
    )


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _check_int(name: str, value: Any, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, but got {value!r}")


def _check_ratio(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ConfigError(f"warmup_ratio must be a number in [0, 1), but got {value!r}")
