"""Step-based settings for the full data: what changes when the scouted config trains on everything.

Ratios (warmup_ratio, epochs, the LR schedule's shape) carry over unchanged; settings
counted in optimizer steps do not. This module recomputes them with
:func:`hpscout.plan.plan_steps` (the Trainer's own rounding):

* the effective batch the LR was scouted with is kept across a new device count by
  changing the per-device batch and gradient accumulation (``batch x accum x devices``
  stays the same whenever the device count divides it);
* ``max_steps`` of a step-based scouting run becomes the same number of epochs on the full data;
* warmup, eval/save intervals are re-expressed as steps of the full run (same share of
  the run, same number of evaluations);
* logging every few steps is kept but capped at about 500 log lines.

The plan text shows the arithmetic, so a user can check it by hand.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from hpscout._errors import ExportError
from hpscout.config import ExperimentConfig
from hpscout.plan import StepPlan, plan_steps

__all__ = ["FullDataPlan", "full_data_plan", "MAX_LOG_LINES"]

#: logging interval is raised so a full run writes at most about this many loss lines
MAX_LOG_LINES = 500


@dataclass(frozen=True)
class FullDataPlan:
    """Step-based settings of the full-data run, with the arithmetic behind them.

    Attributes:
        samples: training rows of the full data (None when unknown).
        samples_source: where ``samples`` came from.
        devices: data-parallel devices of the full run.
        batch_size: per-device batch size of the full run (smaller than scouted when more devices share
            the scouted effective batch).
        grad_accum: gradient accumulation of the full run.
        effective_batch_size: ``batch_size x grad_accum x devices``.
        scouted_effective_batch_size: the effective batch the hyperparameters were scouted with.
        epochs: epochs of the full run (None when driven by ``max_steps``).
        max_steps: optimizer steps, when the run is step-based.
        total_steps: optimizer steps of the full run (None when ``samples`` is unknown).
        steps_per_epoch: optimizer steps per epoch (None when unknown).
        warmup_steps: warmup in steps of the full run (None when only a ratio is known).
        warmup_ratio: warmup as a share of the run (None when the config gives steps and the share is unknown).
        eval_strategy: ``epoch`` or ``steps``.
        eval_steps: evaluation interval in steps (``steps`` strategy).
        save_steps: checkpoint interval in steps (equal to ``eval_steps``, so the best checkpoint can be kept).
        logging_steps: loss logging interval.
        scout_samples: training rows of the scouting run (None when unknown).
        scout_total_steps: optimizer steps of the scouting run (None when unknown).
        notes: what changed and why.
        text: the arithmetic, one line per figure.
    """

    samples: int | None
    samples_source: str
    devices: int
    batch_size: int
    grad_accum: int
    effective_batch_size: int
    scouted_effective_batch_size: int
    epochs: float | None
    max_steps: int | None
    total_steps: int | None
    steps_per_epoch: int | None
    warmup_steps: int | None
    warmup_ratio: float | None
    eval_strategy: str
    eval_steps: int | None
    save_steps: int | None
    logging_steps: int
    scout_samples: int | None = None
    scout_total_steps: int | None = None
    notes: list[str] = field(default_factory=list)
    text: str = ""
    step_plan: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable data."""
        return asdict(self)


