"""Search efficiency: normalised regret against budget on YAHPO Gym surrogates.

Every method (bench/_methods.py) searches the same scenario instances with the
same seeds until it has spent ``--budget`` full-training equivalents: the sum
over evaluations of (fidelity used / maximum fidelity). After every evaluation
the incumbent is the best configuration among those evaluated at the highest
fidelity reached so far; its score is its value at maximum fidelity (looked up
in the surrogate, not charged). Scores become normalised regret per instance
against a large random sample at maximum fidelity, and are aggregated over
(instance, seed) pairs as an interquartile mean (IQM) with stratified bootstrap
95% intervals. See bench/README.md for every rule and its reason.

Usage (from the repo root, in the bench venv)::

    python bench/search_efficiency.py --data-path ../shared/data/yahpo --scenario lcbench \\
        --instances 3945,7593,34539,126025,126026 --seeds 20 --budget 30 --jobs 2 \\
        --out bench/results/search_efficiency_lcbench.json --plot bench/results/search_efficiency_lcbench.png
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import math
import multiprocessing
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _methods  # noqa: E402
import _table  # noqa: E402
import _yahpo  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_CACHE = HERE / ".cache"
#: Fidelity names whose evaluations continue a run (pay only the increment); others retrain.
CONTINUATION_FIDELITIES = ("epoch", "epochs", "iteration", "iterations", "step", "steps")


# ----------------------------------------------------------------------------- one run


class BudgetSpent(Exception):
    """The run has spent its budget; the current trial stops."""


@dataclass(frozen=True)
class RunSpec:
    data_path: str
    scenario: str
    instance: str
    target: str | None
    fidelity: str | None
    method: str
    seed: int
    budget: float
    continuation: bool
    checkpoints: tuple[float, ...]
    reference: tuple[float, float]  # best, worst
    #: stop after this many trials even with budget left (a workflow's own trial budget); None: only the budget
    max_trials: int | None = None


@dataclass(frozen=True)
class TracePoint:
    """The state of a run after one finished trial (and its after-trial step)."""

    trials: int  # finished trials so far
    spent: float  # budget spent so far
    search_spent: float  # of which the trials' own rungs (the search, without after-trial re-runs)
    regret: float  # normalised regret of the incumbent (clipped at 0; 1.0 before the first)
    incumbent: int  # trial number (-1: none yet)
    note: dict[str, Any]  # what the method's after-trial step noted (climb decisions)


@dataclass(frozen=True)
class RunResult:
    method: str
    instance: str
    seed: int
    regret: np.ndarray  # at each checkpoint, clipped at 0
    below_reference: bool  # found a value better than the random sample's best
    n_trials: int
    n_evaluations: int
    spent: float
    seconds: float
    trace: tuple[TracePoint, ...] = ()
    #: incumbent or noted pick -> {"params", "score" (at max fidelity), "measured" (tables: run there, not imputed)}
    picks: dict[int, dict[str, Any]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)  # the method's Plan.info


class Ledger:
    """Charges evaluations to the budget and records what each one saw."""

    def __init__(self, budget: float, continuation: bool) -> None:
        self.budget = budget
        self.continuation = continuation
        self.spent = 0.0
        self.records: list[tuple[float, int, float, float]] = []  # (spent after, trial, fraction, value)
        self._reached: dict[int, float] = {}  # trial -> highest fraction it has trained to
        #: record index -> trial a method declared its pick after that record
        self.picks: dict[int, int] = {}

    def charge(self, trial: int, fraction: float) -> None:
        if self.spent >= self.budget:
            raise BudgetSpent
        done = self._reached.get(trial, 0.0) if self.continuation else 0.0
        self.spent += max(fraction - done, 0.0)
        self._reached[trial] = max(fraction, self._reached.get(trial, 0.0))

    def charge_fresh(self, trial: int, fraction: float) -> None:
        """Charge a new training run (another seed): the whole fraction, whatever the cost model."""
        if self.spent >= self.budget:
            raise BudgetSpent
        self.spent += fraction
        self.records.append((self.spent, trial, fraction, math.nan))  # spent, but not a candidate value

    def record(self, trial: int, fraction: float, value: float) -> None:
        self.records.append((self.spent, trial, fraction, value))

    def pick(self, trial: int) -> None:
        """A method's declared pick, in force from the last record on."""
        if self.records:
            self.picks[len(self.records) - 1] = trial


_SCENARIOS: dict[tuple[Any, ...], _yahpo.Scenario | _table.TableScenario] = {}


def is_table(data_path: str | os.PathLike[str]) -> bool:
    """A ``--data-path`` that is a CSV is a table of real runs (bench/_table.py), not YAHPO."""
    return Path(data_path).suffix.lower() == ".csv"


def _scenario(
    data_path: str, name: str, instance: str, target: str | None, fidelity: str | None
) -> _yahpo.Scenario | _table.TableScenario:
    key = (data_path, name, instance, target, fidelity)
    if key not in _SCENARIOS:
        kind = _table.TableScenario if is_table(data_path) else _yahpo.Scenario
        _SCENARIOS[key] = kind(data_path, name, instance, target=target, fidelity=fidelity)
    return _SCENARIOS[key]


