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
* a full run evaluates per epoch unless it was scouted with ``eval_strategy: steps``: scouting
  trials evaluate once at their end (``auto``/``end``) to save time, but the full run is not a
  trial, and its users want eval curves (:func:`full_run_eval_strategy`);
* logging every few steps is kept but capped at about 500 log lines.

The plan text shows the arithmetic, so a user can check it by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hpscout._errors import ExportError
from hpscout.config import ExperimentConfig, TrainConfig
from hpscout.plan import StepPlan, plan_steps

__all__ = ["FullDataPlan", "full_data_plan", "full_run_eval_strategy", "MAX_LOG_LINES"]

#: logging interval is raised so a full run writes at most about this many loss lines
MAX_LOG_LINES = 500


@dataclass(frozen=True)
class FullDataPlan:
    """Step-based settings of the full-data run, with the arithmetic behind them.

    The Trainer's step counts live in :attr:`step_plan` (a :class:`hpscout.plan.StepPlan`);
    ``samples``, ``epochs``, ``max_steps``, ``total_steps``, ``steps_per_epoch``, ``warmup_steps``
    and ``effective_batch_size`` read it (None where there is no step plan).

    Attributes:
        step_plan: the full run's optimizer steps as the Trainer counts them; None when neither the
            full data size nor ``max_steps`` is known.
        samples_source: where ``samples`` came from.
        devices: data-parallel devices of the full run.
        batch_size: per-device batch size of the full run (smaller than scouted when more devices share
            the scouted effective batch).
        grad_accum: gradient accumulation of the full run.
        scouted_effective_batch_size: the effective batch the hyperparameters were scouted with.
        warmup_ratio: warmup as a share of the run (None when the config gives steps and the share is unknown).
        eval_strategy: ``epoch`` or ``steps`` (:func:`full_run_eval_strategy`).
        eval_steps: evaluation interval in steps (``steps`` strategy).
        save_steps: checkpoint interval in steps (equal to ``eval_steps``, so the best checkpoint can be kept).
        logging_steps: loss logging interval.
        scouted_epochs: the scouted ``train.epochs`` (None when step-based), kept without a step plan.
        scouted_warmup_steps: the scouted ``train.warmup_steps``, kept without a step plan.
        scout_samples: training rows of the scouting run (None when unknown).
        scout_total_steps: optimizer steps of the scouting run (None when unknown).
        notes: what changed and why.
        text: the arithmetic, one line per figure.
    """

    step_plan: StepPlan | None
    samples_source: str
    devices: int
    batch_size: int
    grad_accum: int
    scouted_effective_batch_size: int
    warmup_ratio: float | None
    eval_strategy: str
    eval_steps: int | None
    save_steps: int | None
    logging_steps: int
    scouted_epochs: float | None = None
    scouted_warmup_steps: int | None = None
    scout_samples: int | None = None
    scout_total_steps: int | None = None
    notes: list[str] = field(default_factory=list)
    text: str = ""

    @property
    def samples(self) -> int | None:
        """Training rows of the full data (None when unknown)."""
        return self.step_plan.samples if self.step_plan else None

    @property
    def effective_batch_size(self) -> int:
        """``batch_size x grad_accum x devices``."""
        return self.batch_size * self.grad_accum * self.devices

    @property
    def epochs(self) -> float | None:
        """Epochs of the full run (None when driven by ``max_steps``)."""
        return self.step_plan.epochs if self.step_plan else self.scouted_epochs

    @property
    def max_steps(self) -> int | None:
        """Optimizer steps, when the run is step-based."""
        return self.step_plan.max_steps if self.step_plan else None

    @property
    def total_steps(self) -> int | None:
        """Optimizer steps of the full run (None when ``samples`` is unknown)."""
        return self.step_plan.total_steps if self.step_plan else None

    @property
    def steps_per_epoch(self) -> int | None:
        """Optimizer steps per epoch (None when unknown)."""
        return self.step_plan.steps_per_epoch if self.step_plan else None

    @property
    def warmup_steps(self) -> int | None:
        """Warmup in steps of the full run (None when only a ratio is known)."""
        if self.step_plan:
            return self.step_plan.warmup_steps
        return self.scouted_warmup_steps if self.warmup_ratio is None else None

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable data."""
        return {
            "samples": self.samples,
            "samples_source": self.samples_source,
            "devices": self.devices,
            "batch_size": self.batch_size,
            "grad_accum": self.grad_accum,
            "effective_batch_size": self.effective_batch_size,
            "scouted_effective_batch_size": self.scouted_effective_batch_size,
            "epochs": self.epochs,
            "max_steps": self.max_steps,
            "total_steps": self.total_steps,
            "steps_per_epoch": self.steps_per_epoch,
            "warmup_steps": self.warmup_steps,
            "warmup_ratio": self.warmup_ratio,
            "eval_strategy": self.eval_strategy,
            "eval_steps": self.eval_steps,
            "save_steps": self.save_steps,
            "logging_steps": self.logging_steps,
            "scout_samples": self.scout_samples,
            "scout_total_steps": self.scout_total_steps,
            "notes": list(self.notes),
            "text": self.text,
            "step_plan": self.step_plan.to_dict() if self.step_plan else None,
        }


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
    story = _Story()
    samples, source = _full_samples(full_samples, scout_samples, scout_fraction, known_full_rows,
                                    known_full_rows_source, story)
    batch, accum = _keep_effective_batch(t, devs, story)
    # the scouting run, to carry step-based settings over
    scout_plan = None
    if scout_samples:
        scout_plan = plan_steps(scout_samples, t.batch_size, t.grad_accum, t.devices,
                                epochs=None if t.max_steps else t.epochs, max_steps=t.max_steps)
    max_steps = _max_steps(t, scout_plan, samples, batch, accum, devs, story)
    warmup_ratio = _warmup_ratio(t, scout_plan, story)
    plan = None
    if samples or max_steps:
        plan = _step_plan(t, samples, batch, accum, devs, max_steps, warmup_ratio, story)
    elif t.warmup_steps is not None:
        story.notes.append("train.warmup_steps kept as scouted: neither the scouting nor the full run length is known")
    total = plan.total_steps if plan else None
    eval_steps = _eval_steps(t, total, scout_plan, story, scouted=config.resolved_eval_strategy)
    return FullDataPlan(
        step_plan=plan,
        samples_source=source,
        devices=devs,
        batch_size=batch,
        grad_accum=accum,
        scouted_effective_batch_size=t.batch_size * t.grad_accum * t.devices,
        warmup_ratio=warmup_ratio,
        eval_strategy=full_run_eval_strategy(t),
        eval_steps=eval_steps,
        save_steps=eval_steps,
        logging_steps=_logging_steps(t.logging_steps, total, story),
        scouted_epochs=None if t.max_steps else t.epochs,
        scouted_warmup_steps=t.warmup_steps,
        scout_samples=scout_samples,
        scout_total_steps=scout_plan.total_steps if scout_plan else None,
        notes=story.notes,
        text="\n".join(story.lines),
    )


@dataclass
class _Story:
    """What the plan says while it is computed: the arithmetic (``lines``) and what changed (``notes``)."""

    lines: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _full_samples(
    full_samples: int | None,
    scout_samples: int | None,
    scout_fraction: float | None,
    known_full_rows: int | None,
    known_source: str,
    story: _Story,
) -> tuple[int | None, str]:
    """Training rows of the full data and where the figure came from."""
    samples: int | None
    if full_samples is not None:
        samples, source = full_samples, "given with --full-samples"
    elif known_full_rows:
        samples, source = int(known_full_rows), known_source
    elif scout_samples and scout_fraction:
        samples = round(scout_samples / scout_fraction)
        source = f"estimated: {scout_samples:,} scouting rows / fraction {scout_fraction:g}"
    else:
        samples, source = None, "unknown"
        story.notes.append("the full data size is unknown: step-based settings keep their ratios; "
                           "pass --full-samples N for exact step counts")
    story.lines.append(f"full data: {samples:,} training rows ({source})" if samples else "full data: size unknown")
    return samples, source


def _keep_effective_batch(t: TrainConfig, devs: int, story: _Story) -> tuple[int, int]:
    """Per-device batch and accumulation on ``devs`` devices that keep the effective batch the LR was scouted with."""
    scout_eff = t.batch_size * t.grad_accum * t.devices
    batch, accum = _split_batch(scout_eff, devs, t.batch_size)
    eff = batch * accum * devs
    if (batch, accum, devs) != (t.batch_size, t.grad_accum, t.devices):
        story.lines.append(
            f"scouted effective batch = {t.batch_size} per device x {t.grad_accum} accumulation x {t.devices} device(s) "
            f"= {scout_eff}; on {devs} device(s): per-device batch {batch}, accumulation {accum}"
            + ("" if eff == scout_eff else f" (closest: {eff})")
        )
    story.lines.append(f"effective batch = {batch} per device x {accum} accumulation x {devs} device(s) = {eff}")
    if batch != t.batch_size:
        story.notes.append(f"per-device batch {t.batch_size} -> {batch} so that {devs} devices keep the scouted "
                           f"effective batch of {scout_eff} (the learning rate was scouted for it)")
    if eff != scout_eff:
        story.notes.append(
            f"the effective batch changes from {scout_eff} (scouted) to {eff}: {devs} devices do not divide it; "
            "re-check the learning rate, or use a device count that divides it"
        )
    return batch, accum


def _max_steps(
    t: TrainConfig, scout_plan: StepPlan | None, samples: int | None, batch: int, accum: int, devs: int, story: _Story
) -> int | None:
    """``max_steps`` of the full run: the same number of epochs as the step-based scouting run."""
    if t.max_steps and scout_plan is not None and scout_plan.steps_per_epoch and samples:
        epochs_equiv = t.max_steps / scout_plan.steps_per_epoch
        probe = plan_steps(samples, batch, accum, devs, epochs=1)
        max_steps = max(1, math.ceil(epochs_equiv * (probe.steps_per_epoch or 1)))
        story.lines.append(
            f"scouting ran max_steps {t.max_steps} = {epochs_equiv:.3g} epochs of its {scout_plan.samples:,} rows "
            f"({scout_plan.steps_per_epoch} steps/epoch); the full run keeps {epochs_equiv:.3g} epochs: "
            f"max_steps = ceil({epochs_equiv:.3g} x {probe.steps_per_epoch}) = {max_steps}"
        )
        story.notes.append(f"max_steps rescaled from {t.max_steps} (scouting) to {max_steps} (same number of epochs)")
        return max_steps
    if t.max_steps:
        story.notes.append(f"max_steps {t.max_steps} kept as scouted: the scouting subset size is unknown, so it "
                           "cannot be turned into epochs of the full data")
    return t.max_steps


def _warmup_ratio(t: TrainConfig, scout_plan: StepPlan | None, story: _Story) -> float | None:
    """Warmup as a share of the run; scouted warmup steps become the share of the scouting run they took."""
    if t.warmup_steps is None:
        return t.warmup_ratio
    if scout_plan is None:
        return None
    ratio = t.warmup_steps / scout_plan.total_steps
    story.lines.append(f"warmup: {t.warmup_steps} of the scouting run's {scout_plan.total_steps} steps "
                       f"= {ratio:.3g} of the run")
    if ratio >= 1:
        raise ExportError(
            f"train.warmup_steps ({t.warmup_steps}) is not shorter than the scouting run ({scout_plan.total_steps} "
            "steps); fix the warmup before exporting"
        )
    return ratio


def _step_plan(
    t: TrainConfig,
    samples: int | None,
    batch: int,
    accum: int,
    devs: int,
    max_steps: int | None,
    warmup_ratio: float | None,
    story: _Story,
) -> StepPlan:
    """The full run's steps as the Trainer counts them, with the arithmetic spelled out."""
    epochs = None if t.max_steps else t.epochs
    plan = plan_steps(samples, batch, accum, devs, epochs=epochs if not max_steps else None,
                      max_steps=max_steps, warmup_ratio=warmup_ratio,
                      warmup_steps=t.warmup_steps if warmup_ratio is None else None)
    if plan.steps_per_epoch is not None and plan.batches_per_epoch is not None:
        story.lines.append(
            f"steps per epoch = ceil(ceil({samples:,} / ({batch} x {devs})) / {accum}) "
            f"= ceil({plan.batches_per_epoch:,} / {accum}) = {plan.steps_per_epoch:,}"
        )
    if max_steps:
        story.lines.append(f"total steps = max_steps = {plan.total_steps:,}")
    else:
        story.lines.append(f"total steps = ceil({epochs:g} epochs x {plan.steps_per_epoch:,}) = {plan.total_steps:,}")
    if warmup_ratio is not None:
        story.lines.append(f"warmup steps = ceil({warmup_ratio:.4g} x {plan.total_steps:,}) = {plan.warmup_steps:,}")
    else:
        story.lines.append(f"warmup steps = {plan.warmup_steps:,} (given in steps)")
    return plan


