"""The search space: ``search.space`` entries -> Optuna distributions -> a trial's config.

Each entry maps a dotted config key (``train.learning_rate``) to a :class:`ParamSpec`.
The Optuna parameter is named after the key, so a trial's ``params`` read like config
overrides. Two extras on top of plain distributions:

* ``when``: a conditional parameter is sampled only when other keys have given values
  (``train.lora.r`` only when ``train.method`` is ``lora``). Conditions read the trial's
  resolved config: a sampled value when the key is searched, else the base config value.
* ``multiplier_of``: a derived parameter; the sampled value multiplies another key's
  resolved value (``train.lora.alpha = k x train.lora.r``). Optuna records ``k``; the
  config gets the product.

Everything is checked by :func:`validate_space` before any trial runs.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import optuna
from pydantic import ValidationError

from hpscout._errors import ConfigError, SearchError
from hpscout.config import ExperimentConfig, ParamSpec, apply_updates, config_to_dict, flatten, get_value

__all__ = [
    "GRID_POINTS",
    "GRID_MAX_CELLS",
    "as_specs",
    "to_distribution",
    "to_distributions",
    "ordered_keys",
    "validate_space",
    "suggest_updates",
    "params_to_updates",
    "config_for_params",
    "grid_values",
    "grid_cells",
    "cell_key",
    "has_conditions",
]

#: points a float (or a wide int) range without ``step`` expands to in a grid
GRID_POINTS = 5
#: an int range without ``step`` keeps every integer in a grid up to this many values
GRID_INT_ALL = 16
#: a grid larger than this is refused whatever the budget
GRID_MAX_CELLS = 100_000

# Keys a search must not touch: they name the run or steer the search itself.
_FORBIDDEN_PREFIXES = ("search", "scout", "name", "version", "storage", "output_dir", "ablation", "transfer")


def as_specs(space: Mapping[str, ParamSpec | Mapping[str, Any]]) -> dict[str, ParamSpec]:
    """Coerce a mapping of ParamSpec or plain dicts into ParamSpecs, naming the key on error."""
    out: dict[str, ParamSpec] = {}
    for key, spec in space.items():
        if isinstance(spec, ParamSpec):
            out[key] = spec
            continue
        if not isinstance(spec, Mapping):
            raise SearchError(f"search.space.{key} must be a mapping like {{type: float, low: ..., high: ...}}, but got {spec!r}")
        try:
            out[key] = ParamSpec.model_validate(dict(spec))
        except ValidationError as exc:
            msgs = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
            raise SearchError(f"search.space.{key}: {msgs}") from None
    return out


def to_distribution(spec: ParamSpec) -> optuna.distributions.BaseDistribution:
    """The Optuna distribution of one parameter (for a derived one: of its multiplier).

    Example:
        >>> to_distribution(ParamSpec(type="float", low=1e-5, high=1e-2, log=True))
        FloatDistribution(high=0.01, log=True, low=1e-05, step=None)
    """
    if spec.type == "categorical":
        return optuna.distributions.CategoricalDistribution(list(spec.choices or []))
    if spec.type == "int":
        step = int(spec.step) if spec.step is not None else 1
        return optuna.distributions.IntDistribution(int(spec.low), int(spec.high), log=spec.log, step=step)  # type: ignore[arg-type]
    return optuna.distributions.FloatDistribution(float(spec.low), float(spec.high), log=spec.log, step=spec.step)  # type: ignore[arg-type]


def to_distributions(space: Mapping[str, ParamSpec]) -> dict[str, optuna.distributions.BaseDistribution]:
    """Every parameter's distribution, keyed by the dotted config key."""
    return {key: to_distribution(spec) for key, spec in as_specs(space).items()}


def has_conditions(space: Mapping[str, ParamSpec]) -> bool:
    """True when some parameter is conditional (``when``), so the space is not a fixed product."""
    return any(spec.when for spec in as_specs(space).values())


def ordered_keys(space: Mapping[str, ParamSpec]) -> list[str]:
    """Parameter keys with every key after the searched keys its ``when``/``multiplier_of`` read.

    Keeps the file's order otherwise. A dependency cycle is a :class:`SearchError`.
    """
    specs = as_specs(space)
    deps = {key: [d for d in _dependencies(spec) if d in specs and d != key] for key, spec in specs.items()}
    for key, spec in specs.items():
        if key in _dependencies(spec):
            raise SearchError(f"search.space.{key} depends on itself (in its 'when' or 'multiplier_of')")
    order: list[str] = []
    placed: set[str] = set()
    pending = list(specs)
    while pending:
        ready = [k for k in pending if all(d in placed for d in deps[k])]
        if not ready:
            raise SearchError(
                f"search.space has a dependency cycle through 'when'/'multiplier_of' among: {', '.join(pending)}"
            )
        for k in ready:
            order.append(k)
            placed.add(k)
        pending = [k for k in pending if k not in placed]
    return order


