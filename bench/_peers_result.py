"""What the side-by-side benchmark (bench/peers.py) records, and how it is summarised (pure: no training).

A competitor's run is a :class:`CompetitorRun`: its trials as :class:`TrialRecord` (times in
seconds since the competitor was launched), the incumbent it would have handed over at any
moment, and its final pick. The summary joins the runs with the full-scale retrains
(one row per (seed, config) in a CSV, as the fine-tuning grid writes them), computes the
time-to-quality curves, the paired comparison and the verdict, and builds the table; the plot
is drawn from that summary alone.
"""

from __future__ import annotations

import io
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from _finetune import canonical

#: hpscout's dotted search keys -> the names every competitor's params use (the grid CSV's columns)
PARAM_NAMES = {"train.learning_rate": "learning_rate", "train.lora.r": "lora_r", "train.warmup_ratio": "warmup_ratio"}
#: The key columns of a full-scale retrain row (the same as bench/finetune_grid.py's)
KEY_COLUMNS = ("seed", "fraction", "learning_rate", "lora_r", "warmup_ratio")
#: Where on each run's own wall time the incumbent is retrained (1.0 = the run's final pick)
CURVE_QUANTILES = (0.25, 0.5, 0.75, 1.0)
#: The issue's goals: hpscout's wall time at most this share of the best peer's
WALL_GOAL, WALL_MOONSHOT = 1 / 3, 1 / 10

Params = dict[str, Any]


@dataclass
class TrialRecord:
    """One trial (or one transfer re-run) of a competitor, as the benchmark saw it.

    Attributes:
        state: complete | pruned | cut (stopped by the wall-clock budget) | failed.
        value: the metric it reported last (a pruned trial: its last intermediate value).
        params: learning_rate, lora_r, warmup_ratio.
        fraction: the share of the training sample it trained on.
        start_s, end_s: seconds since the competitor was launched.
        samples: training samples processed (rows x epochs, partial epochs included).
        setup_s, train_s, eval_s: where its time went, when measured (None: not measured).
        evals: evaluations it ran.
        kind: search | transfer (hpscout's climb re-runs).
    """

    number: int
    state: str
    value: float | None
    params: Params
    fraction: float
    start_s: float
    end_s: float
    samples: int = 0
    setup_s: float | None = None
    train_s: float | None = None
    eval_s: float | None = None
    evals: int = 0
    kind: str = "search"


@dataclass
class CompetitorRun:
    """One competitor's whole run: trials, incumbents over time, its pick."""

    name: str
    label: str
    budget_s: float
    wall_s: float
    trials: list[TrialRecord]
    #: (seconds since launch, params or None) at every change of the incumbent, in time order
    incumbents: list[tuple[float, Params | None]]
    pick: Params | None
    best_value: float | None
    #: the value the competitor reports for its pick (hpscout: at the highest rung of its climb)
    pick_value: float | None = None
    pick_fraction: float | None = None
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def samples(self) -> int:
        return sum(t.samples for t in self.trials)

    def count(self, state: str, kind: str = "search") -> int:
        return sum(1 for t in self.trials if t.state == state and t.kind == kind)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["incumbents"] = [[t, p] for t, p in self.incumbents]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CompetitorRun:
        data = dict(d)
        data["trials"] = [TrialRecord(**t) for t in d["trials"]]
        data["incumbents"] = [(float(t), p) for t, p in d["incumbents"]]
        return cls(**data)


# --------------------------------------------------------------------------- incumbents


