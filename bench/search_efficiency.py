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
import math
import multiprocessing
import os
import platform
import sys
import time
from dataclasses import dataclass
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


class Ledger:
    """Charges evaluations to the budget and records what each one saw."""

    def __init__(self, budget: float, continuation: bool) -> None:
        self.budget = budget
        self.continuation = continuation
        self.spent = 0.0
        self.records: list[tuple[float, int, float, float]] = []  # (spent after, trial, fraction, value)
        self._reached: dict[int, float] = {}  # trial -> highest fraction it has trained to

    def charge(self, trial: int, fraction: float) -> None:
        if self.spent >= self.budget:
            raise BudgetSpent
        done = self._reached.get(trial, 0.0) if self.continuation else 0.0
        self.spent += max(fraction - done, 0.0)
        self._reached[trial] = max(fraction, self._reached.get(trial, 0.0))

    def record(self, trial: int, fraction: float, value: float) -> None:
        self.records.append((self.spent, trial, fraction, value))


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


def incumbents(records: list[tuple[float, int, float, float]], maximize: bool) -> list[tuple[float, int]]:
    """(spent, incumbent trial) after each evaluation.

    The incumbent is the best trial among those evaluated at the highest
    fidelity reached so far: what a user would take from the study.
    """
    out = []
    top, best, inc = -1.0, math.nan, -1
    for spent, trial, fraction, value in records:
        if math.isnan(value):
            pass
        elif fraction > top + 1e-12:
            top, best, inc = fraction, value, trial
        elif abs(fraction - top) <= 1e-12 and (value > best if maximize else value < best):
            best, inc = value, trial
        out.append((spent, inc))
    return out


def run_one(spec: RunSpec) -> RunResult:
    """Run one method on one instance with one seed until the budget is spent."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    start = time.perf_counter()
    scenario = _scenario(spec.data_path, spec.scenario, spec.instance, spec.target, spec.fidelity)
    scenario = scenario.for_seed(spec.seed)  # a table reads one seed's runs; a surrogate has no noise
    plan = _methods.build(spec.method, spec.seed, scenario.fidelity.min_fraction, scenario.params)
    ledger = Ledger(spec.budget, spec.continuation)
    configs: dict[int, dict[str, Any]] = {}

    def objective(trial: optuna.Trial) -> float:
        config = suggest(trial, scenario.params)
        configs[trial.number] = config

        def evaluate(fraction: float) -> float:
            used = scenario.fidelity.fraction(scenario.fidelity.value(fraction))
            ledger.charge(trial.number, used)
            value = float(scenario.evaluate([config], used)[0])
            ledger.record(trial.number, used, value)
            return value

        try:
            return plan.run_trial(trial, evaluate)
        except BudgetSpent:
            trial.study.stop()
            raise optuna.TrialPruned("budget spent") from None

    def evaluate_trial(number: int, fraction: float) -> float:
        """Re-evaluate an earlier trial's configuration (a method's after-trial step)."""
        used = scenario.fidelity.fraction(scenario.fidelity.value(fraction))
        ledger.charge(number, used)
        value = float(scenario.evaluate([configs[number]], used)[0])
        ledger.record(number, used, value)
        return value

    def after_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if plan.after_trial is None:
            return
        try:
            plan.after_trial(study, trial, evaluate_trial)
        except BudgetSpent:
            study.stop()

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
    study.optimize(objective, n_trials=max_trials, callbacks=[after_trial])

    # Score each incumbent at maximum fidelity (free: the user's final training run).
    history = incumbents(ledger.records, scenario.maximize)
    trials = sorted({inc for _, inc in history if inc >= 0})
    full = dict(zip(trials, scenario.score([configs[t] for t in trials]), strict=True))
    best, worst = spec.reference
    ref = _yahpo.Reference(best, worst, 0, 0)
    spent = np.array([s for s, _ in history])
    reg = np.array([ref.regret(full[inc]) if inc >= 0 else 1.0 for _, inc in history], dtype=float)
    below = bool(np.any(reg < 0))
    reg = np.clip(reg, 0.0, None)
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
) -> dict[str, Any]:
    """Aggregate runs into the JSON report (plain data; no plotting)."""
    regret = {m: np.full((len(instances), seeds, len(checkpoints)), np.nan) for m in methods}
    stats: dict[str, dict[str, list[float]]] = {
        m: {"n_trials": [], "n_evaluations": [], "spent": [], "seconds": []} for m in methods
    }
    below: dict[str, int] = dict.fromkeys(methods, 0)
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
            "runs_beating_reference_best": below[m],
            "median_trials": float(np.median(stats[m]["n_trials"])),
            "median_evaluations": float(np.median(stats[m]["n_evaluations"])),
            "median_spent": float(np.median(stats[m]["spent"])),
            "seconds_total": float(np.sum(stats[m]["seconds"])),
        }
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
        (line,) = ax.plot(x, y, label=m, lw=2.2 if m == _methods.CANDIDATE_METHOD else 1.4)
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
    args = p.parse_args(argv)
    check_run_args(p, args)
    return args


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
    results = _run_all(specs, args.jobs)

    report = summarise(results, methods, instances, args.seeds, checkpoints, args.budget, args.bootstrap)
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
        "versions": _versions(),
        "command": " ".join([Path(sys.argv[0]).as_posix(), *(argv if argv is not None else sys.argv[1:])]),
        "seconds": round(time.perf_counter() - t0, 1),
    }
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