def _dependencies(spec: ParamSpec) -> list[str]:
    deps = list((spec.when or {}).keys())
    if spec.multiplier_of:
        deps.append(spec.multiplier_of)
    return deps


# --------------------------------------------------------------------------- resolve a trial


def _resolve(
    space: Mapping[str, ParamSpec],
    base: ExperimentConfig | Mapping[str, Any],
    pick: Callable[[str, ParamSpec], Any],
) -> dict[str, Any]:
    """Walk the space in dependency order; ``pick`` gives each active parameter's raw value."""
    specs = as_specs(space)
    base_dict = config_to_dict(base) if isinstance(base, ExperimentConfig) else base
    resolved: dict[str, Any] = {}
    for key in ordered_keys(specs):
        spec = specs[key]
        if spec.when and not _active(spec.when, resolved, base_dict):
            continue
        value = pick(key, spec)
        if value is _MISSING:
            continue
        if spec.multiplier_of:
            value = _multiply(value, _lookup(spec.multiplier_of, resolved, base_dict))
        resolved[key] = value
    return resolved


_MISSING = object()


def _lookup(key: str, resolved: Mapping[str, Any], base_dict: Mapping[str, Any]) -> Any:
    if key in resolved:
        return resolved[key]
    return get_value(base_dict, key)


def _active(when: Mapping[str, Any], resolved: Mapping[str, Any], base_dict: Mapping[str, Any]) -> bool:
    for key, expected in when.items():
        actual = _lookup(key, resolved, base_dict)
        allowed = expected if isinstance(expected, list) else [expected]
        if actual not in allowed:
            return False
    return True


def _multiply(k: Any, target: Any) -> Any:
    product = k * target
    if isinstance(k, int) and isinstance(target, int) and not isinstance(k, bool):
        return int(product)
    return float(f"{product:.12g}")


def suggest_updates(
    trial: optuna.Trial, space: Mapping[str, ParamSpec], base: ExperimentConfig | Mapping[str, Any]
) -> dict[str, Any]:
    """Sample every active parameter on ``trial``; return the resolved dotted config updates.

    Example:
        >>> updates = suggest_updates(trial, config.search.space, config)  # doctest: +SKIP
        >>> trial_config = apply_updates(config, updates)  # doctest: +SKIP
    """

    def pick(key: str, spec: ParamSpec) -> Any:
        if spec.type == "categorical":
            return trial.suggest_categorical(key, list(spec.choices or []))
        if spec.type == "int":
            step = int(spec.step) if spec.step is not None else 1
            return trial.suggest_int(key, int(spec.low), int(spec.high), step=step, log=spec.log)  # type: ignore[arg-type]
        return trial.suggest_float(key, float(spec.low), float(spec.high), step=spec.step, log=spec.log)  # type: ignore[arg-type]

    return _resolve(space, base, pick)


def params_to_updates(
    params: Mapping[str, Any], space: Mapping[str, ParamSpec], base: ExperimentConfig | Mapping[str, Any]
) -> dict[str, Any]:
    """The resolved config updates of recorded trial ``params`` (derived values multiplied out).

    Parameters that are inactive under the current conditions, or absent, are skipped.
    """
    return _resolve(space, base, lambda key, spec: params.get(key, _MISSING))


def config_for_params(
    base: ExperimentConfig, params: Mapping[str, Any], space: Mapping[str, ParamSpec] | None = None
) -> ExperimentConfig:
    """The config a trial with ``params`` ran with: ``apply_updates(base, resolved params)``."""
    space = base.search.space if space is None else space
    return apply_updates(base, params_to_updates(params, space, base), source="search trial parameters")


# --------------------------------------------------------------------------- grid


def grid_values(spec: ParamSpec) -> list[Any]:
    """The values one parameter takes in a grid.

    categorical: its choices. With ``step``: every step from low to high. An int range
    without step: every integer when there are at most 16, else 5 points. A float range
    without step: 5 points, evenly spaced (geometrically when ``log``).
    """
    if spec.type == "categorical":
        return list(spec.choices or [])
    low, high = float(spec.low), float(spec.high)  # type: ignore[arg-type]
    if spec.type == "int":
        step = int(spec.step) if spec.step is not None else 1
        values = list(range(int(low), int(high) + 1, step))
        if spec.step is not None or len(values) <= GRID_INT_ALL:
            return values
        points = _spaced(low, high, GRID_POINTS, spec.log)
        return sorted({int(round(v)) for v in points})
    if spec.step is not None:
        n = int(math.floor((high - low) / spec.step + 1e-9)) + 1
        return [round(low + i * spec.step, 12) for i in range(n)]
    return [float(f"{v:.6g}") for v in _spaced(low, high, GRID_POINTS, spec.log)]