def best_complete_changes(trials: Sequence[TrialRecord], maximize: bool = True) -> list[tuple[float, Params | None]]:
    """The incumbent of a plain study over time: the best COMPLETE trial finished so far (ties: the earlier).

    This is what ``study.best_trial`` returns at each moment, for every Optuna-based peer: pruned and
    cut trials never become the incumbent.

    Example:
        >>> a = TrialRecord(0, "complete", 0.7, {"lr": 1}, 1.0, 0, 10)
        >>> b = TrialRecord(1, "pruned", 0.9, {"lr": 2}, 1.0, 10, 15)
        >>> c = TrialRecord(2, "complete", 0.8, {"lr": 3}, 1.0, 15, 30)
        >>> best_complete_changes([a, b, c])
        [(10, {'lr': 1}), (30, {'lr': 3})]
    """
    sign = 1 if maximize else -1
    out: list[tuple[float, Params | None]] = []
    best: float | None = None
    for t in sorted(trials, key=lambda r: (r.end_s, r.number)):
        if t.state != "complete" or t.value is None or not math.isfinite(t.value) or t.kind != "search":
            continue
        if best is None or sign * t.value > sign * best:
            best = t.value
            out.append((t.end_s, dict(t.params)))
    return out


def climb_changes(
    trials: Sequence[TrialRecord],
    rungs: Sequence[Mapping[str, Any]],
    maximize: bool = True,
) -> list[tuple[float, Params | None]]:
    """hpscout's incumbent over time: the search's best until the first climb rung is decided, then the best
    config of the highest rung decided so far (what ``choose_final`` would pick had the climb stopped there).

    A rung is decided when the last transfer re-run at its fraction finished (the seed-noise re-run included).

    Args:
        trials: search trials and transfer re-runs (``kind`` "transfer", ``number`` = the source trial).
        rungs: analysis.json ``transfer.rungs``: each with ``fraction``, ``trials`` and ``values`` (aligned).
    """
    out = best_complete_changes([t for t in trials if t.kind == "search"], maximize)
    sign = 1 if maximize else -1
    params_of = {t.number: t.params for t in trials if t.kind == "search"}
    for rung in rungs:
        ends = [t.end_s for t in trials if t.kind == "transfer" and abs(t.fraction - float(rung["fraction"])) < 1e-9]
        scored = [(v, n) for n, v in zip(rung.get("trials", []), rung.get("values", []), strict=False) if v is not None]
        if not ends or not scored:
            continue
        best_trial = max(scored, key=lambda vn: (sign * vn[0], -vn[1]))[1]
        out.append((max(ends), dict(params_of.get(best_trial, {}))))
    out.sort(key=lambda tp: tp[0])
    return out


def incumbent_at(changes: Sequence[tuple[float, Params | None]], t: float) -> Params | None:
    """The incumbent at ``t`` seconds (None before the first one)."""
    current = None
    for when, params in changes:
        if when > t + 1e-9:
            break
        current = params
    return current


def curve_points(run: CompetitorRun, quantiles: Sequence[float] = CURVE_QUANTILES) -> list[dict[str, Any]]:
    """Where the time-to-quality curve is measured: the incumbent at each share of the run's wall time.

    The last point (1.0) is the run's final pick.
    """
    out = []
    for q in quantiles:
        t = q * run.wall_s
        params = run.pick if q >= 1.0 else incumbent_at(run.incumbents, t)
        out.append({"quantile": q, "seconds": t, "params": params})
    return out


def time_to_pick(run: CompetitorRun) -> float | None:
    """When the incumbent last changed to the final pick (a peer that found its pick early got there then)."""
    if run.pick is None:
        return None
    when = None
    for t, params in run.incumbents:
        if params is not None and same_params(params, run.pick):
            if when is None:
                when = t
        else:
            when = None
    return run.wall_s if when is None else when


def repeated_trials(run: CompetitorRun) -> int:
    """Search trials whose parameters an earlier search trial already had: budget a search spent twice
    (a seeded sampler replaying its draws after a restart, or a retry running beside the original)."""
    seen: set[tuple[tuple[str, str], ...]] = set()
    repeats = 0
    for t in sorted(run.trials, key=lambda t: t.start_s):
        if t.kind != "search" or not t.params:
            continue
        key = tuple(sorted((k, canonical(v)) for k, v in t.params.items()))
        repeats += key in seen
        seen.add(key)
    return repeats


