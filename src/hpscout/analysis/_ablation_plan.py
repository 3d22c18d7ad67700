"""Planning an ablation: the factors, their levels resolved against the baseline, and the baseline itself.

:func:`resolve_baseline` picks the config to ablate around (the best search trial,
``trial:N`` or a YAML file); :func:`ablation_plan` turns factors into levels, one
cell each, checked against that config. :func:`cell_updates` is the one place that
says which config keys one level changes (also used when a verdict is applied).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpscout._checks import check_fraction
from hpscout._errors import ConfigError, SearchError
from hpscout.analysis._cells import config_for_trial
from hpscout.analysis._importance import best_first
from hpscout.config import ExperimentConfig, apply_updates, get_value, load_config
from hpscout.search import load_study

__all__ = [
    "DEFAULT_FACTORS",
    "FRACTION_KEY",
    "LR_KEY",
    "AblationLevel",
    "ablation_plan",
    "cell_updates",
    "default_factors",
    "resolve_baseline",
    "resolve_level",
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

_TARGET_ORDER = {"qv": 0, "qkvo": 1, "all-linear": 2}


@dataclass(frozen=True)
class AblationLevel:
    """One level of one factor: as written, and resolved to a config value."""

    factor: str
    level: Any
    value: Any
    is_baseline: bool = False


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
        return _multiplied(key, level, base)
    if isinstance(level, str) and level.strip().endswith("%"):
        try:
            return float(level.strip()[:-1]) / 100
        except ValueError:
            raise ConfigError(f"a percent level must look like '5%', but got {level!r} (in ablation.factors, {key})") from None
    return level


def _multiplied(key: str, level: str, base: Any) -> Any:
    """The value of a multiplier level (``'x0.5'``) of ``key``, whose baseline value is ``base``."""
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


def _alpha_tied_to_r(config: ExperimentConfig) -> bool:
    """The search ties ``train.lora.alpha`` to the rank (``multiplier_of: train.lora.r``)."""
    spec = config.search.space.get("train.lora.alpha")
    return spec is not None and spec.multiplier_of == "train.lora.r"


def cell_updates(key: str, value: Any, baseline: ExperimentConfig | None = None) -> dict[str, Any]:
    """The config updates of one level. A rank level keeps the baseline's alpha / r when the search ties
    alpha to the rank, so that rank and LoRA scale are not confounded."""
    updates = {key: value}
    if key == "train.warmup_ratio":
        updates["train.warmup_steps"] = None  # warmup_steps would override the ratio being ablated
    if key == "train.lora.r" and baseline is not None and _alpha_tied_to_r(baseline):
        ratio = baseline.train.lora.alpha / baseline.train.lora.r
        updates["train.lora.alpha"] = float(f"{ratio * float(value):.12g}")
    return updates


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
        levels = _factor_levels(baseline, key, raw_levels, base_value)
        if not any(lv.is_baseline for lv in levels):
            label = "x1" if any(isinstance(lv.level, str) and lv.level.startswith("x") for lv in levels) else base_value
            levels.insert(0, AblationLevel(key, label, base_value, True))
        keys = [_sort_key(key, lv.value) for lv in levels]
        if all(k is not None for k in keys):
            levels = [lv for _, lv in sorted(zip(keys, levels, strict=True), key=lambda p: p[0])]
        plan[key] = levels
    return plan


def _factor_levels(
    baseline: ExperimentConfig, key: str, raw_levels: Sequence[Any], base_value: Any
) -> list[AblationLevel]:
    """The distinct levels of one factor, as written, each resolved and its cell's config checked."""
    levels: list[AblationLevel] = []
    seen: list[Any] = []
    for raw in raw_levels:
        value = resolve_level(baseline, key, raw)
        if any(_same(value, s) for s in seen):
            continue
        seen.append(value)
        is_base = _same(value, base_value)
        if not is_base and key != FRACTION_KEY:
            apply_updates(baseline, cell_updates(key, value, baseline), source=f"ablation.factors.{key}={raw!r}")
        if key == FRACTION_KEY:
            _check_fraction_level(value, raw)
        levels.append(AblationLevel(key, raw, value, is_base))
    return levels


def _check_fraction_level(value: Any, raw: Any) -> None:
    """A ``scout.fraction`` level must be a fraction in (0, 1] (the one rule, :func:`hpscout._checks.check_fraction`)."""
    try:
        check_fraction(value, "scout.fraction levels", error=ConfigError)
    except ConfigError as exc:
        written = "" if raw is value else f": {raw!r}"
        raise ConfigError(f"{exc} (in ablation.factors{written})") from None


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
        return _baseline_from_file(config, spec)
    if search_study is None:
        search_study = load_study(config, storage=storage)
    chosen = _best_trial(config, search_study) if spec == "best" else _numbered_trial(search_study, spec)
    baseline = config_for_trial(config, chosen)
    return baseline, {"source": spec, "trial": chosen.number, "params": dict(chosen.params), "value": chosen.value}


def _baseline_from_file(config: ExperimentConfig, spec: str) -> tuple[ExperimentConfig, dict[str, Any]]:
    path = Path(spec)
    if not path.exists():
        raise ConfigError(f"--baseline must be 'best', 'trial:N' or an existing YAML config, but got {spec!r} (no such file)")
    loaded = load_config(path)
    # the experiment's identity (name, storage, folders, seeds, ablation settings) stays the main config's
    keep = {k: getattr(config, k) for k in ("name", "seed", "storage", "output_dir", "ablation", "transfer", "search", "scout")}
    baseline = loaded.model_copy(update=keep)
    return baseline, {"source": spec, "trial": None, "params": {}}


def _best_trial(config: ExperimentConfig, search_study: Any) -> Any:
    trials = best_first(search_study, config)
    if not trials:
        raise SearchError(
            f"no COMPLETE search trial at fraction {config.scout.fraction} in study {search_study.study_name!r} "
            "to use as the baseline; run `hpscout search` first, or pass --baseline trial:N or --baseline FILE"
        )
    return trials[0]


def _numbered_trial(search_study: Any, spec: str) -> Any:
    raw = spec.partition(":")[2]
    try:
        number = int(raw)
    except ValueError:
        raise ConfigError(f"--baseline trial:N needs an integer N, but got {spec!r}") from None
    matches = [t for t in search_study.get_trials(deepcopy=False) if t.number == number]
    if not matches:
        raise SearchError(f"study {search_study.study_name!r} has no trial {number} (--baseline {spec})")
    return matches[0]
