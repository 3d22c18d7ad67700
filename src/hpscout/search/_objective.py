"""The objective of a trial: hpscout's runner on each fraction rung by default, or an injected callable.

An injected objective (advanced, tests, benchmarks) is ``objective(trial, config) -> float``
(or ``objective(trial)``), where ``config`` already holds the trial's sampled parameters; it
may return a ``TrialResult`` instead of a number.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna

from hpscout import runner  # runner.run_trial looked up per call: tests and tools stand in for it
from hpscout._errors import SearchError
from hpscout._imports import import_callable
from hpscout.config import ExperimentConfig, apply_updates
from hpscout.runner import TrialPruned as RunnerPruned
from hpscout.runner import TrialStatus
from hpscout.search._context import WorkerContext
from hpscout.search._fidelity import TrialReporter, run_rungs
from hpscout.search._outcomes import TrialFailed
from hpscout.search._space import suggest_updates

__all__ = ["resolve_objective", "call_objective", "jsonable"]


def resolve_objective(objective: Callable[..., Any] | str | None) -> Callable[..., Any] | None:
    """A callable from a callable or a ``'module:function'`` reference (advanced / testing)."""
    if objective is None or callable(objective):
        return objective
    return import_callable(str(objective), "objective", error=SearchError)


def call_objective(trial: optuna.Trial, ctx: WorkerContext) -> float:
    """Apply the trial's parameters to the config and run the objective on it."""
    updates = suggest_updates(trial, ctx.config.search.space, ctx.config)
    if updates != trial.params:  # derived parameters: keep the values the config really got
        trial.set_user_attr("updates", jsonable(updates))
    cfg = apply_updates(ctx.config, updates, source=f"trial {trial.number} parameters")
    if ctx.objective is None:
        return _default_objective(trial, cfg, ctx)
    result = ctx.objective(trial, cfg) if _wants_config(ctx.objective) else ctx.objective(trial)
    if hasattr(result, "status") and hasattr(result, "objective"):
        return _outcome(result)
    return float(result)


def jsonable(v: Any) -> Any:
    """``v`` with non-finite floats as ``None`` (what a JSON user attribute can hold)."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    return v


def _wants_config(fn: Callable[..., Any]) -> bool:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return True
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return True
    positional = [p for p in params if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2


def _record_result(trial: optuna.Trial, result: Any, fraction: float, path: Path, totals: dict[str, float]) -> None:
    totals["elapsed_seconds"] = totals.get("elapsed_seconds", 0.0) + float(result.elapsed_seconds or 0.0)
    totals["samples_processed"] = totals.get("samples_processed", 0) + int(result.samples_processed or 0)
    attrs = {
        "fraction": fraction,
        "metrics": {k: v for k, v in (result.metrics or {}).items() if isinstance(v, (int, float))},
        "result_path": str(path),
        "trainable_params": result.trainable_params,
        "train_samples": result.train_samples,
        "samples_processed": totals["samples_processed"],
        "elapsed_seconds": round(totals["elapsed_seconds"], 3),
    }
    if result.ok:
        # a failed rung's status is written last, by run_one, right before the trial ends FAIL:
        # until then a trial cut off by a dead worker must not look like a verdict
        attrs["status"] = result.status.value
    if result.message:
        attrs["message"] = str(result.message)[:1000]
    for k, v in attrs.items():
        trial.set_user_attr(k, jsonable(v))


def _outcome(result: Any) -> float:
    """A TrialResult's objective, or the exception that ends the trial."""
    if result.status is TrialStatus.PRUNED:
        raise optuna.TrialPruned(result.message or "pruned by the runner")
    if not result.ok:
        status = result.status.value if result.status is not TrialStatus.COMPLETE else TrialStatus.FAILED.value
        if result.status is TrialStatus.COMPLETE and result.objective is not None and not math.isfinite(result.objective):
            status = TrialStatus.DIVERGED.value
        raise TrialFailed(status, result.message or f"trial ended {status} (objective {result.objective!r})")
    return float(result.objective)


def _default_objective(trial: optuna.Trial, cfg: ExperimentConfig, ctx: WorkerContext) -> float:
    """Train the trial's config with the runner: on each fraction rung, or once with eval-step pruning."""
    tdir = ctx.layout.trial_dir(f"t{trial.number:04d}")
    if ctx.config.search.fidelity == "fraction":
        return _on_each_rung(trial, cfg, ctx, tdir)
    reporter = TrialReporter(trial)
    top = ctx.ladder[-1]
    try:
        res = runner.run_trial(cfg, out_dir=tdir, fraction=top, reporter=reporter)
    except RunnerPruned as exc:
        if reporter.error is not None:
            raise reporter.error from None
        raise optuna.TrialPruned(str(exc)) from None
    if reporter.error is not None:
        raise reporter.error
    if not (tdir / "result.json").exists():
        res.save(tdir / "result.json")
    _record_result(trial, res, top, tdir / "result.json", {})
    return _outcome(res)


def _on_each_rung(trial: optuna.Trial, cfg: ExperimentConfig, ctx: WorkerContext, tdir: Path) -> float:
    """``fidelity: fraction``: train from scratch on each rung the pruner lets the trial reach."""
    totals: dict[str, float] = {}
    last: dict[str, Any] = {}

    def evaluate(f: float) -> float:
        try:
            res = runner.run_trial(cfg, out_dir=tdir / f"f{f:g}", fraction=f)
        except RunnerPruned as exc:
            raise optuna.TrialPruned(str(exc)) from None
        last["result"] = res
        _record_result(trial, res, f, tdir / "result.json", totals)
        return _outcome(res)

    try:
        return run_rungs(trial, evaluate, ctx.ladder)
    finally:
        if "result" in last:
            last["result"].save(tdir / "result.json")