def time_shares(run: CompetitorRun) -> list[dict[str, Any]]:
    """Where the trials' time went, per (kind, fraction): mean trial seconds and the shares of evaluation and of
    setup (data, tokenising, model load: what the runner does before training), over the trials that measured them.
    Cut trials are left out (they stopped part way)."""
    groups: dict[tuple[str, float], list[TrialRecord]] = {}
    for t in run.trials:
        if t.state != "cut" and t.eval_s is not None and t.end_s > t.start_s:
            groups.setdefault((t.kind, round(t.fraction, 9)), []).append(t)
    out = []
    for (kind, fraction), trials in sorted(groups.items()):
        wall = sum(t.end_s - t.start_s for t in trials)
        with_setup = [t for t in trials if t.setup_s is not None]
        setup_wall = sum(t.end_s - t.start_s for t in with_setup)
        out.append(
            {
                "kind": kind,
                "fraction": fraction,
                "trials": len(trials),
                "mean_s": wall / len(trials),
                "eval_share": sum(t.eval_s or 0.0 for t in trials) / wall,
                "evals_per_trial": statistics.fmean(t.evals for t in trials),
                "setup_share": sum(t.setup_s or 0.0 for t in with_setup) / setup_wall if setup_wall > 0 else None,
            }
        )
    return out


# --------------------------------------------------------------------------- retrain keys


def same_params(a: Params, b: Params) -> bool:
    return all(canonical(a.get(k)) == canonical(b.get(k)) for k in ("learning_rate", "lora_r", "warmup_ratio"))


def retrain_key(params: Params, seed: int, fraction: float = 1.0) -> tuple[str, ...]:
    """The key of a full-scale retrain row (:data:`KEY_COLUMNS`)."""
    row = {"seed": seed, "fraction": fraction, **params}
    return tuple(canonical(row[c]) for c in KEY_COLUMNS)


def retrain_plan(runs: Sequence[CompetitorRun], seeds: Sequence[int], *, curve: bool = True) -> list[tuple[Params, int]]:
    """Every (params, seed) to retrain at full scale, once each, in the order that gives a table soonest:
    every pick with the first seed, then with the other seeds, then (``curve``) each earlier curve
    incumbent with the first seed."""
    seen: set[tuple[str, ...]] = set()
    plan: list[tuple[Params, int]] = []

    def add(params: Params | None, seed: int) -> None:
        if params is None:
            return
        key = retrain_key(params, seed)
        if key not in seen:
            seen.add(key)
            plan.append((dict(params), seed))

    for seed in seeds:
        for run in runs:
            add(run.pick, seed)
    for run in runs if curve else ():
        for point in curve_points(run):
            add(point["params"], seeds[0])
    return plan


# --------------------------------------------------------------------------- summary


def _accuracy(rows: Mapping[tuple[str, ...], Mapping[str, str]], params: Params | None, seed: int) -> float | None:
    if params is None:
        return None
    row = rows.get(retrain_key(params, seed))
    if row is None or row.get("status") != "complete" or row.get("eval_accuracy") in ("", None):
        return None
    return float(row["eval_accuracy"])


