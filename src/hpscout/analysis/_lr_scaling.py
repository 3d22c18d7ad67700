"""LR scaling across fractions: how the best learning rate moves with data, and where it lands at full size.

At each fidelity rung ``f`` the best learning rate is that of the trial with the best
value reported at step ``fraction_step(f)`` (every trial that reached the rung has
one; a COMPLETE trial without intermediate values counts at its own ``fraction``).
A power law is fitted by least squares in log space::

    log LR*(x) = a - beta * log(x)

with ``x`` either the optimizer steps of a run at that fraction (``plan_steps`` with the
config's batch, accumulation, devices and epochs; under ``scout.step_matched`` steps
do not change with the fraction) or the data size (training rows). Both are fitted;
the one with the lower leave-one-out error in log LR is kept (with 3+ rungs). With
2 rungs there is no leave-one-out, the fit is exact and ``beta`` has no interval.
The 95% interval of ``beta`` is ``beta ± t(0.975, n-2) · se`` with the least-squares
standard error. Fewer than 2 usable rungs: :class:`~hpscout.SearchError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from hpscout._errors import SearchError
from hpscout.analysis._analysis_file import write_section
from hpscout.config import ExperimentConfig
from hpscout.plan import plan_steps
from hpscout.search import fraction_step, load_study

__all__ = [
    "HORIZON_BETA",
    "HORIZON_MIN_FACTOR",
    "LR_KEY",
    "MIN_TRIALS_PER_RUNG",
    "best_lr_per_rung",
    "compute_lr_scaling",
    "fit_lr_scaling",
    "fit_power_law",
    "horizon_lr",
]

LR_KEY = "train.learning_rate"
#: a rung needs this many trials with a value before its best LR counts
MIN_TRIALS_PER_RUNG = 3
# leave-one-out errors closer than this (relative) count as a tie; the tie goes to steps
_TIE = 0.01
#: The horizon rule's exponent: the best LR falls as ``steps^-HORIZON_BETA`` when a run trains longer.
#: Fitted on the real SST-2 grid (bench/results/finetune_grid.csv, MiniLM + LoRA): the best LR per
#: fraction above the 100-step floor gives 0.30 over 5-100% of the data and 0.39 over 5-50%, which
#: predicts the 100% optimum (docs/benchmarks.md, "Scouting that holds"). The direction (a longer
#: horizon wants a smaller LR) is Bjorck et al., "Scaling Optimal LR Across Token Horizons", ICLR 2025.
HORIZON_BETA = 0.3
#: The horizon rule never lowers the LR by more than this factor: further is beyond what was measured.
HORIZON_MIN_FACTOR = 0.25


def horizon_lr(
    lr: float, steps_from: float, steps_to: float, *, beta: float = HORIZON_BETA, min_factor: float = HORIZON_MIN_FACTOR
) -> tuple[float, float]:
    """(learning rate for a run of ``steps_to`` optimizer steps, the factor applied), from the best LR at
    ``steps_from`` steps: ``lr x (steps_to / steps_from)^-beta``, the factor floored at ``min_factor``.
    A run no longer than the measured one keeps its LR (factor 1): the rule only extrapolates up.

    Example:
        >>> lr, factor = horizon_lr(2.5e-3, 250, 2500)  # the climb's pick at 10% of SST-2, for the full run
        >>> round(lr, 6), round(factor, 3)
        (0.001253, 0.501)
        >>> horizon_lr(2.5e-3, 2500, 2500)
        (0.0025, 1.0)
    """
    if not (lr > 0 and steps_from > 0 and steps_to > 0):
        raise ValueError(f"lr, steps_from and steps_to must be > 0, but got {lr}, {steps_from} and {steps_to}")
    if not 0 < min_factor <= 1:
        raise ValueError(f"min_factor must be in (0, 1], but got {min_factor}")
    if steps_to <= steps_from:
        return lr, 1.0
    factor = max(min_factor, (steps_to / steps_from) ** (-beta))
    return lr * factor, factor


def best_lr_per_rung(
    trials: Sequence[Any],
    fractions: Sequence[float],
    *,
    direction: str,
    lr_key: str = LR_KEY,
    min_trials: int = MIN_TRIALS_PER_RUNG,
) -> list[dict[str, Any]]:
    """For each rung, the learning rate of the trial with the best value there.

    Returns:
        One entry per fraction: ``fraction``, ``n_trials``, ``best_lr``, ``best_value``,
        ``best_trial``, ``usable`` and ``note`` (why a rung is not usable).
    """
    sign = 1.0 if direction == "maximize" else -1.0
    out = []
    for f in fractions:
        step = fraction_step(f)
        points = []
        for t in trials:
            lr = t.params.get(lr_key)
            if lr is None:
                continue
            value = t.intermediate_values.get(step)
            if value is None and t.state.name == "COMPLETE" and not t.intermediate_values:
                frac = t.user_attrs.get("fraction")
                if frac is not None and fraction_step(float(frac)) == step:
                    value = t.value
            if value is not None and math.isfinite(value):
                points.append((sign * float(value), float(lr), float(value), t.number))
        entry: dict[str, Any] = {"fraction": float(f), "n_trials": len(points), "best_lr": None, "best_value": None}
        entry["best_trial"] = None
        if len(points) < min_trials:
            entry["usable"] = False
            entry["note"] = f"too few trials at this rung ({len(points)} < {min_trials})"
        else:
            _, lr, value, number = max(points, key=lambda p: p[0])
            lrs = sorted(p[1] for p in points)
            entry.update({"best_lr": lr, "best_value": value, "best_trial": number, "usable": True, "note": None})
            if lr in (lrs[0], lrs[-1]):
                entry["note"] = "the best LR is at the edge of the LRs tried here: the optimum may lie beyond"
        out.append(entry)
    return out


def fit_power_law(x: Sequence[float], lr: Sequence[float], confidence: float = 0.95) -> dict[str, Any]:
    """Least-squares fit of ``log lr = a - beta * log x``; ``beta_ci`` is None with 2 points.

    Returns:
        ``{"beta", "intercept", "se", "beta_ci", "n", "loo_rmse"}`` (``loo_rmse``: leave-one-out
        RMSE in log LR, None with fewer than 3 points).

    Example:
        >>> fit = fit_power_law([100, 200, 400], [1e-3, 1e-3 / 2**0.5, 5e-4])
        >>> round(fit["beta"], 6)
        0.5
    """
    lx = np.log(np.asarray(x, dtype=float))
    ly = np.log(np.asarray(lr, dtype=float))
    n = int(lx.size)
    if n < 2 or np.ptp(lx) == 0:
        raise SearchError(f"a power-law fit needs >= 2 distinct x values, but got {list(x)}")
    fit = stats.linregress(lx, ly)
    beta, intercept = -float(fit.slope), float(fit.intercept)
    se = ci = None
    if n > 2:  # with 2 points the line is exact and linregress's stderr (0) means nothing
        # linregress reports NaN for a constant y (its r is undefined); the residuals are 0, so is the error
        se = 0.0 if math.isnan(fit.stderr) and np.ptp(ly) == 0 else float(fit.stderr)
        half = float(stats.t.ppf(1 - (1 - confidence) / 2, n - 2)) * se
        ci = [beta - half, beta + half]
    return {"beta": beta, "intercept": intercept, "se": se, "beta_ci": ci, "n": n, "loo_rmse": _loo_rmse(lx, ly)}


def _loo_rmse(lx: np.ndarray, ly: np.ndarray) -> float | None:
    """Leave-one-out RMSE of the line in log LR; None with fewer than 3 points or a constant remainder."""
    n = int(lx.size)
    if n < 3:
        return None
    errs: list[float] = []
    for i in range(n):
        keep = np.arange(n) != i
        if np.ptp(lx[keep]) == 0:
            return None
        fit = stats.linregress(lx[keep], ly[keep])
        errs.append(float(ly[i] - (fit.intercept + fit.slope * lx[i])))
    return math.sqrt(sum(e * e for e in errs) / len(errs))


def fit_lr_scaling(
    rungs: Sequence[Mapping[str, Any]],
    *,
    steps_at: Callable[[float], int],
    rows_at: Callable[[float], int],
    full_rows: int,
    full_steps: int,
    devices: int = 1,
    effective_batch_size: int | None = None,
) -> dict[str, Any]:
    """Fit the LR law over the usable rungs, pick steps or data size by leave-one-out, predict the full run.

    Args:
        rungs: entries of :func:`best_lr_per_rung`.
        steps_at: fraction -> optimizer steps of a run at that fraction.
        rows_at: fraction -> training rows at that fraction.
        full_rows: training rows of the full data.
        full_steps: optimizer steps of the full run (its own devices and effective batch).
        devices: data-parallel devices of the full run (reported).
        effective_batch_size: effective batch of the full run (reported).

    Raises:
        SearchError: fewer than 2 rungs have a usable optimum.
    """
    table = [dict(r) for r in rungs]
    usable = [r for r in table if r.get("usable")]
    for r in table:
        r["train_rows"] = rows_at(r["fraction"])
        r["steps"] = steps_at(r["fraction"])
    if len(usable) < 2:
        detail = "; ".join(f"{r['fraction']:g}: {r.get('note') or 'ok'}" for r in table) or "no rungs"
        raise SearchError(
            f"refusing to extrapolate the learning rate: only {len(usable)} fraction rung(s) have a usable optimum, "
            f"need >= 2 ({detail}). Search with more fidelities (scout.fidelities) or more trials."
        )
    lrs = [r["best_lr"] for r in usable]
    xs = {"steps": [float(steps_at(r["fraction"])) for r in usable], "samples": [float(rows_at(r["fraction"])) for r in usable]}
    fits: dict[str, Any] = {}
    for kind, x in xs.items():
        try:
            fits[kind] = fit_power_law(x, lrs)
        except SearchError as exc:
            fits[kind] = {"error": str(exc)}
    kind, why = _choose_x(fits, len(usable))
    fit = fits[kind]
    x_full = float(full_steps if kind == "steps" else full_rows)
    predicted = math.exp(fit["intercept"] - fit["beta"] * math.log(x_full))
    x_max = max(xs[kind])
    note = f"extrapolated {x_full / x_max:.3g}x beyond the largest rung ({kind}: {x_max:g} -> {x_full:g})"
    if fit["beta_ci"] is None:
        note += "; 2 rungs give an exact fit, so beta has no interval (unbounded)"
    if any(r.get("note") for r in usable):
        note += "; some rung optima sit at the edge of the LRs tried"
    return {
        "status": "ok",
        "per_fraction_best_lr": {f"{r['fraction']:g}": r["best_lr"] for r in usable},
        "rungs": table,
        "x_kind": kind,
        "why": why,
        "beta": fit["beta"],
        "beta_ci": fit["beta_ci"],
        "intercept": fit["intercept"],
        "fits": fits,
        "points": [{"fraction": r["fraction"], "x": x, "lr": r["best_lr"]} for r, x in zip(usable, xs[kind], strict=True)],
        "full": {"train_rows": full_rows, "x": x_full, "steps": full_steps, "devices": devices, "effective_batch_size": effective_batch_size},
        "predicted_full_lr": predicted,
        "note": note,
    }


def _choose_x(fits: Mapping[str, Any], n_usable: int) -> tuple[str, str]:
    """Steps or samples as the law's x (the lower leave-one-out error; steps on a tie), and why."""
    valid = [k for k in ("steps", "samples") if "error" not in fits[k]]
    if not valid:
        raise SearchError(f"refusing to extrapolate the learning rate: {fits['steps']['error']}")
    if len(valid) == 1:
        kind = valid[0]
        other = "samples" if kind == "steps" else "steps"
        return kind, f"{other} does not vary across the rungs ({fits[other]['error']}); fitted against {kind}"
    if n_usable < 3:
        return "steps", "2 rungs: no leave-one-out error to compare; optimizer steps is the default x"
    e_steps, e_samples = fits["steps"]["loo_rmse"], fits["samples"]["loo_rmse"]
    if e_steps is None or e_samples is None:
        kind = "steps" if e_steps is not None or e_samples is None else "samples"
        return kind, "leave-one-out undefined for one x; kept the other"
    if abs(e_steps - e_samples) <= _TIE * max(e_steps, e_samples, 1e-12):
        return "steps", (
            f"leave-one-out RMSE in log LR ties (steps {e_steps:.4g}, samples {e_samples:.4g}): "
            "optimizer steps is kept as the default x"
        )
    kind = "steps" if e_steps < e_samples else "samples"
    return kind, f"lower leave-one-out RMSE in log LR: steps {e_steps:.4g} vs samples {e_samples:.4g}"


