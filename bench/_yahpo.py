"""YAHPO Gym scenarios as plain objects: search space, fidelity, batched evaluation.

Everything the harness knows about a scenario is read from YAHPO itself (its
scenario config and ConfigSpace), so the harness runs unchanged on scenarios it
was not developed on (any ``rbv2_*``, ``iaml_*``, ``lcbench``, ...):

* the **budget fidelity** is the first of the scenario's ``fidelity_params``
  that is not a replication counter (``repl`` / ``replication``); every other
  fidelity parameter is held at its maximum;
* the **instance** parameter (``task_id``, ``OpenML_task_id``, ...) is fixed
  with ``BenchmarkSet.set_instance``;
* the **target** defaults to the first of :data:`PREFERRED_TARGETS` that the
  scenario has, its direction from the scenario's ``y_minimize``.

YAHPO needs ``numpy<2`` and ``ConfigSpace<=0.6.1``; see bench/README.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Default targets, most preferred first (validation metrics before test metrics).
PREFERRED_TARGETS = (
    "val_accuracy",  # lcbench, nb301
    "acc",  # rbv2_*
    "auc",  # iaml_*
    "mmce",  # iaml_* (minimised)
    "valid_loss",  # fcnet
    "valid1",  # task_set
)
#: Fidelity parameters that count repetitions, not training resource.
REPLICATION_NAMES = ("repl", "replication")

_configured_path: str | None = None


class YahpoUnavailable(RuntimeError):
    """yahpo_gym (or its pinned dependencies) cannot be imported."""


def _import_yahpo() -> Any:
    try:
        import yahpo_gym
    except ImportError as err:  # numpy>=2 or a missing package
        raise YahpoUnavailable(
            f"yahpo_gym is not importable here ({err}); install bench/requirements-yahpo.txt "
            "into a separate venv (see bench/README.md)"
        ) from err
    return yahpo_gym


def configure_data_path(data_path: str | os.PathLike[str]) -> Path:
    """Point yahpo_gym at ``data_path`` without touching ``~/.config/yahpo_gym``.

    YAHPO keeps its data path in a small YAML settings file; we give it a private
    one per process (``LocalConfiguration.settings_path`` is public) so parallel
    runs and other users of yahpo_gym on the machine are not affected.
    """
    global _configured_path
    path = Path(data_path).expanduser().resolve()
    if not path.is_dir():
        raise FileNotFoundError(
            f"--data-path must be a folder holding YAHPO scenarios, but got {str(path)!r}"
        )
    if _configured_path == str(path):
        return path
    yahpo_gym = _import_yahpo()
    settings = Path(tempfile.mkdtemp(prefix="hpscout-yahpo-")) / "yahpo_gym.yaml"
    local_config = yahpo_gym.local_config
    local_config.settings_path = settings
    local_config.init_config(data_path=str(path))
    local_config.set_data_path(str(path))  # also updates the cached settings
    _configured_path = str(path)
    return path


def available_scenarios(data_path: str | os.PathLike[str]) -> list[str]:
    """Scenario folders under ``data_path`` that yahpo_gym knows."""
    yahpo_gym = _import_yahpo()
    known = set(yahpo_gym.list_scenarios())
    root = Path(data_path)
    return sorted(
        p.name for p in root.iterdir() if p.is_dir() and p.name in known and (p / "model.onnx").is_file()
    )


@dataclass(frozen=True)
class Param:
    """One searchable hyperparameter, in Optuna's terms."""

    name: str
    kind: str  # "float" | "int" | "categorical"
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    #: ConfigSpace conditions that must all hold for the parameter to be active.
    conditions: tuple[Any, ...] = field(default=(), compare=False, repr=False)

    def is_active(self, values: dict[str, Any]) -> bool:
        """Whether this parameter is active given the already-chosen ``values``."""
        for cond in self.conditions:
            parents = [p.name for p in cond.get_parents()]
            if any(p not in values for p in parents):
                return False
            if not cond.evaluate(values):
                return False
        return True


@dataclass(frozen=True)
class Fidelity:
    """The budget fidelity of a scenario and how a fraction of it maps to a value."""

    name: str
    low: float
    high: float
    is_int: bool
    #: Other fidelity parameters, held at their maximum.
    fixed: dict[str, Any]

    def value(self, fraction: float) -> float | int:
        """The fidelity value used for ``fraction`` of the maximum (clipped to the range)."""
        raw = fraction * self.high
        if self.is_int:
            return int(min(max(round(raw), self.low), self.high))
        return float(min(max(raw, self.low), self.high))

    def fraction(self, value: float) -> float:
        """``value`` as a fraction of the maximum: what one evaluation at it costs."""
        return float(value) / self.high

    def cost(self, fraction: float) -> float:
        """What one evaluation at ``fraction`` of the maximum is charged: the fidelity value it runs at."""
        return self.fraction(self.value(fraction))

    @property
    def min_fraction(self) -> float:
        return self.low / self.high


