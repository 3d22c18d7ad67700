"""Ablation verdicts (pure): each level against the baseline, each factor's verdict and expected pattern.

:func:`summarize_ablation` turns the runs of every cell into effects and verdicts
(no runner, no study); :func:`check_pattern` compares a factor's levels with what
experience says it does; :func:`apply_ablation_verdicts` carries the significant
levels into a config. The rules are in :data:`RULES` (and the ``rules`` entry of
the output).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hpscout.analysis._ablation_plan import FRACTION_KEY, LR_KEY, AblationLevel, cell_updates
from hpscout.analysis._stats import holm, mean_ci, welch_test
from hpscout.config import ExperimentConfig, apply_updates

__all__ = [
    "EXPECTED_PATTERNS",
    "RULES",
    "CellRun",
    "apply_ablation_verdicts",
    "check_pattern",
    "summarize_ablation",
]

_SMALL_EFFECT = "little or no effect at fine-tuning scale"
#: what experience says each known factor does; checked by :func:`check_pattern`
EXPECTED_PATTERNS: dict[str, str] = {
    "train.lora.r": "higher rank helps, then plateaus",
    "train.lora.target": "more target modules give more capacity at a higher cost",
    FRACTION_KEY: "more data helps, with diminishing returns",
    LR_KEY: "the learning rate has an optimum; too high diverges or degrades",
    "train.warmup_ratio": _SMALL_EFFECT,
    "train.lr_scheduler": _SMALL_EFFECT,
    "train.weight_decay": _SMALL_EFFECT,
}

RULES = {
    "verdict": (
        "matters: some level is significantly better than the baseline (Holm-corrected Welch p < alpha); "
        "hurts: some level is significantly worse (or mostly diverged/failed) and none is better; "
        "not enough seeds: no level could be tested (n < 2 on a side); otherwise no detectable effect"
    ),
    "failures": (
        "runs that diverged, ran out of memory or failed are counted in n_failed and left out of the mean and test; "
        "a level where more than half of the runs failed counts as worse than the baseline"
    ),
    "pattern": (
        "rank and fraction: means non-decreasing along the level order, each step allowed to drop by the larger "
        "CI half-width of the two; rank must end flat (last step within that tolerance); fraction's gain per "
        "log-step at the largest step must not exceed the gain at the smallest; target: non-decreasing means "
        "and non-decreasing trainable parameters (or seconds) from qv to qkvo to all-linear; learning rate: the "
        "best level is not the highest and the highest is worse beyond its CI or mostly diverged; "
        "warmup/scheduler/weight decay: the verdict is 'no detectable effect'"
    ),
}


@dataclass(frozen=True)
class CellRun:
    """The outcome of one cell x seed, as the statistics need it."""

    seed: int
    status: str
    objective: float | None
    elapsed_seconds: float = 0.0
    trainable_params: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == "complete" and self.objective is not None and math.isfinite(self.objective)

    @classmethod
    def from_trial(cls, trial: Any) -> CellRun:
        a = trial.user_attrs
        value = trial.value if trial.value is not None else a.get("objective")
        return cls(
            seed=int(a.get("seed", 0)),
            status=str(a.get("status", "failed")),
            objective=None if value is None else float(value),
            elapsed_seconds=float(a.get("elapsed_seconds") or 0.0),
            trainable_params=a.get("trainable_params"),
        )


def apply_ablation_verdicts(
    config: ExperimentConfig, section: Mapping[str, Any], *, baseline_trial: int | None = None
) -> tuple[ExperimentConfig, list[str]]:
    """``config`` with the significantly better level of every factor whose verdict is ``matters``.

    Applied only when the ablation was run around the same config (its baseline trial is
    ``baseline_trial``, when given); ``scout.fraction`` is never applied (more data is not a
    hyperparameter). Returns the new config and one phrase per applied factor.

    Example:
        >>> from hpscout.config import config_from_dict
        >>> cfg = config_from_dict({"name": "d", "data": {"train": "t.csv"}, "train": {"learning_rate": 1e-3}})
        >>> sec = {"baseline": {"trial": 3}, "factors": {"train.learning_rate": {"verdict": "matters",
        ...        "best_level": "x2", "levels": [{"level": "x2", "value": 2e-3, "p_adjusted": 0.01}]}}}
        >>> new, applied = apply_ablation_verdicts(cfg, sec, baseline_trial=3)
        >>> new.train.learning_rate, applied
        (0.002, ['train.learning_rate = 0.002 (ablation level x2, Holm-adjusted p = 0.01)'])
    """
    base = section.get("baseline") or {}
    if baseline_trial is not None and base.get("trial") != baseline_trial:
        return config, []
    applied: list[str] = []
    for key, factor in (section.get("factors") or {}).items():
        if key == FRACTION_KEY or factor.get("verdict") != "matters" or factor.get("best_level") is None:
            continue
        row = next((r for r in factor.get("levels") or [] if r.get("level") == factor["best_level"]), None)
        if row is None or row.get("value") is None:
            continue
        config = apply_updates(config, cell_updates(key, row["value"], config), source=f"ablation verdict {key}")
        p = row.get("p_adjusted")
        applied.append(
            f"{key} = {row['value']!r} (ablation level {factor['best_level']}"
            + (f", Holm-adjusted p = {p:.2g})" if isinstance(p, (int, float)) else ")")
        )
    return config, applied


# --------------------------------------------------------------------------- effects and verdicts


def _failed_counts(runs: Sequence[CellRun]) -> Counter[str]:
    """Runs that did not finish with a finite objective, by status (a ``complete`` one without it counts as failed)."""
    return Counter(r.status if r.status != "complete" else "failed" for r in runs if not r.ok)


def _row(
    level: AblationLevel,
    runs: Sequence[CellRun],
    baseline_values: Sequence[float],
    baseline_mean: float | None,
    confidence: float,
) -> dict[str, Any]:
    values = [r.objective for r in runs if r.ok]
    failed = _failed_counts(runs)
    ci = mean_ci(values, confidence)  # type: ignore[arg-type]
    p, note = (None, "baseline") if level.is_baseline else welch_test(values, baseline_values)  # type: ignore[arg-type]
    params = [r.trainable_params for r in runs if r.trainable_params]
    return {
        "level": level.level,
        "value": level.value,
        "is_baseline": level.is_baseline,
        "mean": ci.mean,
        "ci_low": ci.ci_low,
        "ci_high": ci.ci_high,
        "sd": ci.sd,
        "delta": None if (ci.mean is None or baseline_mean is None) else ci.mean - baseline_mean,
        "p_value": p,
        "p_adjusted": None,
        "n": ci.n,
        "n_failed": sum(failed.values()),
        "failed_statuses": dict(failed),
        "values": values,
        "seeds": [r.seed for r in runs],
        "mean_seconds": (sum(r.elapsed_seconds for r in runs) / len(runs)) if runs else None,
        "trainable_params": (sum(params) / len(params)) if params else None,
        "effect": "baseline" if level.is_baseline else "untested",
        "note": None if level.is_baseline else note,
    }


def summarize_ablation(
    baseline_runs: Sequence[CellRun],
    factor_runs: Mapping[str, Sequence[tuple[AblationLevel, Sequence[CellRun]]]],
    *,
    direction: str,
    alpha: float = 0.05,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Effects, tests and verdicts from the runs of each cell (pure; see the module rules).

    Args:
        baseline_runs: the baseline cell's runs (one per seed).
        factor_runs: factor -> [(level, runs)], the baseline row included (its runs are ``baseline_runs``).
        direction: ``maximize`` or ``minimize``.
        alpha: significance level, applied to Holm-adjusted p-values.
        confidence: coverage of the per-level intervals.

    Returns:
        ``{"baseline": {...}, "factors": {key: {verdict, best_level, expected_pattern,
        pattern_matches, pattern_check, levels: [...]}}}``.

    Example:
        >>> b = [CellRun(s, "complete", v) for s, v in enumerate([1.0, 1.01, 0.99])]
        >>> lo = [CellRun(s, "complete", v) for s, v in enumerate([0.5, 0.51, 0.49])]
        >>> out = summarize_ablation(b, {"train.learning_rate": [
        ...     (AblationLevel("train.learning_rate", "x1", 1e-4, True), b),
        ...     (AblationLevel("train.learning_rate", "x2", 2e-4), lo)]}, direction="minimize")
        >>> out["factors"]["train.learning_rate"]["verdict"]
        'matters'
    """
    if direction not in ("maximize", "minimize"):
        raise ValueError(f"direction must be 'maximize' or 'minimize', but got {direction!r}")
    sign = 1.0 if direction == "maximize" else -1.0
    baseline = _baseline_summary(baseline_runs, confidence)
    factors: dict[str, Any] = {}
    for key, entries in factor_runs.items():
        rows = [_row(lv, runs, baseline["values"], baseline["mean"], confidence) for lv, runs in entries]
        tested = [r for r in rows if not r["is_baseline"]]
        _mark_effects(tested, sign, alpha)
        verdict = _verdict(tested)
        better = [r for r in tested if r["effect"] == "better"]
        best = max(better, key=lambda r: sign * r["mean"]) if better else None
        expected, matches, how = check_pattern(key, rows, direction=direction, verdict=verdict)
        factors[key] = {
            "verdict": verdict,
            "best_level": None if best is None else best["level"],
            "expected_pattern": expected,
            "pattern_matches": matches,
            "pattern_check": how,
            "levels": rows,
        }
    return {"baseline": baseline, "factors": factors}