def summarize(
    runs: Sequence[CompetitorRun],
    retrains: Mapping[tuple[str, ...], Mapping[str, str]],
    seeds: Sequence[int],
    *,
    reference: str = "hpscout",
    mean_ci: Callable[[Sequence[float]], Any] | None = None,
) -> dict[str, Any]:
    """Per competitor: its figures, full-scale accuracy of the pick per seed, the curve; the paired comparison
    of ``reference`` with every other competitor; the verdict.

    Args:
        retrains: full-scale retrain rows by :func:`retrain_key`.
        mean_ci: ``values -> MeanCI`` (default :func:`hpscout.analysis.mean_ci`, a 95% t interval).
    """
    if mean_ci is None:
        from hpscout.analysis import mean_ci as _mean_ci

        mean_ci = _mean_ci
    rows = []
    for run in runs:
        per_seed = {s: _accuracy(retrains, run.pick, s) for s in seeds}
        known = [v for v in per_seed.values() if v is not None]
        curve = []
        for point in curve_points(run):
            acc = _accuracy(retrains, point["params"], seeds[0])
            curve.append({**point, "accuracy": acc, "chance": point["params"] is None})
        rows.append(
            {
                "name": run.name,
                "label": run.label,
                "wall_s": run.wall_s,
                "budget_s": run.budget_s,
                "time_to_pick_s": time_to_pick(run),
                "samples": run.samples,
                "trials": sum(1 for t in run.trials if t.kind == "search"),
                "repeated": repeated_trials(run),
                "complete": run.count("complete"),
                "pruned": run.count("pruned"),
                "cut": run.count("cut"),
                "failed": run.count("failed"),
                "reruns": sum(1 for t in run.trials if t.kind == "transfer"),
                "best_value": run.best_value,
                "pick": run.pick,
                "pick_value": run.pick_value,
                "pick_fraction": run.pick_fraction,
                "full_accuracy": per_seed,
                "full_accuracy_mean": statistics.fmean(known) if known else None,
                "curve": curve,
                "notes": list(run.notes),
            }
        )
    by_name = {r["name"]: r for r in rows}
    paired = {}
    ref = by_name.get(reference)
    if ref is not None:
        for row in rows:
            if row["name"] == reference:
                continue
            diffs = [
                ref["full_accuracy"][s] - row["full_accuracy"][s]
                for s in seeds
                if ref["full_accuracy"][s] is not None and row["full_accuracy"][s] is not None
            ]
            ci = mean_ci(diffs)
            paired[row["name"]] = {"n": ci.n, "mean": ci.mean, "ci_low": ci.ci_low, "ci_high": ci.ci_high}
    return {"rows": rows, "paired": paired, "verdict": verdict(rows, paired, reference)}


def verdict(rows: Sequence[Mapping[str, Any]], paired: Mapping[str, Mapping[str, Any]], reference: str = "hpscout") -> dict[str, Any]:
    """The issue's two goals, read off the summary rows.

    Quality: ``reference``'s pick scores at least as well at full scale as the best peer's pick (seed
    mean; the paired 95% interval says whether the difference is resolved). Wall time: ``reference``'s
    wall time is at most 1/3 (moonshot 1/10) of the best peer's wall time; the stricter ratio against the
    moment the best peer's incumbent became its pick is reported next to it.
    """
    ref = next((r for r in rows if r["name"] == reference), None)
    peers = [r for r in rows if r["name"] != reference and r["full_accuracy_mean"] is not None]
    if ref is None or ref["full_accuracy_mean"] is None or not peers:
        return {"quality": None, "wall": None, "line": "VERDICT: not enough full-scale retrains yet to compare"}
    best = max(peers, key=lambda r: r["full_accuracy_mean"])
    diff = paired.get(best["name"], {})
    quality = ref["full_accuracy_mean"] >= best["full_accuracy_mean"]
    ratio = ref["wall_s"] / best["wall_s"] if best["wall_s"] else None
    strict = ref["wall_s"] / best["time_to_pick_s"] if best["time_to_pick_s"] else None
    wall = ratio is not None and ratio <= WALL_GOAL
    if diff.get("ci_low") is not None:
        ci = f"paired diff {diff['mean']:+.4f} [{diff['ci_low']:+.4f}, {diff['ci_high']:+.4f}] over {diff['n']} seeds"
    else:
        ci = f"paired diff {diff.get('mean') or 0.0:+.4f} over {diff.get('n', 0)} seed(s), no interval"
    line = (
        f"VERDICT: quality {'MET' if quality else 'NOT MET'} ({reference} {ref['full_accuracy_mean']:.4f} vs best peer "
        f"{best['name']} {best['full_accuracy_mean']:.4f}; {ci}); wall time {'MET' if wall else 'NOT MET'} "
        f"({reference} {ref['wall_s']:.0f} s = {_fmt(ratio, '.2f')}x {best['name']}'s {best['wall_s']:.0f} s, "
        f"{_fmt(strict, '.2f')}x its {_fmt(best['time_to_pick_s'], '.0f')} s to its pick; goal <= {WALL_GOAL:.2f}x, "
        f"moonshot {WALL_MOONSHOT:.2f}x)"
    )
    return {
        "quality": quality,
        "wall": wall,
        "moonshot": ratio is not None and ratio <= WALL_MOONSHOT,
        "best_peer": best["name"],
        "wall_ratio": ratio,
        "wall_ratio_to_pick": strict,
        "line": line,
    }