def _params_from_space(cs: Any, skip: set[str]) -> list[Param]:
    """ConfigSpace hyperparameters -> :class:`Param`, parents before children."""
    import ConfigSpace.hyperparameters as CSH

    params = []
    for hp in cs.get_hyperparameters():  # topologically sorted by ConfigSpace
        if hp.name in skip:
            continue
        conds = tuple(cs.get_parent_conditions_of(hp.name))
        if isinstance(hp, CSH.Constant):
            continue
        if isinstance(hp, CSH.UniformFloatHyperparameter):
            params.append(
                Param(hp.name, "float", float(hp.lower), float(hp.upper), bool(hp.log), conditions=conds)
            )
        elif isinstance(hp, CSH.UniformIntegerHyperparameter):
            params.append(Param(hp.name, "int", int(hp.lower), int(hp.upper), bool(hp.log), conditions=conds))
        elif isinstance(hp, CSH.CategoricalHyperparameter):
            params.append(Param(hp.name, "categorical", choices=tuple(hp.choices), conditions=conds))
        elif isinstance(hp, CSH.OrdinalHyperparameter):
            params.append(Param(hp.name, "categorical", choices=tuple(hp.sequence), conditions=conds))
        else:
            raise TypeError(
                f"hyperparameter {hp.name!r} has type {type(hp).__name__}, which the harness cannot map to Optuna "
                "(supported: UniformFloat, UniformInteger, Categorical, Ordinal, Constant)"
            )
    if cs.get_forbiddens():
        raise NotImplementedError("scenarios with forbidden clauses are not supported by the harness yet")
    return params


def _pick_target(targets: list[str], requested: str | None) -> str:
    if requested is not None:
        if requested not in targets:
            raise ValueError(
                f"--target must be one of the scenario's targets {targets}, but got {requested!r}"
            )
        return requested
    for name in PREFERRED_TARGETS:
        if name in targets:
            return name
    raise ValueError(f"no default target among {targets}; pass --target")


def _pick_fidelity(fidelity_params: list[str], requested: str | None) -> str:
    if requested is not None:
        if requested not in fidelity_params:
            raise ValueError(
                f"--fidelity must be one of the scenario's fidelity parameters {fidelity_params}, but got {requested!r}"
            )
        return requested
    budget = [f for f in fidelity_params if f not in REPLICATION_NAMES]
    if not budget:
        raise ValueError(f"the scenario has no budget fidelity (fidelity parameters: {fidelity_params})")
    return budget[0]