def _baseline_summary(baseline_runs: Sequence[CellRun], confidence: float) -> dict[str, Any]:
    """The baseline cell: its mean and interval over the finished seeds, and its failures."""
    values = [r.objective for r in baseline_runs if r.ok]
    ci = mean_ci(values, confidence)  # type: ignore[arg-type]
    failed = _failed_counts(baseline_runs)
    return {
        "mean": ci.mean,
        "ci_low": ci.ci_low,
        "ci_high": ci.ci_high,
        "sd": ci.sd,
        "n": ci.n,
        "n_failed": sum(failed.values()),
        "failed_statuses": dict(failed),
        "values": values,
        "seeds": [r.seed for r in baseline_runs],
    }


def _mark_effects(tested: list[dict[str, Any]], sign: float, alpha: float) -> None:
    """Holm-adjust one factor's p-values and set each tested level's ``effect`` (and a note on failures)."""
    for r, adj in zip(tested, holm([r["p_value"] for r in tested]), strict=True):
        r["p_adjusted"] = adj
        total = r["n"] + r["n_failed"]
        if total and r["n_failed"] * 2 > total:
            r["effect"] = "failed"
            r["note"] = f"{r['n_failed']} of {total} runs failed ({_statuses(r['failed_statuses'])}); counted as worse"
        elif adj is None:
            r["effect"] = "untested"
        elif adj < alpha:
            r["effect"] = "better" if sign * r["delta"] > 0 else "worse"
        else:
            r["effect"] = "none"