def suggest(trial: Any, params: list[_yahpo.Param]) -> dict[str, Any]:
    """Sample one configuration; inactive conditional parameters are never suggested."""
    values: dict[str, Any] = {}
    for p in params:
        if not p.is_active(values):
            continue
        if p.kind == "float":
            values[p.name] = trial.suggest_float(p.name, p.low, p.high, log=p.log)
        elif p.kind == "int":
            values[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log)
        else:
            values[p.name] = trial.suggest_categorical(p.name, list(p.choices))
    return values


def incumbents(
    records: list[tuple[float, int, float, float]], maximize: bool, picks: dict[int, int] | None = None
) -> list[tuple[float, int]]:
    """(spent, incumbent trial) after each evaluation.

    The incumbent is the best trial among those evaluated at the highest
    fidelity reached so far: what a user would take from the study. A method
    that declares its pick (``picks``: record index -> trial, e.g. the best at
    the highest rung its transfer check reached) overrides that rule from the
    record it declared it after. Records with a NaN value (a seed-noise run)
    count as spent, never as candidates.
    """
    out = []
    top, best, inc = -1.0, math.nan, -1
    declared: int | None = None
    for i, (spent, trial, fraction, value) in enumerate(records):
        if math.isnan(value):
            pass
        elif fraction > top + 1e-12:
            top, best, inc = fraction, value, trial
        elif abs(fraction - top) <= 1e-12 and (value > best if maximize else value < best):
            best, inc = value, trial
        if picks and i in picks:
            declared = picks[i]
        out.append((spent, inc if declared is None else declared))
    return out


class _Context:
    """What a method's after-trial step may do (``_methods.Context``); every run is charged."""

    def __init__(self, scenario: Any, ledger: Ledger, configs: dict[int, dict[str, Any]]) -> None:
        self.scenario, self.ledger, self.configs = scenario, ledger, configs
        self.notes: dict[str, Any] = {}
        self.search_spent = 0.0

    def cost(self, fraction: float) -> float:
        return float(self.scenario.fidelity.cost(fraction))

    def evaluate(self, number: int, fraction: float, *, search: bool = False) -> float:
        used = self.cost(fraction)
        before = self.ledger.spent
        self.ledger.charge(number, used)
        if search:
            self.search_spent += self.ledger.spent - before
        value = float(self.scenario.evaluate([self.configs[number]], used)[0])
        self.ledger.record(number, used, value)
        return value

    def seed_noise(self, number: int, fraction: float) -> float | None:
        used = self.scenario.fidelity.cost(fraction)
        self.ledger.charge_fresh(number, used)
        noise = getattr(self.scenario, "seed_noise", None)
        if noise is None:
            return 0.0  # a surrogate has no seed noise: another seed gives the same value
        value, level = noise(self.configs[number], used)
        self.notes.setdefault("noise_levels", set()).add(level)
        return value

    def pick(self, number: int) -> None:
        self.ledger.pick(number)

    def note(self, **info: Any) -> None:
        self.notes.update(info)


def scenario_facts(scenario: Any) -> _methods.Facts:
    """What a method may know of ``scenario`` (steps and the base config only where it has them)."""
    fid = scenario.fidelity
    return _methods.Facts(
        min_fraction=fid.min_fraction,
        params=scenario.params,
        train_rows=getattr(scenario, "train_rows", None),
        config=scenario.bench_config() if hasattr(scenario, "bench_config") else None,
        max_fraction=fid.fraction(getattr(fid, "reference", fid.high)),
    )


