"""One :class:`PlotData` per plot of the report: plain series from the trial rows and analysis.json."""

from __future__ import annotations

import math
from typing import Any

from hpscout._errors import ConfigError, MissingDependencyError
from hpscout.config import ExperimentConfig
from hpscout.plan import METRIC_DRIVEN_SCHEDULES, compute_schedule, metric_driven_explanation, plan_steps
from hpscout.report._data_types import PlotData, TrialRow, finite
from hpscout.runner import TrialResult

__all__ = [
    "MAX_CURVES",
    "ablation_series",
    "climb_series",
    "curve_series",
    "history_series",
    "importance_series",
    "lora_series",
    "lr_law_series",
    "parallel_series",
    "param_series",
    "schedule_series",
    "transfer_series",
]

# learning curves of at most this many top trials (more lines are unreadable)
MAX_CURVES = 5
# a schedule curve is down-sampled to about this many points for the page
MAX_SCHEDULE_POINTS = 1500


def history_series(study: Any, rows: list[TrialRow], maximize: bool) -> PlotData:
    """Objective per trial number, the best value so far, and pruned trials at their last rung."""
    title = "Optimization history"
    done = sorted((r for r in rows if r.value is not None), key=lambda r: r.number)
    pruned = sorted((r for r in rows if r.value is None and r.last_value is not None), key=lambda r: r.number)
    if not done and not pruned:
        return PlotData("history", title, note="no trial has reported a value yet")
    best: list[float] = []
    cur: float | None = None
    for r in done:
        v = float(r.value)  # type: ignore[arg-type]
        cur = v if cur is None else (max(cur, v) if maximize else min(cur, v))
        best.append(cur)
    return PlotData(
        "history",
        title,
        {
            "numbers": [r.number for r in done],
            "values": [r.value for r in done],
            "names": [r.name for r in done],
            "best_so_far": best,
            "stopped": {
                "numbers": [r.number for r in pruned],
                "values": [r.last_value for r in pruned],
                "names": [r.name for r in pruned],
                "statuses": [r.status for r in pruned],
                "fractions": [r.fraction for r in pruned],
            },
        },
    )


def param_series(rows: list[TrialRow], attr: str, title: str, label: str, *, log: bool = False) -> PlotData:
    """One trial attribute against the objective of the complete trials."""
    key = {"learning_rate": "lr", "lora_r": "lora_r", "trainable_params": "trainable_params"}.get(attr, attr)
    pts = [(getattr(r, attr), r.value, r.name) for r in rows if r.value is not None and getattr(r, attr) is not None]
    if not pts:
        return PlotData(key, title, note=f"no complete trial records {label}")
    if len({p[0] for p in pts}) < 2:
        return PlotData(key, title, note=f"every complete trial used the same {label} ({_short(pts[0][0])}): nothing to compare")
    return PlotData(key, title, {"x": [p[0] for p in pts], "y": [p[1] for p in pts], "names": [p[2] for p in pts],
                                 "x_label": label, "log_x": log})


def lora_series(rows: list[TrialRow], config: ExperimentConfig, metric: str) -> PlotData:
    title = f"LoRA rank vs {metric}"
    if config.train.method == "full" and "train.method" not in config.search.space:
        return PlotData("lora_r", title, note="full fine-tuning: there is no LoRA rank")
    return param_series(rows, "lora_r", title, "train.lora.r", log=True)


def parallel_series(rows: list[TrialRow], metric: str) -> PlotData:
    """Searched parameters (numeric or categorical) and the objective, one line per complete trial."""
    title = "Parallel coordinates"
    done = [r for r in rows if r.value is not None]
    if not done:
        return PlotData("parallel", title, note="no complete trial yet")
    keys = sorted(set.intersection(*(set(r.params) for r in done)))
    if not keys:
        return PlotData("parallel", title, note="no parameter was searched in every complete trial")
    dims = []
    for key in keys:
        values = [r.params[key] for r in done]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            positive = all(v > 0 for v in values)
            spread = max(values) / min(values) if positive and min(values) > 0 else 1.0
            log = positive and spread >= 20
            dim: dict[str, Any] = {"label": key, "values": [math.log10(v) if log else v for v in values], "log": log}
            distinct = sorted(set(values))
            if len(distinct) <= 6 and not log:  # a few levels (a categorical searched as numbers): tick each one
                dim.update(tickvals=distinct, ticktext=[_short(v) for v in distinct])
            dims.append(dim)
        else:
            cats = sorted({str(v) for v in values})
            dims.append({"label": key, "values": [cats.index(str(v)) for v in values], "log": False,
                         "ticktext": cats, "tickvals": list(range(len(cats)))})
    dims.append({"label": metric, "values": [r.value for r in done], "log": False})
    return PlotData("parallel", title, {"dimensions": dims, "color": [r.value for r in done],
                                        "names": [r.name for r in done]})