def _verdict(tested: Sequence[Mapping[str, Any]]) -> str:
    """The factor's verdict from the effects of its tested levels (see ``RULES["verdict"]``)."""
    if any(r["effect"] == "better" for r in tested):
        return "matters"
    if any(r["effect"] in ("worse", "failed") for r in tested):
        return "hurts"
    if tested and all(r["effect"] == "untested" for r in tested):
        return "not enough seeds"
    return "no detectable effect"


def _statuses(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))


# --------------------------------------------------------------------------- expected patterns


def _oriented(rows: Sequence[Mapping[str, Any]], sign: float) -> list[float]:
    """Higher is better; a mostly-failed level is the worst possible (-inf)."""
    out = []
    for r in rows:
        total = r["n"] + r["n_failed"]
        if r["mean"] is None or (total and r["n_failed"] * 2 > total):
            out.append(-math.inf)
        else:
            out.append(sign * r["mean"])
    return out


def _half_width(r: Mapping[str, Any]) -> float | None:
    if r["ci_low"] is None or r["ci_high"] is None:
        return None
    return (r["ci_high"] - r["ci_low"]) / 2


def _non_decreasing(g: Sequence[float], hw: Sequence[float]) -> bool:
    return all(g[i + 1] >= g[i] - max(hw[i], hw[i + 1]) for i in range(len(g) - 1))


_Check = tuple[bool | None, str]