def run_one(spec: RunSpec) -> RunResult:
    """Run one method on one instance with one seed until the budget is spent."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    start = time.perf_counter()
    scenario = _scenario(spec.data_path, spec.scenario, spec.instance, spec.target, spec.fidelity)
    scenario = scenario.for_seed(spec.seed)  # a table reads one seed's runs; a surrogate has no noise
    plan = _methods.build(spec.method, spec.seed, scenario_facts(scenario))
    ledger = Ledger(spec.budget, spec.continuation)
    configs: dict[int, dict[str, Any]] = {}
    ctx = _Context(scenario, ledger, configs)
    # after each trial: (trials, spent, search spent, records, note)
    marks: list[tuple[int, float, float, int, dict[str, Any]]] = []

    def objective(trial: optuna.Trial) -> float:
        configs[trial.number] = suggest(trial, scenario.params)
        try:
            return plan.run_trial(trial, lambda fraction: ctx.evaluate(trial.number, fraction, search=True))
        except BudgetSpent:
            trial.study.stop()
            raise optuna.TrialPruned("budget spent") from None

    def after_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        ctx.notes = {}
        try:
            if plan.after_trial is not None:
                plan.after_trial(study, trial, ctx)
        except BudgetSpent:
            study.stop()
        finally:
            marks.append(
                (trial.number + 1, ledger.spent, ctx.search_spent, len(ledger.records), dict(ctx.notes))
            )

    # A fixed study name: HyperbandPruner assigns brackets by hashing it, so a random name
    # (Optuna's default) would make Hyperband runs irreproducible.
    study = optuna.create_study(
        study_name=f"{spec.scenario}-{spec.instance}-seed{spec.seed}",
        direction=scenario.direction,
        sampler=plan.sampler,
        pruner=plan.pruner,
    )
    # A ceiling on trials in case a method stops charging; far above any real run.
    max_trials = int(spec.budget / scenario.fidelity.min_fraction * 4) + 100
    if spec.max_trials is not None:
        max_trials = min(max_trials, spec.max_trials)
    study.optimize(objective, n_trials=max_trials, callbacks=[after_trial])

    # Score each incumbent at maximum fidelity (free: the user's final training run).
    history = incumbents(ledger.records, scenario.maximize, ledger.picks)
    noted = {n[k] for *_, n in marks for k in ("pick", "final_pick") if isinstance(n.get(k), int)}
    trials = sorted({inc for _, inc in history if inc >= 0} | noted)
    full = dict(zip(trials, scenario.score([configs[t] for t in trials]), strict=True))
    best, worst = spec.reference
    ref = _yahpo.Reference(best, worst, 0, 0)
    spent = np.array([s for s, _ in history])
    reg = np.array([ref.regret(full[inc]) if inc >= 0 else 1.0 for _, inc in history], dtype=float)
    below = bool(np.any(reg < 0))
    reg = np.clip(reg, 0.0, None)
    measured = getattr(scenario, "measured", None)
    picks = {
        t: {
            "params": configs[t],
            "score": float(full[t]),
            "measured": None if measured is None else measured(configs[t]),
        }
        for t in trials
    }
    trace = tuple(
        TracePoint(
            n,
            float(s),
            float(ss),
            float(reg[r - 1]) if r else 1.0,
            int(history[r - 1][1]) if r else -1,
            {k: sorted(v) if isinstance(v, set) else v for k, v in note.items()},
        )
        for n, s, ss, r, note in marks
    )
    # regret at checkpoint b: the incumbent after the last evaluation finished within b
    idx = np.searchsorted(spent, np.asarray(spec.checkpoints), side="right") - 1
    curve = np.where(idx >= 0, reg[np.maximum(idx, 0)], 1.0) if len(reg) else np.ones(len(spec.checkpoints))
    return RunResult(
        method=spec.method,
        instance=spec.instance,
        seed=spec.seed,
        regret=curve,
        below_reference=below,
        n_trials=len(study.trials),
        n_evaluations=len(ledger.records),
        spent=ledger.spent,
        seconds=time.perf_counter() - start,
        trace=trace,
        picks=picks,
        info=plan.info,
    )


# ----------------------------------------------------------------------------- statistics


def iqm(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """Interquartile mean: the mean of the middle 50% (scipy's 25% trimmed mean)."""
    from scipy.stats import trim_mean

    return trim_mean(x, 0.25, axis=axis)


def bootstrap_iqm(
    regret: dict[str, np.ndarray], reps: int, seed: int, pairs: list[tuple[str, str]]
) -> tuple[dict[str, np.ndarray], dict[tuple[str, str], np.ndarray]]:
    """Stratified bootstrap of the IQM over (instance, seed) pairs.

    Seeds are resampled with replacement within each instance (instances are
    kept, as in rliable's stratified bootstrap). The same resample indices are
    used for every method, so differences between methods are paired.

    Args:
        regret: method -> array (instances, seeds, checkpoints).
        pairs: (a, b) for which the bootstrap distribution of IQM(a) - IQM(b) is returned.

    Returns:
        method -> (reps, checkpoints) bootstrap IQMs; (a, b) -> (reps, checkpoints) differences.
    """
    rng = np.random.default_rng(seed)
    n_inst, n_seeds, n_cp = next(iter(regret.values())).shape
    out = {m: np.empty((reps, n_cp)) for m in regret}
    chunk = max(1, 4_000_000 // max(1, n_inst * n_seeds * n_cp))
    rows = np.arange(n_inst)[None, :, None]
    for lo in range(0, reps, chunk):
        hi = min(reps, lo + chunk)
        idx = rng.integers(0, n_seeds, size=(hi - lo, n_inst, n_seeds))
        for m, arr in regret.items():
            sample = arr[rows, idx, :].reshape(hi - lo, n_inst * n_seeds, n_cp)
            out[m][lo:hi] = iqm(sample, axis=1)
    diffs = {(a, b): out[a] - out[b] for a, b in pairs if a in out and b in out}
    return out, diffs


def budget_to_reach(curve: np.ndarray, checkpoints: np.ndarray, target: float) -> float | None:
    """Smallest checkpoint from which the curve stays at or below ``target`` up to the last one."""
    ok = curve <= target + 1e-12
    if not ok[-1]:
        return None
    bad = np.nonzero(~ok)[0]
    first = 0 if len(bad) == 0 else bad[-1] + 1
    return float(checkpoints[first])


def make_checkpoints(budget: float, n: int = 100) -> np.ndarray:
    """Log-spaced budgets from budget/100 to budget, plus budget/27, /9, /3 exactly."""
    grid = np.geomspace(budget / 100, budget, n)
    extra = budget / np.array([27.0, 9.0, 3.0, 1.0])
    return np.unique(np.round(np.concatenate([grid, extra]), 10))


# ----------------------------------------------------------------------------- report


def summarise(
    results: list[RunResult],
    methods: list[str],
    instances: list[str],
    seeds: int,
    checkpoints: np.ndarray,
    budget: float,
    reps: int,
    carried: dict[str, tuple[np.ndarray, dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Aggregate runs into the JSON report (plain data; no plotting).

    ``carried``: method -> (its per-run regret, instances x ``seeds`` x checkpoints, and its
    entry in the earlier report) for methods taken from an earlier report (``--merge``):
    they are summarised with the runs of this one, paired seed by seed.
    """
    carried = carried or {}
    methods = [*methods, *(m for m in carried if m not in methods)]
    regret = {m: np.full((len(instances), seeds, len(checkpoints)), np.nan) for m in methods}
    stats: dict[str, dict[str, list[float]]] = {
        m: {"n_trials": [], "n_evaluations": [], "spent": [], "seconds": []} for m in methods
    }
    below: dict[str, int] = dict.fromkeys(methods, 0)
    for m, (arr, _) in carried.items():
        regret[m][:] = arr
    for r in results:
        regret[r.method][instances.index(r.instance), r.seed, :] = r.regret
        for k in stats[r.method]:
            stats[r.method][k].append(float(getattr(r, k)))
        below[r.method] += int(r.below_reference)
    for m, arr in regret.items():
        if np.isnan(arr).any():
            raise RuntimeError(f"missing runs for method {m!r}")

    cand, ref = _methods.CANDIDATE_METHOD, _methods.REFERENCE_METHOD
    pairs = [(cand, b) for b in methods if b != cand]
    boot, diffs = bootstrap_iqm(regret, reps, seed=0, pairs=pairs)

    table_budgets = [budget / 27, budget / 9, budget / 3, budget]
    table_idx = [int(np.argmin(np.abs(checkpoints - b))) for b in table_budgets]
    out_methods: dict[str, Any] = {}
    point = {m: iqm(regret[m].reshape(-1, len(checkpoints)), axis=0) for m in methods}
    target = float(point[ref][-1]) if ref in point else None
    for m in methods:
        lo, hi = np.percentile(boot[m], [2.5, 97.5], axis=0)
        entry: dict[str, Any] = {
            "description": _methods.METHODS[m][1],
            "checkpoints": _round(checkpoints),
            "iqm_regret": _round(point[m]),
            "ci_low": _round(lo),
            "ci_high": _round(hi),
            "budget_to_match_tpe": None if target is None else budget_to_reach(point[m], checkpoints, target),
            "mean_regret": _round(regret[m].reshape(-1, len(checkpoints)).mean(axis=0)),
            "final_regret_per_run": _round(regret[m][:, :, -1]),  # instances x seeds, at the full budget
            # instances x seeds x checkpoints: what a later --merge pairs with
            "per_run_regret": np.round(regret[m], 5).tolist(),
            "runs_beating_reference_best": below[m],
            "median_trials": float(np.median(stats[m]["n_trials"])) if stats[m]["n_trials"] else None,
            "median_evaluations": float(np.median(stats[m]["n_evaluations"]))
            if stats[m]["n_evaluations"]
            else None,
            "median_spent": float(np.median(stats[m]["spent"])) if stats[m]["spent"] else None,
            "seconds_total": float(np.sum(stats[m]["seconds"])),
        }
        if m in carried:
            old = carried[m][1]
            keep = (
                "median_trials",
                "median_evaluations",
                "median_spent",
                "seconds_total",
                "runs_beating_reference_best",
            )
            entry.update({k: old.get(k) for k in keep})
            entry["description"] = old.get("description", entry["description"])
            entry["carried"] = old.get("carried")
        out_methods[m] = entry

    comparisons = {}
    for (a, b), d in diffs.items():
        lo, hi = np.percentile(d, [2.5, 97.5], axis=0)
        comparisons[f"{a} - {b}"] = {
            "budgets": _round(np.array(table_budgets)),
            "iqm_difference": _round(point[a][table_idx] - point[b][table_idx]),
            "ci_low": _round(lo[table_idx]),
            "ci_high": _round(hi[table_idx]),
        }
    return {
        "checkpoints": _round(checkpoints),
        "table_budgets": _round(np.array(table_budgets)),
        "tpe_final_iqm_regret": target,
        "methods": out_methods,
        "paired_iqm_differences": comparisons,
        "verdict": verdict(out_methods, comparisons, budget, table_idx),
    }


def load_merge(
    path: Path,
    rename: dict[str, str],
    running: list[str],
    instances: list[str],
    seeds: int,
    checkpoints: np.ndarray,
    scenario: str,
    budget: float,
) -> tuple[dict[str, tuple[np.ndarray, dict[str, Any]]], dict[str, dict[str, Any]]]:
    """The methods of an earlier report (``--merge``) that this run does not run.

    Returns (paired, unpaired): methods whose per-run curves the earlier report kept
    (``per_run_regret``, written since issue 14) are paired with this run seed by seed
    (their first ``seeds`` seeds); older reports kept only the aggregate curves and the
    final regret per run, so those methods are carried as reported (their own seeds,
    not paired, except at the full budget: see :func:`paired_at_budget`).
    """
    old = json.loads(path.read_text())
    problems = []
    if old.get("scenario") != scenario:
        problems.append(f"scenario {old.get('scenario')!r} (this run: {scenario!r})")
    if [str(i) for i in old.get("instances", [])] != instances:
        problems.append(f"instances {old.get('instances')} (this run: {instances})")
    if not math.isclose(float(old.get("budget", math.nan)), budget):
        problems.append(f"budget {old.get('budget')} (this run: {budget:g})")
    if not np.allclose(np.array(old.get("checkpoints", [])[: len(checkpoints)]), checkpoints) or len(
        old.get("checkpoints", [])
    ) != len(checkpoints):
        problems.append("other checkpoints")
    if int(old.get("seeds", 0)) < seeds:
        problems.append(f"{old.get('seeds')} seeds (this run: {seeds})")
    if problems:
        raise ValueError(f"--merge {path} must match this run, but it has " + "; ".join(problems))
    paired: dict[str, tuple[np.ndarray, dict[str, Any]]] = {}
    unpaired: dict[str, dict[str, Any]] = {}
    for name, entry in old["methods"].items():
        new = rename.get(name, name)
        if new in running:
            continue  # run now: this run's figures win
        # a method this report carried already keeps where it first came from
        carried = entry.get("carried") or {
            "from": str(path),
            "as": name,
            "seeds": int(old["seeds"]),
            "command": old.get("command"),
        }
        if "per_run_regret" in entry:
            arr = np.array(entry["per_run_regret"], dtype=float)[:, :seeds, :]
            paired[new] = (arr, {**entry, "carried": {**carried, "paired": True}})
        else:
            unpaired[new] = {**entry, "carried": {**carried, "paired": False}}
    return paired, unpaired


def paired_at_budget(cand: np.ndarray, old_final: np.ndarray, reps: int) -> dict[str, float]:
    """IQM(candidate) - IQM(old) at the full budget on the candidate's seeds, paired, with a 95% bootstrap CI.

    ``cand``: instances x seeds final regrets; ``old_final``: the earlier report's
    ``final_regret_per_run`` (instances x its seeds), cut to the same seeds.
    """
    old = np.asarray(old_final, dtype=float)[:, : cand.shape[1]]
    _, diffs = bootstrap_iqm({"a": cand[:, :, None], "b": old[:, :, None]}, reps, seed=0, pairs=[("a", "b")])
    lo, hi = np.percentile(diffs[("a", "b")][:, 0], [2.5, 97.5])
    point = float(iqm(cand.reshape(-1)) - iqm(old.reshape(-1)))
    return {"iqm_difference": round(point, 6), "ci_low": round(float(lo), 6), "ci_high": round(float(hi), 6)}


def add_unpaired(report: dict[str, Any], unpaired: dict[str, dict[str, Any]], reps: int) -> None:
    """Put methods carried unpaired (:func:`load_merge`) into ``report`` and redo the verdict."""
    cand = _methods.CANDIDATE_METHOD
    cps = np.array(report["checkpoints"])
    table_idx = [int(np.argmin(np.abs(cps - b))) for b in report["table_budgets"]]
    for name, entry in unpaired.items():
        entry = dict(entry)  # as reported there: its budget_to_match_tpe is against that report's TPE
        report["methods"][name] = entry
        if entry["carried"]["as"] == _methods.REFERENCE_METHOD and cand in report["methods"]:
            mine = report["methods"][cand]
            target = float(entry["iqm_regret"][-1])
            mine[f"budget_to_match_{name}"] = budget_to_reach(np.array(mine["iqm_regret"]), cps, target)
        if cand in report["methods"] and "final_regret_per_run" in entry:
            mine = np.array(report["methods"][cand]["final_regret_per_run"], dtype=float)
            report["paired_iqm_differences"][f"{cand} - {name}"] = {
                "budgets": [report["table_budgets"][-1]],
                "seeds": mine.shape[1],
                **{
                    k: [v]
                    for k, v in paired_at_budget(mine, np.array(entry["final_regret_per_run"]), reps).items()
                },
                "note": f"paired at the full budget only, on seeds 0-{mine.shape[1] - 1} "
                f"({name} is carried from {entry['carried']['from']}, which kept no per-run curves)",
            }
    report["verdict"] = verdict(
        report["methods"], report["paired_iqm_differences"], report["budget"], table_idx
    )


def verdict(
    methods: dict[str, Any], comparisons: dict[str, Any], budget: float, table_idx: list[int]
) -> dict[str, Any]:
    """Check the two goals for the candidate method; plain words plus figures."""
    cand, ref = _methods.CANDIDATE_METHOD, _methods.REFERENCE_METHOD
    if cand not in methods or ref not in methods:
        return {"text": f"no verdict: needs methods {cand!r} and {ref!r}"}
    b_match = methods[cand]["budget_to_match_tpe"]
    goal1 = b_match is not None and b_match <= budget / 3 + 1e-9
    final = {m: e["iqm_regret"][-1] for m, e in methods.items()}
    # the goals are against the Optuna baselines, not against other hpscout variants
    others = {m: v for m, v in final.items() if not m.startswith(cand)}
    losers = sorted(m for m, v in others.items() if final[cand] >= v)
    goal2 = not losers
    clear = [m for m in others if comparisons.get(f"{cand} - {m}", {}).get("ci_high", [math.inf])[-1] < 0]
    b1 = "never" if b_match is None else f"{b_match:.3g}"
    for key, value in methods[cand].items():
        if key.startswith("budget_to_match_") and key != "budget_to_match_tpe":
            other = key.removeprefix("budget_to_match_")
            b1 += f"; against {other}'s final IQM regret {methods[other]['iqm_regret'][-1]:.4g}: " + (
                "never" if value is None else f"{value:.3g}"
            )
    text = (
        f"goal 1 (reach TPE's final IQM regret {final[ref]:.4g} within B/3 = {budget / 3:.3g}): "
        f"{'MET' if goal1 else 'NOT MET'} ({cand} needs {b1}); "
        f"goal 2 (lowest IQM regret at B = {budget:g}): {'MET' if goal2 else 'NOT MET'} "
        f"({cand} {final[cand]:.4g} vs "
        + ", ".join(f"{m} {v:.4g}" for m, v in sorted(others.items(), key=lambda kv: kv[1]))
        + f"); paired 95% CI of the IQM difference excludes 0 against: {', '.join(sorted(clear)) or 'none'}"
    )
    return {
        "goal_budget_third": goal1,
        "goal_beats_all_at_budget": goal2,
        "loses_or_ties_to": losers,
        "significantly_better_than": sorted(clear),
        "text": text,
    }


def format_table(report: dict[str, Any]) -> str:
    """A plain-text table: IQM regret [95% CI] at B/27, B/9, B/3, B, and the budget to match TPE."""
    cps = np.array(report["checkpoints"])
    budgets = report["table_budgets"]
    idx = [int(np.argmin(np.abs(cps - b))) for b in budgets]
    width = max(14, *(len(m) + 1 for m in report["methods"]))
    head = (
        f"{'method':<{width}}"
        + "".join(f"{'B=' + format(b, '.3g'):>24}" for b in budgets)
        + f"{'budget_to_match_tpe':>21}"
    )
    lines = [head, "-" * len(head)]
    for m, e in report["methods"].items():
        cells = "".join(
            f"{e['iqm_regret'][i]:>8.4f} [{e['ci_low'][i]:.4f},{e['ci_high'][i]:.4f}]" for i in idx
        )
        btm = e["budget_to_match_tpe"]
        lines.append(f"{m:<{width}}{cells}{('-' if btm is None else format(btm, '.3g')):>21}")
    return "\n".join(lines)


def plot(report: dict[str, Any], title: str, path: Path) -> None:
    """IQM normalised regret against budget, with 95% bootstrap bands."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for m, e in report["methods"].items():
        x = np.array(e["checkpoints"])
        y = np.maximum(np.array(e["iqm_regret"]), 1e-5)
        label = m if not e.get("carried") else f"{m} ({e['carried']['seeds']} seeds, carried)"
        (line,) = ax.plot(
            x,
            y,
            label=label,
            lw=2.2 if m == _methods.CANDIDATE_METHOD else 1.4,
            ls="--" if e.get("carried") else "-",
        )
        ax.fill_between(
            x,
            np.maximum(e["ci_low"], 1e-5),
            np.maximum(e["ci_high"], 1e-5),
            color=line.get_color(),
            alpha=0.15,
        )
    if report.get("tpe_final_iqm_regret") is not None:
        ax.axhline(
            max(report["tpe_final_iqm_regret"], 1e-5), color="grey", ls=":", lw=1, label="TPE at full budget"
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("budget (full-training equivalents)")
    ax.set_ylabel("normalised regret (IQM, 95% CI)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)


def _round(x: np.ndarray) -> list[Any]:
    return np.round(np.asarray(x, dtype=float), 6).tolist()


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version(), "platform": platform.platform(), "cpus": str(os.cpu_count())}
    for pkg in ("hpscout", "optuna", "yahpo-gym", "onnxruntime", "ConfigSpace", "numpy", "scipy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "absent"
    return out


# ----------------------------------------------------------------------------- CLI


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--data-path",
        required=True,
        help="folder holding YAHPO scenario folders (e.g. ../shared/data/yahpo), "
        "or a grid CSV of real runs (bench/finetune_grid.py; see bench/_table.py)",
    )
    p.add_argument(
        "--scenario",
        required=True,
        help="YAHPO scenario under --data-path (lcbench, rbv2_xgboost, iaml_*, ...); for a CSV, a label",
    )
    p.add_argument(
        "--instances", default=None, help="comma-separated instance ids; default: the scenario's first 5"
    )
    p.add_argument("--seeds", type=int, default=20, help="seeds per instance, shared by all methods (paired)")
    p.add_argument("--budget", type=float, default=30.0, help="budget per run, in full-training equivalents")
    p.add_argument("--out", required=True, help="JSON report to write")
    p.add_argument("--plot", default=None, help="PNG of IQM regret against budget")
    p.add_argument(
        "--methods",
        default=",".join(_methods.DEFAULT_METHODS),
        help=f"comma-separated subset of {','.join(_methods.METHODS)} (default: {','.join(_methods.DEFAULT_METHODS)})",
    )
    p.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    p.add_argument(
        "--target",
        default=None,
        help="metric to optimise (default: val_accuracy, acc, auc, ... whichever the scenario has)",
    )
    p.add_argument(
        "--fidelity",
        default=None,
        help="budget fidelity parameter (default: the first that is not repl/replication)",
    )
    p.add_argument(
        "--cost",
        choices=("auto", "retrain", "continue"),
        default="auto",
        help="what a promoted trial pays at a higher rung: the whole rung (retrain) or the increment (continue); "
        "auto: continue for epoch-like fidelities, retrain for data fractions (trainsize)",
    )
    p.add_argument(
        "--reference-samples",
        type=int,
        default=20_000,
        help="random configs per instance for the regret reference",
    )
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples for the 95%% intervals")
    p.add_argument(
        "--cache-dir", default=str(DEFAULT_CACHE), help="cache for reference samples ('' to disable)"
    )
    p.add_argument(
        "--merge",
        default=None,
        help="an earlier report of the same scenario, instances and budget: its methods that this run does not run "
        "are added to this report (paired seed by seed when it kept per-run curves, else as reported)",
    )
    p.add_argument(
        "--rename-merged",
        default="",
        help="OLD=NEW,...: names for the merged report's methods (e.g. hpscout=hpscout-v1 keeps round 2's default "
        "next to the new one)",
    )
    args = p.parse_args(argv)
    check_run_args(p, args)
    try:
        args.rename_merged = parse_renames(args.rename_merged)
    except ValueError as err:
        p.error(str(err))
    if args.merge and not Path(args.merge).is_file():
        p.error(f"--merge must be an existing report, but got {args.merge!r}")
    return args


def parse_renames(text: str) -> dict[str, str]:
    """``OLD=NEW,...`` as a dict (``--rename-merged``)."""
    out = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        old, sep, new = part.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise ValueError(f"--rename-merged must be OLD=NEW pairs separated by commas, but got {part!r}")
        out[old.strip()] = new.strip()
    return out


def parse_methods(text: str) -> list[str] | None:
    """``--methods`` as a list in table order; None (after an error line on stderr) for unknown names."""
    methods = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in methods if m not in _methods.METHODS]
    if unknown:
        print(
            f"error: --methods must be a subset of {', '.join(_methods.METHODS)}, but got {', '.join(unknown)}",
            file=sys.stderr,
        )
        return None
    return [m for m in _methods.METHODS if m in methods]


def check_run_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--seeds``, ``--jobs`` >= 1 and ``--budget`` > 0 (exits 2 with the usage otherwise)."""
    if args.seeds < 1 or args.budget <= 0 or args.jobs < 1:
        parser.error(
            f"--seeds and --jobs must be >= 1 and --budget > 0, but got {args.seeds}, {args.jobs}, {args.budget}"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    table = is_table(args.data_path)
    if table:
        data_path = Path(args.data_path).resolve()
    else:
        data_path = _yahpo.configure_data_path(args.data_path)
        found = _yahpo.available_scenarios(data_path)
        if args.scenario not in found:
            print(
                f"error: --scenario must be one of the YAHPO scenarios under {data_path} "
                f"({', '.join(found) or 'none'}), but got {args.scenario!r}",
                file=sys.stderr,
            )
            return 2
    methods = parse_methods(args.methods)
    if methods is None:
        return 2

    probe: _yahpo.Scenario | _table.TableScenario
    if table:
        probe = _table.TableScenario(data_path, args.scenario, _table.INSTANCE, args.target, args.fidelity)
    else:
        probe = _yahpo.Scenario(
            data_path, args.scenario, _first_instance(data_path, args.scenario), args.target, args.fidelity
        )
    if args.instances:
        instances = [i.strip() for i in args.instances.split(",") if i.strip()]
    elif table:
        instances = [_table.INSTANCE]
    else:
        instances = _default_instances(data_path, args.scenario)
    fid = probe.fidelity
    continuation = fid.name in CONTINUATION_FIDELITIES if args.cost == "auto" else args.cost == "continue"
    cache = _yahpo.ensure_cache_dir(Path(args.cache_dir)) if args.cache_dir else None
    print(
        f"{args.scenario}: target {probe.target} ({probe.direction}), fidelity {fid.name} in [{fid.low:g}, {fid.high:g}]"
        f"{' fixed ' + str(fid.fixed) if fid.fixed else ''}, cost model {'continue' if continuation else 'retrain'}, "
        f"{len(instances)} instances x {args.seeds} seeds x {len(methods)} methods, budget {args.budget:g}",
        flush=True,
    )

    refs = {}
    for inst in instances:
        sc = _scenario(str(data_path), args.scenario, inst, args.target, args.fidelity)
        if isinstance(sc, _table.TableScenario):  # every cell is known: no sample needed
            refs[inst] = sc.reference()
        else:
            refs[inst] = _yahpo.reference(sc, args.reference_samples, seed=0, cache_dir=cache)
    checkpoints = make_checkpoints(args.budget)
    specs = [
        RunSpec(
            str(data_path),
            args.scenario,
            inst,
            args.target,
            args.fidelity,
            m,
            s,
            args.budget,
            continuation,
            tuple(checkpoints.tolist()),
            (refs[inst].best, refs[inst].worst),
        )
        for inst in instances
        for s in range(args.seeds)
        for m in methods
    ]
    paired: dict[str, tuple[np.ndarray, dict[str, Any]]] = {}
    unpaired: dict[str, dict[str, Any]] = {}
    if args.merge:
        try:
            paired, unpaired = load_merge(
                Path(args.merge),
                args.rename_merged,
                methods,
                instances,
                args.seeds,
                checkpoints,
                args.scenario,
                args.budget,
            )
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    results = _run_all(specs, args.jobs)

    report = summarise(
        results, methods, instances, args.seeds, checkpoints, args.budget, args.bootstrap, carried=paired
    )
    report = {
        "scenario": args.scenario,
        "instances": instances,
        "seeds": args.seeds,
        "budget": args.budget,
        "target": probe.target,
        "direction": probe.direction,
        "fidelity": {
            "name": fid.name,
            "low": fid.low,
            "high": fid.high,
            "integer": fid.is_int,
            "fixed": fid.fixed,
        },
        "cost_model": "continue" if continuation else "retrain",
        "baseline_ladder": list(_methods.geometric_ladder(fid.min_fraction)),
        "incumbent_rule": "best trial at the highest fidelity reached so far, scored at max fidelity (not charged)",
        "regret": (
            "(best - value) / (best - worst) over the table's seed-mean cells at the largest fraction"
            if table
            else "per instance (best - value) / (best - worst) over a random sample at max fidelity; clipped at 0"
        ),
        **({"table": probe.describe()} if isinstance(probe, _table.TableScenario) else {}),
        "reference": {
            i: {"best": r.best, "worst": r.worst, "n": r.n, "seed": r.seed} for i, r in refs.items()
        },
        **report,
        "ran_methods": methods,
        "methods_info": {r.method: r.info for r in results if r.seed == 0 and r.instance == instances[0]},
        "versions": _versions(),
        "command": " ".join([Path(sys.argv[0]).as_posix(), *(argv if argv is not None else sys.argv[1:])]),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    if unpaired:
        add_unpaired(report, unpaired, args.bootstrap)
    out = Path(args.out)
    _yahpo._write_json(out, report)
    print(format_table(report))
    print(f"VERDICT {args.scenario}: {report['verdict']['text']}")
    if args.plot:
        plot(
            report,
            f"{args.scenario}: {len(instances)} instances x {args.seeds} seeds, target {probe.target}",
            Path(args.plot),
        )
    print(f"wrote {out}{' and ' + args.plot if args.plot else ''} in {report['seconds']:.0f} s", flush=True)
    return 0


def _first_instance(data_path: Path, scenario: str) -> str:
    return _default_instances(data_path, scenario)[0]


def _default_instances(data_path: Path, scenario: str) -> list[str]:
    import contextlib
    import io

    yahpo_gym = _yahpo._import_yahpo()
    with contextlib.redirect_stdout(io.StringIO()):
        bench = yahpo_gym.BenchmarkSet(scenario, active_session=False)
    return [str(i) for i in bench.instances[:5]]


def _run_all(specs: list[RunSpec], jobs: int) -> list[RunResult]:
    """Run every spec, in worker processes when ``jobs > 1``; print progress."""
    results: list[RunResult] = []
    t0 = time.perf_counter()
    step = max(1, len(specs) // 20)

    def progress() -> None:
        if len(results) % step == 0 or len(results) == len(specs):
            print(f"  {len(results)}/{len(specs)} runs, {time.perf_counter() - t0:.0f} s", flush=True)

    if jobs == 1:
        for spec in specs:
            results.append(run_one(spec))
            progress()
        return results
    # spawn: onnxruntime sessions and threads do not survive fork safely.
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures = [pool.submit(run_one, spec) for spec in specs]
        for fut in cf.as_completed(futures):
            results.append(fut.result())
            progress()
    return results


if __name__ == "__main__":
    raise SystemExit(main())
