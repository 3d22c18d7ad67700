"""The ladder in force for a config: the step floor of :mod:`hpscout.plan` applied to its space and data.

:func:`worst_case` reads the search space for the settings that give the fewest
optimizer steps; :func:`resolve_scout` reads the training rows from the data and
returns the config with ``scout.fraction`` / ``scout.fidelities`` as the floor leaves
them. Every command that trains rungs goes through :func:`resolve_scout`, so a
study's trials all run on the same ladder (it is a pure function of config and data).
"""

from __future__ import annotations

from typing import Any

from hpscout.config import ExperimentConfig, ParamSpec, apply_updates
from hpscout.data import prepare_data
from hpscout.plan import LadderPlan, WorstCase, plan_ladder

__all__ = ["worst_case", "resolve_scout"]


def _spec_extreme(spec: ParamSpec, *, largest: bool) -> float | None:
    """The largest (or smallest) value a numeric search parameter can take; None for derived ones."""
    if spec.multiplier_of is not None:
        return None
    if spec.type == "categorical":
        nums = [float(c) for c in spec.choices or [] if isinstance(c, (int, float)) and not isinstance(c, bool)]
        if not nums:
            return None
        return max(nums) if largest else min(nums)
    return float(spec.high if largest else spec.low)  # type: ignore[arg-type]


def worst_case(config: ExperimentConfig) -> WorstCase:
    """The batch, accumulation, devices and run length that give the fewest steps in ``config``'s space.

    Example:
        >>> from hpscout.config import config_from_dict
        >>> cfg = config_from_dict({"name": "x", "data": {"train": "t.csv"}, "train": {"batch_size": 16},
        ...     "search": {"space": {"train.batch_size": {"type": "categorical", "choices": [8, 32]}}}})
        >>> worst_case(cfg).effective_batch_size
        32
    """
    t = config.train
    values: dict[str, Any] = {
        "batch_size": t.batch_size,
        "grad_accum": t.grad_accum,
        "devices": t.devices,
        "epochs": t.epochs,
        "max_steps": t.max_steps,
    }
    searched = []
    for key, largest in (
        ("batch_size", True),
        ("grad_accum", True),
        ("devices", True),
        ("epochs", False),
        ("max_steps", False),
    ):
        spec = config.search.space.get(f"train.{key}")
        if spec is None:
            continue
        extreme = _spec_extreme(spec, largest=largest)
        if extreme is None:
            continue
        searched.append(f"train.{key}")
        values[key] = extreme if key == "epochs" else int(extreme)
    return WorstCase(
        batch_size=int(values["batch_size"]),
        grad_accum=int(values["grad_accum"]),
        devices=int(values["devices"]),
        epochs=float(values["epochs"]) if values["max_steps"] is None else None,
        max_steps=None if values["max_steps"] is None else int(values["max_steps"]),
        searched=tuple(searched),
    )


def resolve_scout(config: ExperimentConfig, train_rows: int | None = None) -> tuple[ExperimentConfig, LadderPlan]:
    """``config`` with the ladder in force (scout.fraction and scout.fidelities), and the plan that made it.

    ``train_rows`` defaults to the rows :func:`hpscout.data.prepare_data` trains on at 1.0
    (the eval hold-out removed), which reads the data file. The result is a pure function
    of the config and the data, so every worker resolves the same ladder.
    """
    if train_rows is None:
        train_rows = prepare_data(config, config.scout.fraction).full_train_rows
    plan = plan_ladder(
        config.scout.fidelities,
        config.scout.fraction,
        train_rows,
        worst_case(config),
        min_steps=config.scout.min_steps,
        step_matched=config.scout.step_matched,
    )
    if not plan.changed:
        return config, plan
    return _with_ladder(config, plan), plan


def _with_ladder(config: ExperimentConfig, plan: LadderPlan) -> ExperimentConfig:
    updates: dict[str, Any] = {"scout.fraction": plan.fraction, "scout.fidelities": plan.fidelities}
    t = config.transfer
    if t.fraction is not None and t.fraction <= plan.fraction + 1e-12:
        # the written transfer fraction is now at or under the scouting fraction: the default takes over
        updates["transfer.fraction"] = None
    return apply_updates(config, updates)