def check_pattern(
    key: str, rows: Sequence[Mapping[str, Any]], *, direction: str, verdict: str | None = None
) -> tuple[str | None, bool | None, str]:
    """Compare a factor's observed levels with the pattern expected for it (see the module's ``RULES``).

    Args:
        key: the factor's dotted config key.
        rows: its level rows in level order (``mean``, ``ci_low``, ``ci_high``, ``n``, ``n_failed``, ``value``).
        direction: ``maximize`` or ``minimize``.
        verdict: the factor's verdict (used by the small-effect factors).

    Returns:
        ``(expected_pattern, matches, how)``; ``matches`` is None when it cannot be checked, ``how`` says why.
    """
    expected = EXPECTED_PATTERNS.get(key)
    if expected is None:
        return None, None, "no expected pattern for this factor"
    if expected == _SMALL_EFFECT:
        if verdict in (None, "not enough seeds"):
            return expected, None, "needs a tested verdict (>= 2 seeds per level)"
        return expected, verdict == "no detectable effect", f"verdict is {verdict!r}"
    usable = [r for r in rows if r["mean"] is not None or r["n_failed"]]
    if len(usable) < 2:
        return expected, None, "fewer than 2 levels with results"
    g = _oriented(usable, 1.0 if direction == "maximize" else -1.0)
    widths = [_half_width(r) for r in usable]
    if key == LR_KEY:
        return (expected, *_check_lr(g, widths))
    if any(w is None for w in widths) or any(v == -math.inf for v in g):
        reason = "a level mostly failed" if any(v == -math.inf for v in g) else "needs >= 2 seeds per level"
        return expected, False if reason == "a level mostly failed" else None, reason
    hw = [float(w) for w in widths]  # type: ignore[arg-type]
    shaped = {"train.lora.r": _check_rank, FRACTION_KEY: _check_fraction_gain, "train.lora.target": _check_target}
    if key in shaped:
        return (expected, *shaped[key](usable, g, hw))
    return expected, None, "no check implemented"


def _check_lr(g: Sequence[float], widths: Sequence[float | None]) -> _Check:
    """An optimum inside the range: the best level is not the highest, which is worse beyond its CI (or failed)."""
    finite = [i for i, v in enumerate(g) if v > -math.inf]
    if not finite:
        return False, "every level diverged or failed"
    best = max(finite, key=lambda i: g[i])
    top = len(g) - 1
    if best == top:
        return False, "the best level is the highest learning rate tried: no optimum inside the range"
    if g[top] == -math.inf:
        return True, "optimum inside the range; the highest learning rate diverged or failed"
    known = [w for w in (widths[best], widths[top]) if w is not None]
    if not known:
        return None, "needs >= 2 seeds per level to tell the highest learning rate from the optimum"
    worse = g[best] - g[top] > max(known)
    return worse, (
        "optimum inside the range and the highest learning rate is worse beyond its CI"
        if worse
        else "optimum inside the range, but the highest learning rate is within the CI of the best"
    )


def _check_rank(usable: Sequence[Mapping[str, Any]], g: Sequence[float], hw: Sequence[float]) -> _Check:
    """Higher rank helps, then plateaus: non-decreasing within CI, and flat at the top."""
    if len(usable) < 3:
        return None, "needs >= 3 ranks"
    rising = _non_decreasing(g, hw)
    flat_end = g[-1] - g[-2] <= max(hw[-1], hw[-2])
    return rising and flat_end, f"non-decreasing within CI: {rising}; flat at the top: {flat_end}"


def _check_fraction_gain(usable: Sequence[Mapping[str, Any]], g: Sequence[float], hw: Sequence[float]) -> _Check:
    """More data helps with diminishing returns: the gain per log-step shrinks from the first step to the last."""
    if len(usable) < 3:
        return None, "needs >= 3 fractions"
    rising = _non_decreasing(g, hw)
    f = [float(r["value"]) for r in usable]
    first = (g[1] - g[0]) / math.log(f[1] / f[0])
    last = (g[-1] - g[-2]) / math.log(f[-1] / f[-2])
    diminishing = last <= first + max(hw[-1], hw[-2]) / math.log(f[-1] / f[-2])
    return rising and diminishing, f"non-decreasing within CI: {rising}; diminishing gain per log-step: {diminishing}"


def _check_target(usable: Sequence[Mapping[str, Any]], g: Sequence[float], hw: Sequence[float]) -> _Check:
    """More target modules: non-decreasing means and a non-decreasing cost (parameters, else seconds)."""
    rising = _non_decreasing(g, hw)
    cost_key = "trainable_params" if all(r.get("trainable_params") for r in usable) else "mean_seconds"
    cost = [r.get(cost_key) or 0.0 for r in usable]
    slack = 1.0 if cost_key == "trainable_params" else 0.9  # wall time is noisy: allow 10%
    costlier = all(cost[i + 1] >= slack * cost[i] for i in range(len(cost) - 1))
    return rising and costlier, f"non-decreasing within CI: {rising}; non-decreasing {cost_key}: {costlier}"