def importance_series(section: dict[str, Any] | None) -> PlotData:
    """Parameter importances from analysis.json (PED-ANOVA and fANOVA when both were computed)."""
    title = "Parameter importance"
    if not isinstance(section, dict):
        return PlotData("importance", title, note="importance not run (analysis.json has no importance section)")
    methods: dict[str, dict[str, float]] = {}
    errors = []
    for key, label in (("ped_anova", "PED-ANOVA"), ("fanova", "fANOVA")):
        values = section.get(key)
        if isinstance(values, dict) and "error" in values:
            errors.append(f"{label}: {values['error']}")
        elif isinstance(values, dict) and values:
            clean = {k: float(v) for k, v in values.items() if finite(v) is not None}
            if clean:
                methods[label] = clean
    if not methods:
        why = section.get("note") or section.get("status") or "; ".join(errors) or "no importances stored"
        return PlotData("importance", title, note=str(why))
    params = sorted({p for m in methods.values() for p in m}, key=lambda p: -max(m.get(p, 0.0) for m in methods.values()))
    return PlotData("importance", title, {"params": params, "methods": methods,
                                          "n_trials": section.get("n_trials"), "fraction": section.get("fraction")})


def curve_series(rows: list[TrialRow], results: dict[int, TrialResult], metric: str, k: int) -> PlotData:
    """Train loss and the eval metric over optimizer steps of the top ``k`` complete trials."""
    title = f"Learning curves of the top {k} trials"
    top = [r for r in rows if r.rank is not None][:k]
    curves = []
    for r in top:
        result = results.get(r.number)
        if result is None or not result.history:
            continue
        train = [(e["step"], e["loss"]) for e in result.history if "loss" in e and "step" in e and finite(e["loss"]) is not None]
        evals = [(e["step"], e[metric]) for e in result.history if metric in e and "step" in e and finite(e[metric]) is not None]
        if train or evals:
            curves.append({
                "name": r.name,
                "rank": r.rank,
                "train_steps": [s for s, _ in train],
                "train_loss": [v for _, v in train],
                "eval_steps": [s for s, _ in evals],
                "eval_values": [v for _, v in evals],
            })
    if not curves:
        why = "no complete trial yet" if not top else "the top trials' result.json files hold no history"
        return PlotData("curves", title, note=why)
    return PlotData("curves", title, {"curves": curves, "metric": metric})