def full_data_plan(
    config: ExperimentConfig,
    *,
    full_samples: int | None = None,
    devices: int | None = None,
    scout_samples: int | None = None,
    scout_fraction: float | None = None,
    known_full_rows: int | None = None,
    known_full_rows_source: str = "analysis.json",
) -> FullDataPlan:
    """Recompute the step-based settings of ``config`` for the full data and ``devices``.

    Args:
        config: the final (scouted) config.
        full_samples: training rows of the full data (``--full-samples``); wins over the others.
        devices: data-parallel devices of the full run (``--devices``); default ``train.devices``.
        scout_samples: training rows the scouting run used (from its result).
        scout_fraction: the data fraction of the scouting run.
        known_full_rows: full training rows another stage measured (analysis.json).
        known_full_rows_source: where ``known_full_rows`` came from, for the plan text.

    Example:
        >>> plan = full_data_plan(cfg, full_samples=67_349, devices=4)  # doctest: +SKIP
        >>> print(plan.text)  # doctest: +SKIP
    """
    t = config.train
    for name, value in (("full_samples", full_samples), ("devices", devices)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ExportError(f"{name} must be an integer >= 1, but got {value!r}")
    devs = devices or t.devices
    notes: list[str] = []
    lines: list[str] = []

    # --- samples
    if full_samples is not None:
        samples, source = full_samples, "given with --full-samples"
    elif known_full_rows:
        samples, source = int(known_full_rows), known_full_rows_source
    elif scout_samples and scout_fraction:
        samples = round(scout_samples / scout_fraction)
        source = f"estimated: {scout_samples:,} scouting rows / fraction {scout_fraction:g}"
    else:
        samples, source = None, "unknown"
        notes.append("the full data size is unknown: step-based settings keep their ratios; "
                     "pass --full-samples N for exact step counts")
    lines.append(f"full data: {samples:,} training rows ({source})" if samples else "full data: size unknown")

    # --- effective batch: keep the one the LR was scouted with
    scout_eff = t.batch_size * t.grad_accum * t.devices
    batch, accum = _split_batch(scout_eff, devs, t.batch_size)
    eff = batch * accum * devs
    if (batch, accum, devs) != (t.batch_size, t.grad_accum, t.devices):
        lines.append(
            f"scouted effective batch = {t.batch_size} per device x {t.grad_accum} accumulation x {t.devices} device(s) "
            f"= {scout_eff}; on {devs} device(s): per-device batch {batch}, accumulation {accum}"
            + ("" if eff == scout_eff else f" (closest: {eff})")
        )
    lines.append(f"effective batch = {batch} per device x {accum} accumulation x {devs} device(s) = {eff}")
    if batch != t.batch_size:
        notes.append(f"per-device batch {t.batch_size} -> {batch} so that {devs} devices keep the scouted effective "
                     f"batch of {scout_eff} (the learning rate was scouted for it)")
    if eff != scout_eff:
        notes.append(
            f"the effective batch changes from {scout_eff} (scouted) to {eff}: {devs} devices do not divide it; "
            "re-check the learning rate, or use a device count that divides it"
        )

    # --- the scouting run, to carry step-based settings over
    scout_plan: StepPlan | None = None
    if scout_samples:
        scout_plan = plan_steps(scout_samples, t.batch_size, t.grad_accum, t.devices,
                                epochs=None if t.max_steps else t.epochs, max_steps=t.max_steps)

    # --- run length
    epochs: float | None = None if t.max_steps else t.epochs
    max_steps = t.max_steps
    if t.max_steps and scout_plan is not None and scout_plan.steps_per_epoch and samples:
        epochs_equiv = t.max_steps / scout_plan.steps_per_epoch
        probe = plan_steps(samples, batch, accum, devs, epochs=1)
        max_steps = max(1, math.ceil(epochs_equiv * (probe.steps_per_epoch or 1)))
        lines.append(
            f"scouting ran max_steps {t.max_steps} = {epochs_equiv:.3g} epochs of its {scout_samples:,} rows "
            f"({scout_plan.steps_per_epoch} steps/epoch); the full run keeps {epochs_equiv:.3g} epochs: "
            f"max_steps = ceil({epochs_equiv:.3g} x {probe.steps_per_epoch}) = {max_steps}"
        )
        notes.append(f"max_steps rescaled from {t.max_steps} (scouting) to {max_steps} (same number of epochs)")
    elif t.max_steps:
        notes.append(f"max_steps {t.max_steps} kept as scouted: the scouting subset size is unknown, so it cannot be "
                     "turned into epochs of the full data")

    # --- warmup
    warmup_ratio: float | None = None if t.warmup_steps is not None else t.warmup_ratio
    if t.warmup_steps is not None and scout_plan is not None:
        warmup_ratio = t.warmup_steps / scout_plan.total_steps
        lines.append(f"warmup: {t.warmup_steps} of the scouting run's {scout_plan.total_steps} steps "
                     f"= {warmup_ratio:.3g} of the run")
        if warmup_ratio >= 1:
            raise ExportError(
                f"train.warmup_steps ({t.warmup_steps}) is not shorter than the scouting run ({scout_plan.total_steps} "
                "steps); fix the warmup before exporting"
            )

    plan: StepPlan | None = None
    if samples or max_steps:
        plan = plan_steps(samples, batch, accum, devs, epochs=epochs if not max_steps else None,
                          max_steps=max_steps, warmup_ratio=warmup_ratio,
                          warmup_steps=t.warmup_steps if warmup_ratio is None else None)
        if plan.steps_per_epoch is not None and plan.batches_per_epoch is not None:
            lines.append(
                f"steps per epoch = ceil(ceil({samples:,} / ({batch} x {devs})) / {accum}) "
                f"= ceil({plan.batches_per_epoch:,} / {accum}) = {plan.steps_per_epoch:,}"
            )
        if max_steps:
            lines.append(f"total steps = max_steps = {plan.total_steps:,}")
        else:
            lines.append(f"total steps = ceil({epochs:g} epochs x {plan.steps_per_epoch:,}) = {plan.total_steps:,}")
        if warmup_ratio is not None:
            lines.append(f"warmup steps = ceil({warmup_ratio:.4g} x {plan.total_steps:,}) = {plan.warmup_steps:,}")
        else:
            lines.append(f"warmup steps = {plan.warmup_steps:,} (given in steps)")
    elif t.warmup_steps is not None:
        notes.append("train.warmup_steps kept as scouted: neither the scouting nor the full run length is known")

    total = plan.total_steps if plan else None
    warm = plan.warmup_steps if plan else (t.warmup_steps if warmup_ratio is None else None)

    # --- evaluation and checkpoints
    eval_steps = save_steps = None
    if t.eval_strategy == "steps":
        if total and scout_plan is not None and t.eval_steps:
            n_evals = max(1, scout_plan.total_steps // t.eval_steps)
            eval_steps = max(1, math.ceil(total / n_evals))
            lines.append(f"eval/save every ceil({total:,} / {n_evals} evaluations, as in scouting) = {eval_steps:,} steps")
        else:
            eval_steps = t.eval_steps
            lines.append(f"eval/save every {eval_steps} steps (as scouted)")
        save_steps = eval_steps
    else:
        lines.append("eval and save once per epoch (as scouted)")

    # --- logging
    logging_steps = t.logging_steps
    if total and total / logging_steps > MAX_LOG_LINES:
        logging_steps = math.ceil(total / MAX_LOG_LINES)
        lines.append(f"logging every {logging_steps} steps (at most ~{MAX_LOG_LINES} loss lines over {total:,} steps)")

    return FullDataPlan(
        samples=samples,
        samples_source=source,
        devices=devs,
        batch_size=batch,
        grad_accum=accum,
        effective_batch_size=eff,
        scouted_effective_batch_size=scout_eff,
        epochs=epochs if not max_steps else None,
        max_steps=max_steps,
        total_steps=total,
        steps_per_epoch=plan.steps_per_epoch if plan else None,
        warmup_steps=warm,
        warmup_ratio=warmup_ratio,
        eval_strategy=t.eval_strategy,
        eval_steps=eval_steps,
        save_steps=save_steps,
        logging_steps=logging_steps,
        scout_samples=scout_samples,
        scout_total_steps=scout_plan.total_steps if scout_plan else None,
        notes=notes,
        text="\n".join(lines),
        step_plan=plan.to_dict() if plan else None,
    )


def _split_batch(effective: int, devices: int, max_batch: int) -> tuple[int, int]:
    """Per-device batch and accumulation for ``devices`` that keep ``effective`` (or come closest).

    The per-device batch never grows beyond the scouted one (memory was sized for it);
    among the splits, the largest per-device batch wins (fewer accumulation steps).
    """
    if effective % devices == 0:
        per_device = effective // devices
        batch = max(b for b in range(1, min(max_batch, per_device) + 1) if per_device % b == 0)
        return batch, per_device // batch
    return max_batch, max(1, round(effective / (max_batch * devices)))