# --------------------------------------------------------------------------- table and plot


def _fmt(x: Any, spec: str = ".3f") -> str:
    return "-" if x is None else format(x, spec)


def table_rows(summary: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The table's header and rows as strings (one row per competitor, the same shape in every mode)."""
    quantiles = [q for q in CURVE_QUANTILES if q < 1.0]
    header = [
        "competitor", "wall s", "to pick s", "samples", "trials", "pruned", "cut", "re-runs", "best reported",
        "pick (lr, r, warmup)", "full acc (seeds)", "mean", "vs hpscout",
        *[f"acc@{int(q * 100)}%" for q in quantiles],
    ]
    out = []
    for r in summary["rows"]:
        pick = r["pick"]
        pick_s = "-" if pick is None else f"{pick['learning_rate']:.2e}, {pick['lora_r']}, {pick['warmup_ratio']:g}"
        seeds = " ".join(_fmt(v) for v in r["full_accuracy"].values())
        d = summary["paired"].get(r["name"])
        vs = "-" if d is None or d["mean"] is None else (
            f"{-d['mean']:+.3f}" + (f" [{-d['ci_high']:+.3f},{-d['ci_low']:+.3f}]" if d["ci_low"] is not None else "")
        )
        reported = _fmt(r["best_value"]) if r["pick_value"] is None else f"{_fmt(r['pick_value'])} @{r['pick_fraction']:g}"
        curve = {p["quantile"]: p for p in r["curve"]}
        out.append(
            [
                r["name"], f"{r['wall_s']:.0f}", _fmt(r["time_to_pick_s"], ".0f"), f"{r['samples']:,}",
                str(r["trials"]) + (f" ({r['repeated']} repeated)" if r.get("repeated") else ""), str(r["pruned"]), str(r["cut"]), str(r["reruns"]), reported, pick_s, seeds,
                _fmt(r["full_accuracy_mean"]), vs,
                *[("none yet" if curve[q]["chance"] else _fmt(curve[q]["accuracy"])) for q in quantiles],
            ]
        )
    return header, out


def format_table(summary: Mapping[str, Any]) -> str:
    """The table as plain text (rich lays it out; no colours, so it pastes into docs)."""
    from rich.console import Console
    from rich.table import Table

    header, rows = table_rows(summary)
    table = Table(*header, box=None, pad_edge=False, show_edge=False)
    for row in rows:
        table.add_row(*row)
    buffer = io.StringIO()
    Console(file=buffer, width=260, color_system=None).print(table)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


def curve_series(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per competitor, the curve's measured points (seconds, accuracy), for the plot."""
    out = []
    for r in summary["rows"]:
        pts = [(p["seconds"], p["accuracy"]) for p in r["curve"] if p["accuracy"] is not None]
        out.append({"name": r["name"], "points": pts, "mean_final": r["full_accuracy_mean"], "wall_s": r["wall_s"]})
    return out


def draw(summary: Mapping[str, Any], path: Any, title: str) -> None:
    """Time on x, full-scale accuracy of the incumbent on y (first seed), one line per competitor."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.8))
    for series in curve_series(summary):
        if not series["points"]:
            continue
        xs = [x / 60 for x, _ in series["points"]]
        ys = [y for _, y in series["points"]]
        (line,) = ax.step(xs, ys, where="post", marker="o", label=series["name"])
        if series["mean_final"] is not None:
            ax.plot([series["wall_s"] / 60], [series["mean_final"]], marker="*", markersize=12, color=line.get_color())
    budgets = {r["budget_s"] for r in summary["rows"]}
    for budget in budgets:
        ax.axvline(budget / 60, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("wall time of the run (minutes; dashed: each peer's budget)")
    ax.set_ylabel("full-scale eval accuracy of the incumbent")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.text(0.01, 0.01, "dots: first seed at 25/50/75/100% of each run's time; star: the pick's seed mean", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