def schedule_series(
    final: ExperimentConfig | None,
    source: str,
    best: TrialRow | None,
    results: dict[int, TrialResult],
    cost: dict[str, Any] | None,
) -> PlotData:
    """The LR schedule of the final config, from the scheduler objects training uses.

    Length: the full data when analysis.json's cost section knows its row count,
    else the scouting subset of the best trial.
    """
    title = "Learning-rate schedule of the final config"
    if final is None:
        return PlotData("schedule", title, note="no final config yet (no complete trial)")
    train = final.train
    if train.lr_scheduler in METRIC_DRIVEN_SCHEDULES:
        return PlotData("schedule", title, note=metric_driven_explanation(train.lr_scheduler))
    samples, where = None, ""
    full_rows = cost.get("full_train_rows") if isinstance(cost, dict) else None
    if isinstance(full_rows, int) and full_rows > 0:
        samples, where = full_rows, f"full data ({full_rows:,} rows)"
    elif best is not None and best.number in results and results[best.number].train_samples:
        samples = results[best.number].train_samples
        where = f"scouting subset ({samples:,} rows, fraction {results[best.number].fraction:g})"
    if samples is None and train.max_steps is None:
        return PlotData("schedule", title, note="the number of training rows is unknown, so the run length in steps is too")
    try:
        plan = plan_steps(samples, train.batch_size, train.grad_accum, train.devices,
                          epochs=None if train.max_steps else train.epochs, max_steps=train.max_steps)
        curve = compute_schedule(
            train.lr_scheduler,
            train.learning_rate,
            plan.total_steps,
            warmup_steps=train.warmup_steps,
            warmup_ratio=None if train.warmup_steps is not None else train.warmup_ratio,
            **train.scheduler_kwargs,
        )
    except MissingDependencyError as exc:
        return PlotData("schedule", title, note=f"cannot compute the schedule: {exc}")
    except ConfigError as exc:
        return PlotData("schedule", title, note=f"the final config's schedule cannot be computed: {exc}")
    stride = max(1, len(curve.steps) // MAX_SCHEDULE_POINTS)
    idx = list(range(0, len(curve.steps), stride))
    if idx[-1] != len(curve.steps) - 1:
        idx.append(len(curve.steps) - 1)
    return PlotData(
        "schedule",
        title,
        {
            "steps": [curve.steps[i] for i in idx],
            "lrs": [curve.lrs[i] for i in idx],
            "label": curve.label,
            "name": curve.name,
            "peak_lr": curve.lr,
            "total_steps": curve.total_steps,
            "warmup_steps": curve.warmup_steps,
            "source": source,
            "length_from": where or f"max_steps {train.max_steps}",
            "notes": list(curve.notes),
        },
    )


def ablation_series(section: dict[str, Any] | None) -> PlotData:
    """Per factor, each level's mean with its confidence interval, next to the baseline."""
    title = "Ablation effects (mean and CI per level)"
    if not isinstance(section, dict) or not isinstance(section.get("factors"), dict):
        return PlotData("ablation", title, note="ablation not run (analysis.json has no ablation section)")
    factors = []
    for key, factor in section["factors"].items():
        levels = []
        for lv in factor.get("levels") or []:
            mean = finite(lv.get("mean"))
            levels.append({
                "level": str(lv.get("level")),
                "mean": mean,
                "ci_low": finite(lv.get("ci_low")),
                "ci_high": finite(lv.get("ci_high")),
                "is_baseline": bool(lv.get("is_baseline")),
                "effect": lv.get("effect"),
                "n": lv.get("n"),
                "n_failed": lv.get("n_failed") or 0,
            })
        if any(lv["mean"] is not None for lv in levels):
            factors.append({"key": key, "verdict": factor.get("verdict"), "levels": levels})
    if not factors:
        return PlotData("ablation", title, note="the ablation has no level with a finite mean")
    baseline = _sub(section, "baseline")
    return PlotData("ablation", title, {
        "factors": factors,
        "metric": section.get("metric"),
        "confidence": section.get("confidence"),
        "baseline_mean": finite(baseline.get("mean")),
    })


def transfer_series(section: dict[str, Any] | None) -> PlotData:
    """Small- vs large-fraction values of the re-run top configs."""
    title = "Transfer check: small vs larger fraction"
    if not isinstance(section, dict):
        return PlotData("transfer", title, note="transfer check not run (analysis.json has no transfer section)")
    pts = [c for c in section.get("configs") or []
           if finite(c.get("small_value")) is not None and finite(c.get("large_value")) is not None]
    if not pts:
        return PlotData("transfer", title, note="no re-run config has values at both fractions")
    return PlotData("transfer", title, {
        "small": [c["small_value"] for c in pts],
        "large": [c["large_value"] for c in pts],
        "labels": [_trial_label(c) for c in pts],
        "rank_small": [c.get("rank_small") for c in pts],
        "rank_large": [c.get("rank_large") for c in pts],
        "small_fraction": section.get("small_fraction"),
        "large_fraction": section.get("large_fraction"),
        "spearman": section.get("spearman"),
        "verdict": section.get("verdict"),
        "metric": section.get("metric"),
    })


def climb_series(section: dict[str, Any] | None) -> PlotData:
    """Each re-run config's value at the scouting fraction and at every rung the transfer climb reached."""
    title = "Transfer climb: value per rung"
    if not isinstance(section, dict) or not section.get("rungs"):
        return PlotData("climb", title, note="no climb (transfer check not run, or one-shot)")
    small = section.get("small_fraction")
    fractions = [small] + [r.get("fraction") for r in section["rungs"]]
    lines = []
    for c in section.get("configs") or []:
        by_rung = c.get("values_by_rung") or {}
        ys = [finite(c.get("small_value"))] + [finite(by_rung.get(f"{f:g}")) if isinstance(f, (int, float)) else None
                                                for f in fractions[1:]]
        lines.append({"label": _trial_label(c), "y": ys, "trial": c.get("trial")})
    pick = section.get("pick") or {}
    return PlotData("climb", title, {
        "fractions": fractions,
        "lines": lines,
        "decisions": [r.get("decision") for r in section["rungs"]],
        "pick": pick.get("trial"),
        "final_fraction": section.get("final_fraction"),
        "trusted": section.get("trusted"),
        "metric": section.get("metric"),
    })


def lr_law_series(section: dict[str, Any] | None) -> PlotData:
    """Best LR per fraction, the power-law fit ``LR = exp(a) * x^-beta`` and its extrapolation to the full run."""
    title = "LR scaling law"
    if not isinstance(section, dict):
        return PlotData("lr_law", title, note="LR scaling not run (analysis.json has no lr_scaling section)")
    if section.get("status") not in (None, "ok"):
        return PlotData("lr_law", title, note=f"LR law {section.get('status')}: {section.get('message') or 'no reason given'}")
    pts = [p for p in section.get("points") or [] if finite(p.get("x")) and finite(p.get("lr")) and p["x"] > 0 and p["lr"] > 0]
    beta = finite(section.get("beta"))
    if len(pts) < 2 or beta is None:
        return PlotData("lr_law", title, note="fewer than two usable rungs or no fitted exponent")
    full = _sub(section, "full")
    full_x = finite(full.get("x"))
    predicted = finite(section.get("predicted_full_lr"))
    # a least-squares line in log-log space passes through the centroid of the points: draw the fit
    # (and its exponent CI) through there, so the band is narrowest where the data are
    ax = sum(math.log(p["x"]) for p in pts) / len(pts)
    ay = sum(math.log(p["lr"]) for p in pts) / len(pts)
    lo = min(p["x"] for p in pts)
    hi = max([p["x"] for p in pts] + ([full_x] if full_x else []))
    n = 40
    xs = [math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * i / (n - 1)) for i in range(n)]

    def line(b: float) -> list[float]:  # log LR = a - beta * log x (hpscout.analysis._lr_scaling)
        return [math.exp(ay - b * (math.log(x) - ax)) for x in xs]

    ci = section.get("beta_ci")
    band = None
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(finite(c) is not None for c in ci):
        band = {"low": line(float(ci[0])), "high": line(float(ci[1]))}
    largest = max(p["x"] for p in pts)
    return PlotData("lr_law", title, {
        "points": [{"fraction": p.get("fraction"), "x": p["x"], "lr": p["lr"]} for p in pts],
        "fit_x": xs,
        "fit_lr": line(beta),
        "observed_max_x": largest,
        "band": band,
        "beta": beta,
        "beta_ci": list(ci) if band and isinstance(ci, (list, tuple)) else None,
        "x_kind": section.get("x_kind") or "x",
        "full_x": full_x,
        "predicted_full_lr": predicted,
        "note": section.get("note"),
    })


def _trial_label(config: dict[str, Any]) -> str:
    """``t0007`` for a re-run config of trial 7 (analysis.json transfer section)."""
    trial = config.get("trial")
    return f"t{trial:04d}" if isinstance(trial, int) else str(trial)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _sub(obj: Any, key: str) -> dict[str, Any]:
    """``obj[key]`` when it is a mapping, else an empty dict (analysis.json sections may be partial)."""
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, dict) else {}