def full_run_eval_strategy(t: TrainConfig) -> str:
    """When the full-data run evaluates (and saves): ``steps`` as scouted, else ``epoch``.

    Scouting with ``auto`` or ``end`` evaluates a trial once, at its end, because a rung needs one
    number; a full run is not a trial, and per-epoch evaluations give its eval curve and checkpoints.

    Example:
        >>> full_run_eval_strategy(TrainConfig(eval_strategy="end"))
        'epoch'
    """
    return "steps" if t.eval_strategy == "steps" else "epoch"


def _eval_steps(
    t: TrainConfig, total: int | None, scout_plan: StepPlan | None, story: _Story, *, scouted: str
) -> int | None:
    """Evaluation (and checkpoint) interval: as many evaluations as in scouting; ``scouted``: how trials evaluated."""
    if full_run_eval_strategy(t) != "steps":
        how = "as scouted" if scouted == "epoch" else "scouting trials evaluated once, at their end"
        story.lines.append(f"eval and save once per epoch ({how})")
        return None
    if total and scout_plan is not None and t.eval_steps:
        n_evals = max(1, scout_plan.total_steps // t.eval_steps)
        eval_steps = max(1, math.ceil(total / n_evals))
        story.lines.append(f"eval/save every ceil({total:,} / {n_evals} evaluations, as in scouting) = {eval_steps:,} steps")
        return eval_steps
    story.lines.append(f"eval/save every {t.eval_steps} steps (as scouted)")
    return t.eval_steps


def _logging_steps(logging_steps: int, total: int | None, story: _Story) -> int:
    """The scouted logging interval, raised so the full run writes at most about :data:`MAX_LOG_LINES` lines."""
    if total and total / logging_steps > MAX_LOG_LINES:
        logging_steps = math.ceil(total / MAX_LOG_LINES)
        story.lines.append(f"logging every {logging_steps} steps (at most ~{MAX_LOG_LINES} loss lines over {total:,} steps)")
    return logging_steps


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