def compute_lr_scaling(
    config: ExperimentConfig,
    *,
    storage: str | None = None,
    study: Any = None,
    full_train_rows: int | None = None,
    devices: int | None = None,
    batch_size: int | None = None,
    grad_accum: int | None = None,
    write: bool = True,
) -> dict[str, Any]:
    """Fit the LR law over the search study's rungs and predict the full-data LR; writes ``lr_scaling``.

    Training rows at a fraction are ``round(fraction x full rows)``; full rows are given or
    estimated from the trials (median of ``train_samples / fraction``). The full run uses
    ``devices``/``batch_size``/``grad_accum`` when given, else the config's. A refusal
    (fewer than 2 usable rungs) is written as ``{"status": "refused", "message": ...}`` and raised.

    Example:
        >>> compute_lr_scaling(cfg, full_train_rows=67_349)["predicted_full_lr"]  # doctest: +SKIP
        0.00012
    """
    if study is None:
        study = load_study(config, storage=storage)
    trials = study.get_trials(deepcopy=False)
    if full_train_rows is None:
        guesses = sorted(
            float(t.user_attrs["train_samples"]) / float(t.user_attrs["fraction"])
            for t in trials
            if t.user_attrs.get("train_samples") and t.user_attrs.get("fraction")
        )
        full_train_rows = round(guesses[len(guesses) // 2]) if guesses else None
    t = config.train

    def rows_at(f: float) -> int:
        return max(1, round(f * full_train_rows)) if full_train_rows else 1

    def plan(rows: int, bs: int, ga: int, dev: int) -> Any:
        return plan_steps(rows, bs, ga, dev, epochs=None if t.max_steps else t.epochs, max_steps=t.max_steps)

    top_steps = plan(rows_at(config.scout.fraction), t.batch_size, t.grad_accum, t.devices).total_steps

    def steps_at(f: float) -> int:
        if config.scout.step_matched:
            return top_steps  # step-matched rungs all train the top rung's step count
        return plan(rows_at(f), t.batch_size, t.grad_accum, t.devices).total_steps

    try:
        if full_train_rows is None:
            raise SearchError("refusing to extrapolate the learning rate: the full training size is unknown (no trial "
                              "reports train_samples and fraction; pass full_train_rows)")
        rungs = best_lr_per_rung(trials, config.scout.fidelities, direction=config.search.direction)
        dev, bs, ga = devices or t.devices, batch_size or t.batch_size, grad_accum or t.grad_accum
        full_plan = plan(full_train_rows, bs, ga, dev)
        section = fit_lr_scaling(
            rungs,
            steps_at=steps_at,
            rows_at=rows_at,
            full_rows=full_train_rows,
            full_steps=full_plan.total_steps,
            devices=dev,
            effective_batch_size=full_plan.effective_batch_size,
        )
    except SearchError as exc:
        if write:
            write_section(config, "lr_scaling", {"status": "refused", "message": str(exc)})
        raise
    section["study"] = study.study_name
    if write:
        write_section(config, "lr_scaling", section)
    return section
