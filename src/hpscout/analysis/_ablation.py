"""One-factor-at-a-time ablation around a baseline, with repeated seeds and Welch's tests.

Flow: :func:`resolve_baseline` picks the config to ablate around (the best search
trial, ``trial:N`` or a YAML file); :func:`ablation_plan` turns factors into
cells; :func:`run_ablation` runs every missing cell x seed (resumable, recorded in
the study ``<name>-ablation``) and :func:`summarize_ablation` turns the outcomes
into effects and verdicts (pure: no runner, no study).

Rules (also written into the ``rules`` entry of the output):

* every cell, the baseline included, runs with ``k`` seeds, seed ``i`` = ``config.seed + i``;
  the baseline cell is run once per seed and shared by every factor (a level equal
  to the baseline value *is* the baseline cell);
* each level is compared with the baseline by Welch's two-sided t-test on the
  seeds that finished with a finite objective; the p-values of one factor's levels
  are Holm-corrected; a level is *better*/*worse* when its Holm p < alpha;
* failures: a level where more than half of the runs diverged/failed counts as
  *worse* (a run that diverges is the worst outcome a setting can have),
  whatever its surviving seeds say; fewer failures are reported as ``n_failed``
  and the test uses the surviving seeds;
* factor verdict: ``matters`` when some level is better than the baseline,
  ``hurts`` when some level is worse and none better, ``not enough seeds`` when no
  level could be tested (n < 2 on a side), else ``no detectable effect``.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpscout._errors import ConfigError, SearchError
from hpscout.analysis._cells import (
    RunCell,
    config_for_trial,
    default_run_cell,
    done_cells,
    fingerprint,
    open_analysis_study,
    run_and_record,
    slug,
)
from hpscout.analysis._importance import top_fraction_trials
from hpscout.analysis._stats import holm, mean_ci, welch_test
from hpscout.config import ExperimentConfig, apply_updates, config_to_dict, get_value

__all__ = [
    "DEFAULT_FACTORS",
    "EXPECTED_PATTERNS",
    "AblationLevel",
    "CellRun",
    "apply_ablation_verdicts",
    "default_factors",
    "resolve_level",
    "ablation_plan",
    "resolve_baseline",
    "summarize_ablation",
    "check_pattern",
    "run_ablation",
]

FRACTION_KEY = "scout.fraction"
LR_KEY = "train.learning_rate"

#: the factors ablated when config.ablation.factors is empty (LoRA ones only for LoRA methods)
DEFAULT_FACTORS: dict[str, list[Any]] = {
    "train.lora.r": [8, 16, 32, 64],
    "train.lora.target": ["qv", "qkvo", "all-linear"],
    FRACTION_KEY: [0.01, 0.02, 0.05, 0.10],
    LR_KEY: ["x0.2", "x0.5", "x2", "x5"],
    "train.warmup_ratio": [0.0, 0.03, 0.1],
    "train.lr_scheduler": ["linear", "cosine", "constant"],
    "train.weight_decay": [0.0, 0.01, 0.1],
}

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

_TARGET_ORDER = {"qv": 0, "qkvo": 1, "all-linear": 2}

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
class AblationLevel:
    """One level of one factor: as written, and resolved to a config value."""

    factor: str
    level: Any
    value: Any
    is_baseline: bool = False


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


# --------------------------------------------------------------------------- factors and levels


def default_factors(config: ExperimentConfig) -> dict[str, list[Any]]:
    """The default factors for ``config``: LoRA ones are skipped for full fine-tuning and non-HF tasks."""
    out = dict(DEFAULT_FACTORS)
    if config.train.method == "full" or config.task in ("torch", "command"):
        out.pop("train.lora.r")
        out.pop("train.lora.target")
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and not isinstance(b, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-15)
    return a == b


def resolve_level(config: ExperimentConfig, key: str, level: Any) -> Any:
    """The config value a level stands for.

    ``'x0.5'`` multiplies the baseline value of a numeric key (meant for
    ``train.learning_rate``); ``'5%'`` is a fraction (0.05). Other levels are used as written.

    Example:
        >>> from hpscout.config import config_from_dict
        >>> cfg = config_from_dict({"name": "d", "data": {"train": "t.csv"}, "train": {"learning_rate": 2e-4}})
        >>> resolve_level(cfg, "train.learning_rate", "x0.5"), resolve_level(cfg, "scout.fraction", "5%")
        (0.0001, 0.05)
    """
    base = get_value(config, key)
    if isinstance(level, str) and level.strip().lower().startswith("x"):
        try:
            factor = float(level.strip()[1:])
        except ValueError:
            raise ConfigError(
                f"a multiplier level must look like 'x0.5', but got {level!r} (in ablation.factors, {key})"
            ) from None
        if isinstance(base, bool) or not isinstance(base, (int, float)):
            raise ConfigError(f"multiplier level {level!r} needs a numeric key, but {key} is {base!r} (in ablation.factors)")
        if factor <= 0:
            raise ConfigError(f"a multiplier level must be > 0, but got {level!r} (in ablation.factors, {key})")
        value = base * factor
        if isinstance(base, int):
            if abs(value - round(value)) > 1e-9:
                raise ConfigError(f"{key} is an integer, but {level!r} x {base} = {value} is not (in ablation.factors)")
            return int(round(value))
        return float(f"{value:.12g}")
    if isinstance(level, str) and level.strip().endswith("%"):
        try:
            return float(level.strip()[:-1]) / 100
        except ValueError:
            raise ConfigError(f"a percent level must look like '5%', but got {level!r} (in ablation.factors, {key})") from None
    return level


def _alpha_tied_to_r(config: ExperimentConfig) -> bool:
    """The search ties ``train.lora.alpha`` to the rank (``multiplier_of: train.lora.r``)."""
    spec = config.search.space.get("train.lora.alpha")
    return spec is not None and spec.multiplier_of == "train.lora.r"


def _cell_updates(key: str, value: Any, baseline: ExperimentConfig | None = None) -> dict[str, Any]:
    """The config updates of one level. A rank level keeps the baseline's alpha / r when the search ties
    alpha to the rank, so that rank and LoRA scale are not confounded."""
    updates = {key: value}
    if key == "train.warmup_ratio":
        updates["train.warmup_steps"] = None  # warmup_steps would override the ratio being ablated
    if key == "train.lora.r" and baseline is not None and _alpha_tied_to_r(baseline):
        ratio = baseline.train.lora.alpha / baseline.train.lora.r
        updates["train.lora.alpha"] = float(f"{ratio * float(value):.12g}")
    return updates


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
        config = apply_updates(config, _cell_updates(key, row["value"], config), source=f"ablation verdict {key}")
        p = row.get("p_adjusted")
        applied.append(
            f"{key} = {row['value']!r} (ablation level {factor['best_level']}"
            + (f", Holm-adjusted p = {p:.2g})" if isinstance(p, (int, float)) else ")")
        )
    return config, applied


def _sort_key(key: str, value: Any) -> Any:
    if key == "train.lora.target":
        return (_TARGET_ORDER.get(value, 99) if isinstance(value, str) else 99, str(value))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, float(value))
    return None


def ablation_plan(baseline: ExperimentConfig, factors: Mapping[str, Sequence[Any]]) -> dict[str, list[AblationLevel]]:
    """Resolve every factor's levels against the baseline, check each cell's config, add the baseline row.

    The baseline row (``is_baseline``) is the level equal to the baseline value, or
    an added one when no level equals it. Numeric factors (and LoRA target presets)
    are sorted along their values so the pattern checks can read them in order.
    """
    plan: dict[str, list[AblationLevel]] = {}
    for key, raw_levels in factors.items():
        if not raw_levels:
            raise ConfigError(f"ablation factor {key} needs at least one level, but got none (in ablation.factors)")
        base_value = get_value(baseline, key)
        levels: list[AblationLevel] = []
        seen: list[Any] = []
        for raw in raw_levels:
            value = resolve_level(baseline, key, raw)
            if any(_same(value, s) for s in seen):
                continue
            seen.append(value)
            is_base = _same(value, base_value)
            if not is_base and key != FRACTION_KEY:
                apply_updates(baseline, _cell_updates(key, value, baseline), source=f"ablation.factors.{key}={raw!r}")
            if key == FRACTION_KEY and not (isinstance(value, (int, float)) and 0 < float(value) <= 1):
                raise ConfigError(f"scout.fraction levels must be in (0, 1], but got {raw!r} (in ablation.factors)")
            levels.append(AblationLevel(key, raw, value, is_base))
        if not any(lv.is_baseline for lv in levels):
            label = "x1" if any(isinstance(lv.level, str) and lv.level.startswith("x") for lv in levels) else base_value
            levels.insert(0, AblationLevel(key, label, base_value, True))
        keys = [_sort_key(key, lv.value) for lv in levels]
        if all(k is not None for k in keys):
            levels = [lv for _, lv in sorted(zip(keys, levels, strict=True), key=lambda p: p[0])]
        plan[key] = levels
    return plan


# --------------------------------------------------------------------------- baseline


def resolve_baseline(
    config: ExperimentConfig,
    spec: str | None = None,
    *,
    storage: str | None = None,
    search_study: Any = None,
) -> tuple[ExperimentConfig, dict[str, Any]]:
    """The config to ablate around, and a description of where it came from.

    Args:
        config: the experiment config.
        spec: ``best`` (the best COMPLETE search trial at ``scout.fraction``), ``trial:N``
            or a path to a YAML config; default ``config.ablation.baseline``.
        storage: storage URL of the search study.
        search_study: an already opened search study (tests, notebooks).

    Returns:
        ``(baseline_config, info)``; ``info`` has ``source``, ``trial`` and ``params``.
    """
    spec = (spec or config.ablation.baseline).strip()
    if spec != "best" and not spec.startswith("trial:"):
        from hpscout.config import load_config

        path = Path(spec)
        if not path.exists():
            raise ConfigError(f"--baseline must be 'best', 'trial:N' or an existing YAML config, but got {spec!r} (no such file)")
        loaded = load_config(path)
        # the experiment's identity (name, storage, folders, seeds, ablation settings) stays the main config's
        keep = {k: getattr(config, k) for k in ("name", "seed", "storage", "output_dir", "ablation", "transfer", "search", "scout")}
        baseline = loaded.model_copy(update=keep)
        return baseline, {"source": spec, "trial": None, "params": {}}

    if search_study is None:
        from hpscout.search import load_study

        search_study = load_study(config, storage=storage)
    if spec == "best":
        trials = top_fraction_trials(search_study, config.scout.fraction)
        if not trials:
            raise SearchError(
                f"no COMPLETE search trial at fraction {config.scout.fraction} in study {search_study.study_name!r} "
                "to use as the baseline; run `hpscout search` first, or pass --baseline trial:N or --baseline FILE"
            )
        sign = 1 if config.greater_is_better else -1
        chosen = max(trials, key=lambda t: sign * t.value)
    else:
        raw = spec.partition(":")[2]
        try:
            number = int(raw)
        except ValueError:
            raise ConfigError(f"--baseline trial:N needs an integer N, but got {spec!r}") from None
        matches = [t for t in search_study.get_trials(deepcopy=False) if t.number == number]
        if not matches:
            raise SearchError(f"study {search_study.study_name!r} has no trial {number} (--baseline {spec})")
        chosen = matches[0]
    baseline = config_for_trial(config, chosen)
    return baseline, {"source": spec, "trial": chosen.number, "params": dict(chosen.params), "value": chosen.value}


# --------------------------------------------------------------------------- statistics (pure)


def _row(
    level: AblationLevel,
    runs: Sequence[CellRun],
    baseline_values: Sequence[float],
    baseline_mean: float | None,
    confidence: float,
) -> dict[str, Any]:
    values = [r.objective for r in runs if r.ok]
    failed = Counter(r.status if r.status != "complete" else "failed" for r in runs if not r.ok)
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
    base_values = [r.objective for r in baseline_runs if r.ok]
    base_ci = mean_ci(base_values, confidence)  # type: ignore[arg-type]
    failed = Counter(r.status if r.status != "complete" else "failed" for r in baseline_runs if not r.ok)
    baseline = {
        "mean": base_ci.mean,
        "ci_low": base_ci.ci_low,
        "ci_high": base_ci.ci_high,
        "sd": base_ci.sd,
        "n": base_ci.n,
        "n_failed": sum(failed.values()),
        "failed_statuses": dict(failed),
        "values": base_values,
        "seeds": [r.seed for r in baseline_runs],
    }
    factors: dict[str, Any] = {}
    for key, entries in factor_runs.items():
        rows = [_row(lv, runs, base_values, base_ci.mean, confidence) for lv, runs in entries]  # type: ignore[arg-type]
        tested = [r for r in rows if not r["is_baseline"]]
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
        better = [r for r in tested if r["effect"] == "better"]
        if better:
            verdict = "matters"
        elif any(r["effect"] in ("worse", "failed") for r in tested):
            verdict = "hurts"
        elif tested and all(r["effect"] == "untested" for r in tested):
            verdict = "not enough seeds"
        else:
            verdict = "no detectable effect"
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


def _statuses(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))


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
    sign = 1.0 if direction == "maximize" else -1.0
    if expected == _SMALL_EFFECT:
        if verdict in (None, "not enough seeds"):
            return expected, None, "needs a tested verdict (>= 2 seeds per level)"
        return expected, verdict == "no detectable effect", f"verdict is {verdict!r}"

    usable = [r for r in rows if r["mean"] is not None or r["n_failed"]]
    if len(usable) < 2:
        return expected, None, "fewer than 2 levels with results"
    g = _oriented(usable, sign)
    widths = [_half_width(r) for r in usable]

    if key == LR_KEY:
        finite = [i for i, v in enumerate(g) if v > -math.inf]
        if not finite:
            return expected, False, "every level diverged or failed"
        best = max(finite, key=lambda i: g[i])
        top = len(usable) - 1
        if best == top:
            return expected, False, "the best level is the highest learning rate tried: no optimum inside the range"
        if g[top] == -math.inf:
            return expected, True, "optimum inside the range; the highest learning rate diverged or failed"
        known = [w for w in (widths[best], widths[top]) if w is not None]
        if not known:
            return expected, None, "needs >= 2 seeds per level to tell the highest learning rate from the optimum"
        tol = max(known)
        worse = g[best] - g[top] > tol
        return expected, worse, (
            "optimum inside the range and the highest learning rate is worse beyond its CI"
            if worse
            else "optimum inside the range, but the highest learning rate is within the CI of the best"
        )

    if any(w is None for w in widths) or any(v == -math.inf for v in g):
        reason = "a level mostly failed" if any(v == -math.inf for v in g) else "needs >= 2 seeds per level"
        return expected, False if reason == "a level mostly failed" else None, reason
    hw = [float(w) for w in widths]  # type: ignore[arg-type]
    rising = _non_decreasing(g, hw)

    if key == "train.lora.r":
        if len(usable) < 3:
            return expected, None, "needs >= 3 ranks"
        flat_end = g[-1] - g[-2] <= max(hw[-1], hw[-2])
        ok = rising and flat_end
        return expected, ok, f"non-decreasing within CI: {rising}; flat at the top: {flat_end}"

    if key == FRACTION_KEY:
        if len(usable) < 3:
            return expected, None, "needs >= 3 fractions"
        f = [float(r["value"]) for r in usable]
        first = (g[1] - g[0]) / math.log(f[1] / f[0])
        last = (g[-1] - g[-2]) / math.log(f[-1] / f[-2])
        diminishing = last <= first + max(hw[-1], hw[-2]) / math.log(f[-1] / f[-2])
        return expected, rising and diminishing, f"non-decreasing within CI: {rising}; diminishing gain per log-step: {diminishing}"

    if key == "train.lora.target":
        cost_key = "trainable_params" if all(r.get("trainable_params") for r in usable) else "mean_seconds"
        cost = [r.get(cost_key) or 0.0 for r in usable]
        slack = 1.0 if cost_key == "trainable_params" else 0.9  # wall time is noisy: allow 10%
        costlier = all(cost[i + 1] >= slack * cost[i] for i in range(len(cost) - 1))
        return expected, rising and costlier, f"non-decreasing within CI: {rising}; non-decreasing {cost_key}: {costlier}"

    return expected, None, "no check implemented"


# --------------------------------------------------------------------------- running


def _cell_key(factor: str | None, level: Any, seed: int) -> str:
    if factor is None:
        return f"baseline|s{seed}"
    return f"{factor}|{json.dumps(level, sort_keys=True, default=str)}|s{seed}"


def run_ablation(
    config: ExperimentConfig,
    *,
    baseline: str | None = None,
    seeds: int | None = None,
    factors: Mapping[str, Sequence[Any]] | None = None,
    storage: str | None = None,
    run_cell: RunCell | Callable[..., Any] | None = None,
    study: Any = None,
    search_study: Any = None,
    baseline_config: ExperimentConfig | None = None,
    write: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run (or resume) the ablation and write the ``ablation`` section of analysis.json.

    Args:
        config: the experiment config.
        baseline: ``best`` | ``trial:N`` | a YAML path (default ``config.ablation.baseline``).
        seeds: seeds per cell (default ``config.ablation.seeds``).
        factors: dotted key -> levels (default ``config.ablation.factors``, else :func:`default_factors`).
        storage: study storage URL (default: the search's).
        run_cell: ``(config, out_dir, fraction) -> TrialResult``; default the real runner.
        study: the ablation study (default ``<name>-ablation`` in the search storage).
        search_study: the search study used to resolve ``best``/``trial:N``.
        baseline_config: skip baseline resolution and ablate around this config.
        write: write the section into ``<run_dir>/analysis.json``.
        progress: called with one line per cell.

    Returns:
        The ablation section (see :mod:`hpscout.analysis._analysis_file`).

    Example:
        >>> section = run_ablation(cfg, seeds=3)  # doctest: +SKIP
        >>> section["factors"]["train.learning_rate"]["verdict"]  # doctest: +SKIP
        'matters'
    """
    from hpscout.store import RunLayout

    k = seeds if seeds is not None else config.ablation.seeds
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 100:
        raise ConfigError(f"--seeds must be an integer from 1 to 100, but got {k!r}")
    if baseline_config is None:
        baseline_config, info = resolve_baseline(config, baseline, storage=storage, search_study=search_study)
    else:
        info = {"source": "given", "trial": None, "params": {}}
    chosen = dict(factors) if factors is not None else (dict(config.ablation.factors) or default_factors(config))
    plan = ablation_plan(baseline_config, chosen)
    run_cell = run_cell or default_run_cell
    if study is None:
        study = open_analysis_study(config, "-ablation", storage)
    say = progress or (lambda _msg: None)

    fraction = config.scout.fraction
    seed_list = [config.seed + i for i in range(k)]
    base_fp = fingerprint(baseline_config)
    root = RunLayout.of(config).root / "ablation"
    done = done_cells(study)
    counts = {"cells": 0, "ran": 0, "reused": 0}

    def cell(factor: str | None, level: AblationLevel | None) -> list[CellRun]:
        runs = []
        for seed in seed_list:
            if level is None or level.is_baseline:
                key, name = _cell_key(None, None, seed), f"baseline_s{seed}"
                cfg, frac = baseline_config, fraction
            else:
                key = _cell_key(factor, level.value, seed)
                name = f"{slug(factor)}_{slug(level.level)}_s{seed}"
                if factor == FRACTION_KEY:
                    cfg, frac = baseline_config, float(level.value)
                else:
                    cfg = apply_updates(
                        baseline_config,  # type: ignore[arg-type]
                        _cell_updates(factor, level.value, baseline_config),  # type: ignore[arg-type]
                        source=f"ablation {factor}",
                    )
                    frac = fraction
            cfg = cfg.model_copy(update={"seed": seed})
            counts["cells"] += 1
            trial = done.get((key, base_fp))
            if trial is None:
                say(f"ablation: running {name}")
                trial = run_and_record(
                    study,
                    key=key,
                    fp=base_fp,
                    config=cfg,
                    out_dir=root / name,
                    fraction=frac,
                    run_cell=run_cell,
                    attrs={"kind": "ablation", "factor": factor, "level": None if level is None else level.level},
                )
                done[(key, base_fp)] = trial
                counts["ran"] += 1
            else:
                counts["reused"] += 1
            runs.append(CellRun.from_trial(trial))
        return runs

    baseline_runs = cell(None, None)
    counts_base = dict(counts)
    factor_runs: dict[str, list[tuple[AblationLevel, list[CellRun]]]] = {}
    for key, levels in plan.items():
        factor_runs[key] = [(lv, baseline_runs if lv.is_baseline else cell(key, lv)) for lv in levels]
    summary = summarize_ablation(
        baseline_runs, factor_runs, direction=config.search.direction, alpha=config.ablation.alpha
    )
    summary["baseline"].update(
        {
            "source": info["source"],
            "trial": info.get("trial"),
            "params": info.get("params", {}),
            "fraction": fraction,
            "fingerprint": base_fp,
            "train": config_to_dict(baseline_config)["train"],
        }
    )
    section = {
        "metric": config.search.metric,
        "direction": config.search.direction,
        "test": "welch",
        "correction": "holm",
        "alpha": config.ablation.alpha,
        "confidence": 0.95,
        "seeds": k,
        "seed_list": seed_list,
        "study": getattr(study, "study_name", None),
        "rules": RULES,
        "runs": {"cells": counts["cells"], "ran": counts["ran"], "reused": counts["reused"], "baseline_cells": counts_base["cells"]},
        **summary,
    }
    if write:
        from hpscout.analysis._analysis_file import write_section

        write_section(config, "ablation", section)
    return section
