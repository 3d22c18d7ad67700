"""Samplers by name, and hpscout's default search strategy."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import optuna

from hpscout._errors import SearchError
from hpscout.config import ParamSpec
from hpscout.search._space import as_specs, grid_values, has_conditions

__all__ = ["DEFAULT_STRATEGY", "Strategy", "SAMPLER_NAMES", "make_sampler", "default_startup_trials"]

#: the short names hpscout knows besides any ``optuna.samplers`` class name
SAMPLER_NAMES = ("grid", "random", "tpe")

_ALIASES = {
    "cmaes": "CmaEsSampler",
    "cma-es": "CmaEsSampler",
    "qmc": "QMCSampler",
    "gp": "GPSampler",
    "nsga2": "NSGAIISampler",
    "nsga3": "NSGAIIISampler",
    "bruteforce": "BruteForceSampler",
    "brute-force": "BruteForceSampler",
}


def default_startup_trials(budget: int | None) -> int:
    """Random trials TPE runs before it models the space: 10 % of the budget, between 5 and 20.

    Small scouting budgets (20 trials) get 5 random trials, so most of the budget is guided;
    large ones keep enough random coverage that the model starts from the whole space.

    Example:
        >>> [default_startup_trials(n) for n in (10, 20, 100, 1000)]
        [5, 5, 10, 20]
    """
    if budget is None:
        return 10
    return max(5, min(20, budget // 10))


@dataclass(frozen=True)
class Strategy:
    """A named sampler + pruner + settings; what ``make_study`` uses unless the config overrides it.

    The default is multivariate TPE (it models learning rate x batch size jointly, which
    matter together) with ``group=True`` when the space has conditional parameters, and
    constant-liar so parallel workers do not all propose the same point; pruning is
    Hyperband over the nested data-fraction ladder (``scout.fidelities``).
    """

    sampler: str = "tpe"
    sampler_kwargs: Mapping[str, Any] = field(
        default_factory=lambda: MappingProxyType({"multivariate": True, "constant_liar": True})
    )
    pruner: str = "hyperband"
    pruner_kwargs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    fidelity: str = "fraction"
    #: retries of a trial whose worker died (heartbeat) before it counts as failed for good
    max_retry: int = 3


DEFAULT_STRATEGY = Strategy()


def _sampler_classes() -> dict[str, type[optuna.samplers.BaseSampler]]:
    out = {}
    for name in dir(optuna.samplers):
        obj = getattr(optuna.samplers, name)
        if (
            isinstance(obj, type)
            and issubclass(obj, optuna.samplers.BaseSampler)
            and not inspect.isabstract(obj)
            and name not in ("BaseSampler", "BaseGASampler", "PartialFixedSampler")
        ):
            out[name] = obj
    return out


def make_sampler(
    name: str,
    *,
    seed: int | None = None,
    space: Mapping[str, ParamSpec] | None = None,
    **kwargs: Any,
) -> optuna.samplers.BaseSampler:
    """Build a sampler by name.

    Names: ``grid`` (``GridSampler`` over the space; see :func:`hpscout.search.grid_values`
    for how float/int ranges expand), ``random``, ``tpe`` (multivariate, constant liar,
    ``group=True`` when the space has ``when`` conditions, ``n_startup_trials`` 10 unless
    given; ``open_study`` passes :func:`default_startup_trials` of the budget), or any
    ``optuna.samplers`` class name such as ``CmaEsSampler`` or ``QMCSampler``. ``kwargs``
    go to the sampler and override the defaults.

    Example:
        >>> sampler = make_sampler("tpe", seed=0)
        >>> type(sampler).__name__
        'TPESampler'
    """
    key = (name or "").strip()
    lowered = key.lower()
    with warnings.catch_warnings():
        # multivariate/group/constant_liar are "experimental" in Optuna; we choose them on purpose
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            if lowered == "grid":
                if not space:
                    raise SearchError("sampler 'grid' needs the search space (search.space is empty)")
                grid = {k: grid_values(spec) for k, spec in as_specs(space).items()}
                return optuna.samplers.GridSampler(grid, seed=seed, **kwargs)
            if lowered == "random":
                return optuna.samplers.RandomSampler(seed=seed, **kwargs)
            if lowered == "tpe":
                options: dict[str, Any] = {"n_startup_trials": 10, **DEFAULT_STRATEGY.sampler_kwargs}
                if space and has_conditions(space):
                    options["group"] = True
                options.update(kwargs)
                return optuna.samplers.TPESampler(seed=seed, **options)
            classes = _sampler_classes()
            cls_name = _ALIASES.get(lowered, key)
            cls = classes.get(cls_name) or {n.lower(): c for n, c in classes.items()}.get(cls_name.lower())
            if cls is None:
                raise SearchError(
                    f"search.sampler must be one of {', '.join(SAMPLER_NAMES)} or an optuna.samplers class name "
                    f"({', '.join(sorted(classes))}), but got {name!r}"
                )
            if seed is not None and "seed" in inspect.signature(cls).parameters:
                kwargs = {"seed": seed, **kwargs}
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise SearchError(f"cannot build sampler {name!r} with search.sampler_kwargs {kwargs}: {exc}") from None