class Scenario:
    """One YAHPO scenario on one instance, evaluated in batches.

    Args:
        data_path: the folder holding YAHPO scenario folders.
        name: the scenario (``lcbench``, ``rbv2_xgboost``, ...).
        instance: the instance id as YAHPO lists it (``BenchmarkSet.instances``).
        target: the metric to optimise; default from :data:`PREFERRED_TARGETS`.
        fidelity: the budget fidelity parameter; default: the first non-replication one.
    """

    def __init__(
        self,
        data_path: str | os.PathLike[str],
        name: str,
        instance: str,
        target: str | None = None,
        fidelity: str | None = None,
    ) -> None:
        configure_data_path(data_path)
        yahpo_gym = _import_yahpo()
        if name not in yahpo_gym.list_scenarios():
            raise ValueError(
                f"--scenario must be a YAHPO scenario, but got {name!r} (known: {yahpo_gym.list_scenarios()})"
            )
        with contextlib.redirect_stdout(io.StringIO()):  # YAHPO prints citations on construction
            # check=False: configurations are built valid here; the check costs more than the model.
            self._bench = yahpo_gym.BenchmarkSet(name, check=False, multithread=False)
        instances = [str(i) for i in self._bench.instances]
        if str(instance) not in instances:
            raise ValueError(
                f"instance {instance!r} is not in scenario {name!r}; valid: {', '.join(instances[:20])}, ..."
            )
        self._bench.set_instance(str(instance))
        cfg = self._bench.config
        self.name = name
        self.instance = str(instance)
        self.target = _pick_target(list(self._bench.targets), target)
        minimize = dict(zip(cfg.y_names, cfg.config["y_minimize"], strict=False))
        self.maximize = not bool(minimize[self.target])
        self._target_index = list(cfg.y_names).index(self.target)

        fid_space = self._bench.get_fidelity_space()
        fid_name = _pick_fidelity(list(cfg.fidelity_params), fidelity)
        fixed = {}
        for hp in fid_space.get_hyperparameters():
            if hp.name != fid_name:
                fixed[hp.name] = hp.upper
        fhp = fid_space.get_hyperparameter(fid_name)
        import ConfigSpace.hyperparameters as CSH

        self.fidelity = Fidelity(
            name=fid_name,
            low=float(fhp.lower),
            high=float(fhp.upper),
            is_int=isinstance(fhp, CSH.UniformIntegerHyperparameter),
            fixed=fixed,
        )
        skip = set(cfg.fidelity_params) | {cfg.instance_names}
        self.params = _params_from_space(self._bench.config_space, skip)
        self._opt_space = self._bench.get_opt_space(drop_fidelity_params=True)

    @property
    def direction(self) -> str:
        return "maximize" if self.maximize else "minimize"

    def evaluate(self, configs: list[dict[str, Any]], fraction: float | list[float]) -> np.ndarray:
        """Target values of ``configs`` at ``fraction`` of the maximum fidelity (one per config)."""
        if not configs:
            return np.empty(0)
        fractions = [fraction] * len(configs) if isinstance(fraction, (int, float)) else list(fraction)
        rows = []
        for cfg, frac in zip(configs, fractions, strict=True):
            row = dict(cfg)
            row.update(self.fidelity.fixed)
            row[self.fidelity.name] = self.fidelity.value(frac)
            rows.append(row)
        out = np.empty(len(rows))
        chunk = 2000  # YAHPO stacks rows one by one; chunks keep that linear
        for start in range(0, len(rows), chunk):
            res = self._bench.objective_function(rows[start : start + chunk], multithread=False)
            out[start : start + len(res)] = [r[self.target] for r in res]
        return out

    def for_seed(self, seed: int) -> Scenario:
        """The scenario as run ``seed`` sees it: the surrogate has no noise, so this one."""
        return self

    def score(self, configs: list[dict[str, Any]]) -> np.ndarray:
        """What regret is scored on: the target at maximum fidelity."""
        return self.evaluate(configs, 1.0)

    def sample_configs(self, n: int, seed: int) -> list[dict[str, Any]]:
        """``n`` configurations drawn uniformly from the scenario's ConfigSpace (conditions respected)."""
        space = self._bench.get_opt_space(drop_fidelity_params=True, seed=seed)
        configs = space.sample_configuration(n)
        if n == 1:
            configs = [configs]
        drop = {self._bench.config.instance_names}
        return [{k: v for k, v in c.get_dictionary().items() if k not in drop} for c in configs]


@dataclass(frozen=True)
class Reference:
    """Best and worst target values of a large random sample at maximum fidelity.

    Normalised regret of a value ``v``: ``(best - v) / (best - worst)`` for a
    maximised target (signs flipped for a minimised one): 0 at the best value
    the random sample found, 1 at its worst.
    """

    best: float
    worst: float
    n: int
    seed: int

    def regret(self, values: np.ndarray) -> np.ndarray:
        return (self.best - np.asarray(values, dtype=float)) / (self.best - self.worst)


def reference(scenario: Scenario, n: int, seed: int, cache_dir: Path | None) -> Reference:
    """The random-sample reference of ``scenario``, cached under ``cache_dir``."""
    key = json.dumps(
        [
            scenario.name,
            scenario.instance,
            scenario.target,
            scenario.fidelity.name,
            n,
            seed,
            _model_digest(scenario),
        ]
    )
    cache_file = None
    if cache_dir is not None:
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        cache_file = cache_dir / f"reference_{scenario.name}_{scenario.instance}_{digest}.json"
        if cache_file.is_file():
            data = json.loads(cache_file.read_text())
            return Reference(data["best"], data["worst"], data["n"], data["seed"])
    configs = scenario.sample_configs(n, seed)
    values = scenario.evaluate(configs, 1.0)
    values = values[np.isfinite(values)]
    best, worst = (values.max(), values.min()) if scenario.maximize else (values.min(), values.max())
    if not math.isfinite(best - worst) or best == worst:
        raise ValueError(
            f"random sample of {scenario.name}/{scenario.instance} has no spread in {scenario.target}"
        )
    ref = Reference(float(best), float(worst), n, seed)
    if cache_file is not None:
        _write_json(cache_file, {"key": key, "best": ref.best, "worst": ref.worst, "n": n, "seed": seed})
    return ref


def _model_digest(scenario: Scenario) -> str:
    """Size and mtime of the surrogate: a changed model invalidates the cache."""
    model = Path(scenario._bench.config.get_path("model"))
    st = model.stat()
    return f"{st.st_size}-{int(st.st_mtime)}"


def ensure_cache_dir(path: Path) -> Path:
    """Create the cache folder with a ``.gitignore`` of ``*`` (as pytest does for its cache)."""
    path.mkdir(parents=True, exist_ok=True)
    ignore = path / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# created by bench/search_efficiency.py\n*\n")
    return path


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
    os.chmod(tmp, 0o644)  # mkstemp makes it 0600
    os.replace(tmp, path)