def _spaced(low: float, high: float, n: int, log: bool) -> list[float]:
    if high == low:
        return [low]
    if log:
        a, b = math.log(low), math.log(high)
        return [math.exp(a + (b - a) * i / (n - 1)) for i in range(n)]
    return [low + (high - low) * i / (n - 1) for i in range(n)]


def grid_cells(space: Mapping[str, ParamSpec], base: ExperimentConfig | Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every distinct grid point as Optuna params, in a fixed order.

    An inactive conditional parameter does not multiply the grid: the cells hold only the
    parameters a trial would actually sample.
    """
    specs = as_specs(space)
    base_dict = config_to_dict(base) if isinstance(base, ExperimentConfig) else base
    cells: list[tuple[dict[str, Any], dict[str, Any]]] = [({}, {})]
    for key in ordered_keys(specs):
        spec = specs[key]
        values = grid_values(spec)
        grown: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for params, resolved in cells:
            if spec.when and not _active(spec.when, resolved, base_dict):
                grown.append((params, resolved))
                continue
            for v in values:
                r = v if not spec.multiplier_of else _multiply(v, _lookup(spec.multiplier_of, resolved, base_dict))
                grown.append(({**params, key: v}, {**resolved, key: r}))
        cells = grown
        if len(cells) > GRID_MAX_CELLS:
            raise SearchError(
                f"the grid has more than {GRID_MAX_CELLS:,} cells (at search.space.{key}); give float/int "
                f"parameters a coarser 'step' or use sampler tpe"
            )
    return [params for params, _ in cells]


def cell_key(params: Mapping[str, Any]) -> str:
    """A canonical text key of a parameter assignment (to compare grid cells with trials)."""
    return json.dumps(sorted(params.items()), default=str)


# --------------------------------------------------------------------------- validation


def validate_space(
    space: Mapping[str, ParamSpec | Mapping[str, Any]],
    base: ExperimentConfig,
    *,
    budget: int | None = None,
    sampler: str | None = None,
) -> dict[str, ParamSpec]:
    """Check a search space against the base config before any trial runs.

    Raises :class:`SearchError` naming ``search.space.<key>`` for: an empty space, bad
    bounds, empty choices, a key that maps to no config key (with a "did you mean"), a
    value the config schema rejects, a ``when``/``multiplier_of`` that reads an unknown key,
    a dependency cycle, and (for ``sampler='grid'``) a grid larger than the budget.

    Example:
        >>> validate_space(config.search.space, config, budget=config.search.trials)  # doctest: +SKIP
    """
    specs = as_specs(space)
    if not specs:
        raise SearchError(
            "search.space is empty: add at least one parameter, e.g. "
            "train.learning_rate: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}"
        )
    base_dict = config_to_dict(base)
    flat_keys = sorted(flatten(base_dict))
    for key, spec in specs.items():
        _check_bounds(key, spec)
        _check_key(key, spec, base, base_dict, flat_keys)
    for key, spec in specs.items():
        for dep in (spec.when or {}):
            if dep not in specs and not _key_exists(base, base_dict, dep):
                raise SearchError(
                    f"search.space.{key}.when reads '{dep}', which is neither a config key nor a searched key"
                    f"{_did_you_mean(dep, flat_keys + list(specs))}"
                )
        if spec.multiplier_of:
            _check_multiplier(key, spec, specs, base, base_dict, flat_keys)
    ordered_keys(specs)  # raises on cycles
    if sampler == "grid":
        n_cells = len(grid_cells(specs, base_dict))
        if budget is not None and n_cells > budget:
            raise SearchError(
                f"the grid has {n_cells} cells but the budget is {budget} trials (search.trials); raise "
                f"search.trials to {n_cells}, coarsen the 'step' of float/int parameters, or use sampler tpe"
            )
    return specs


def _check_bounds(key: str, spec: ParamSpec) -> None:
    """What a study needs beyond :class:`ParamSpec`'s own checks (non-empty choices, low <= high, log with
    low > 0 and step > 0 are checked when the config is loaded)."""
    where = f"search.space.{key}"
    if spec.type == "categorical":
        for c in spec.choices or []:
            if c is not None and not isinstance(c, (str, int, float, bool)):
                raise SearchError(
                    f"{where}.choices must hold strings, numbers, booleans or null (what a study can store), but got {c!r}"
                )
        return
    assert spec.low is not None and spec.high is not None  # ParamSpec requires both for float/int
    if spec.step is not None:
        if spec.type == "int" and spec.step != int(spec.step):
            raise SearchError(f"{where}.step must be a whole number for type int, but got {spec.step}")
        span = (spec.high - spec.low) / spec.step
        if abs(span - round(span)) > 1e-9:
            raise SearchError(
                f"{where}: high - low must be a multiple of step, but got low={spec.low}, high={spec.high}, step={spec.step}"
            )


def _key_exists(base: ExperimentConfig, base_dict: Mapping[str, Any], key: str) -> bool:
    try:
        get_value(base_dict, key)
        return True
    except ConfigError:
        return False


def _did_you_mean(key: str, candidates: Iterable[str]) -> str:
    cands = list(dict.fromkeys(candidates))
    last = key.rsplit(".", 1)[-1]
    guesses = difflib.get_close_matches(key, cands, n=1, cutoff=0.6)
    if not guesses:
        guesses = [c for c in cands if c.rsplit(".", 1)[-1] == last][:1]
    if not guesses:
        by_last = {c.rsplit(".", 1)[-1]: c for c in cands}
        close = difflib.get_close_matches(last, list(by_last), n=1, cutoff=0.75)
        guesses = [by_last[close[0]]] if close else []
    return f" (did you mean '{guesses[0]}'?)" if guesses else ""


def _candidate_values(spec: ParamSpec) -> list[Any]:
    if spec.type == "categorical":
        return list(spec.choices or [])
    if spec.type == "int":
        return [int(spec.low), int(spec.high)]  # type: ignore[arg-type]
    return [float(spec.low), float(spec.high)]  # type: ignore[arg-type]


def _check_key(key: str, spec: ParamSpec, base: ExperimentConfig, base_dict: Mapping[str, Any], flat_keys: list[str]) -> None:
    where = f"search.space.{key}"
    if key.split(".")[0] in _FORBIDDEN_PREFIXES:
        raise SearchError(f"{where}: '{key}' cannot be searched (it names the run or steers the search itself)")
    exists = _key_exists(base, base_dict, key)
    if exists:
        current = get_value(base_dict, key)
        if isinstance(current, Mapping) and current:
            raise SearchError(f"{where}: '{key}' is a section, not a value; search one of its keys such as '{key}.{next(iter(current))}'")
    if spec.multiplier_of:
        # the product is checked in _check_multiplier; here only the key must be settable
        values = [] if exists else [_candidate_values(spec)[0]]
    else:
        values = _candidate_values(spec)
    for value in values:
        try:
            apply_updates(base, {key: value}, source=where)
        except ConfigError as exc:
            text = str(exc)
            if text.startswith("unknown key") or "cannot set" in text:
                raise SearchError(f"{where}: '{key}' maps to no config key{_did_you_mean(key, flat_keys)}") from None
            raise SearchError(f"{where}: the value {value!r} is not valid for {key}: {text}") from None


def _check_multiplier(
    key: str,
    spec: ParamSpec,
    specs: Mapping[str, ParamSpec],
    base: ExperimentConfig,
    base_dict: Mapping[str, Any],
    flat_keys: list[str],
) -> None:
    where = f"search.space.{key}.multiplier_of"
    target = spec.multiplier_of or ""
    if target == key:
        raise SearchError(f"{where} must name another key, but names '{key}' itself")
    if target in specs:
        target_values = _candidate_values(specs[target])
        tspec = specs[target]
        if tspec.multiplier_of:
            base_target = _lookup(tspec.multiplier_of, {}, base_dict) if _key_exists(base, base_dict, tspec.multiplier_of) else 1
            target_values = [_multiply(v, base_target) for v in target_values]
    elif _key_exists(base, base_dict, target):
        target_values = [get_value(base_dict, target)]
    else:
        raise SearchError(f"{where} reads '{target}', which is not a config key{_did_you_mean(target, flat_keys)}")
    for tv in target_values:
        if isinstance(tv, bool) or not isinstance(tv, (int, float)):
            raise SearchError(f"{where}: '{target}' must be a number to multiply, but is {tv!r}")
    ks = _candidate_values(spec)
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, (int, float)):
            raise SearchError(f"search.space.{key}: a multiplier must be a number, but got {k!r}")
    for k in ks:
        for tv in target_values:
            value = _multiply(k, tv)
            try:
                apply_updates(base, {key: value}, source=f"search.space.{key}")
            except ConfigError as exc:
                text = str(exc)
                if text.startswith("unknown key") or "cannot set" in text:
                    raise SearchError(f"search.space.{key}: '{key}' maps to no config key{_did_you_mean(key, flat_keys)}") from None
                raise SearchError(
                    f"search.space.{key}: {k!r} x {target} ({tv!r}) = {value!r} is not valid for {key}: {text}"
                ) from None
