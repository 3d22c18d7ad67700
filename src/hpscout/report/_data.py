"""Compute the report: plain data from the store, no plotting library involved.

Everything here reads the run folder (``config.yaml``, ``trials/*/result.json``,
``top/``, ``final/``, ``analysis.json``) and the Optuna study the search stored;
nothing talks to a live search. :func:`report_data` returns a
:class:`ReportData` that :mod:`hpscout.report._figures` draws,
:mod:`hpscout.report._html` assembles and :mod:`hpscout.report._terminal` prints.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpscout._errors import ConfigError, HpscoutError, MissingDependencyError, StorageError
from hpscout._version import __version__
from hpscout.analysis import diagnose_curve
from hpscout.config import ExperimentConfig, apply_updates, config_to_dict, get_value, load_config
from hpscout.runner import TrialResult
from hpscout.store import RunLayout

__all__ = ["TrialRow", "PlotData", "FinalFile", "ReportData", "report_data", "load_run_config", "open_run_study",
           "PLOT_KEYS", "FAILED_STATUSES"]

#: statuses that end a trial without a usable value, listed with their reason
FAILED_STATUSES = ("diverged", "oom", "failed")

#: every plot of the report, in page order
PLOT_KEYS = (
    "history",
    "lr",
    "lora_r",
    "trainable_params",
    "parallel",
    "importance",
    "curves",
    "schedule",
    "ablation",
    "transfer",
    "climb",
    "lr_law",
)

# learning curves of at most this many top trials (more lines are unreadable)
MAX_CURVES = 5
# a schedule curve is down-sampled to about this many points for the page
MAX_SCHEDULE_POINTS = 1500


@dataclass(frozen=True)
class TrialRow:
    """One trial of the search study, as the table shows it.

    ``value`` is the objective of a complete trial; ``last_value`` the last
    intermediate value (at ``fraction``) of any trial, pruned ones included.
    """

    number: int
    name: str
    status: str
    rank: int | None = None
    value: float | None = None
    last_value: float | None = None
    fraction: float | None = None
    learning_rate: float | None = None
    batch_size: int | None = None
    lora_r: int | None = None
    warmup_ratio: float | None = None
    warmup_steps: int | None = None
    train_loss: float | None = None
    seconds: float | None = None
    trainable_params: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    message: str | None = None
    result_path: str | None = None
    #: the training curve's class (hpscout.analysis.diagnose_curve) and the change it suggests
    curve: str | None = None
    curve_suggestion: str | None = None


@dataclass(frozen=True)
class PlotData:
    """The series of one plot, or ``note`` saying why there is nothing to draw."""

    key: str
    title: str
    data: dict[str, Any] | None = None
    note: str | None = None

    @property
    def has_data(self) -> bool:
        return self.data is not None


@dataclass(frozen=True)
class FinalFile:
    """A ready-to-run config of this run and whether it exists yet."""

    label: str
    path: Path
    exists: bool


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows, computed from the store."""

    run_name: str
    run_dir: Path
    study_name: str
    storage: str
    metric: str
    direction: str
    task: str
    method: str
    rows: list[TrialRow]
    best: TrialRow | None
    best_config: dict[str, Any]
    final_files: list[FinalFile]
    failed: list[TrialRow]
    counts: dict[str, int]
    plots: dict[str, PlotData]
    ablation: dict[str, Any] | None
    importance: dict[str, Any] | None
    transfer: dict[str, Any] | None
    cost: dict[str, Any] | None
    lr_scaling: dict[str, Any] | None
    generated: str
    #: the ladder in force (analysis.json ``ladder``) and the cost preflight (``preflight``)
    ladder: list[dict[str, Any]] = field(default_factory=list)
    preflight: dict[str, Any] | None = None
    version: str = __version__
    notes: list[str] = field(default_factory=list)

    @property
    def maximize(self) -> bool:
        return self.direction == "maximize"


# --------------------------------------------------------------------------- store access


def load_run_config(run_dir: str | Path) -> ExperimentConfig:
    """The resolved config of a run folder (``<run_dir>/config.yaml``), pointed at ``run_dir``.

    The folder may have been moved since the run; ``output_dir`` is set to where it is now.
    """
    root = Path(run_dir)
    path = RunLayout(root).config
    if not path.is_file():
        raise StorageError(f"{root} is not a run folder: {path} does not exist (run `hpscout search` first)")
    config = load_config(path)
    if config.output_dir is None or Path(config.output_dir).resolve() != root.resolve():
        config = apply_updates(config, {"output_dir": str(root)}, source=str(path))
    return config


def open_run_study(config: ExperimentConfig, storage: str | None = None) -> tuple[Any, str]:
    """Load the search study of a run, read-only; returns ``(study, storage URL with the password masked)``.

    Storage: ``storage`` when given, else the config's ``storage``, else the search
    stage's default file under the run folder (:func:`hpscout.search.storage_url`).
    A missing local file is an error, never silently created.
    """
    from hpscout.search import load_study, mask_url, storage_url

    target = storage_url(config, storage)
    if target.startswith("sqlite:///") and not Path(target[len("sqlite:///"):]).exists():
        raise StorageError(f"no study yet: {target[len('sqlite:///'):]} does not exist (run `hpscout search` first)")
    return load_study(config, storage=storage), mask_url(target)


def _trial_updates(params: dict[str, Any], config: ExperimentConfig) -> dict[str, Any]:
    """A trial's parameters as config updates (derived values such as ``multiplier_of`` multiplied out)."""
    from hpscout.search import params_to_updates

    try:
        return params_to_updates(params, config.search.space, config)
    except HpscoutError:
        return dict(params)


# --------------------------------------------------------------------------- compute


def report_data(run_dir: str | Path, storage: str | None = None) -> ReportData:
    """Read a run folder and its study into a :class:`ReportData` (compute only, nothing drawn).

    Args:
        run_dir: the run folder (holds ``config.yaml``).
        storage: Optuna storage URL; default: the config's, else the run folder's file.

    Example:
        >>> data = report_data("runs/sst2-minilm-lora")  # doctest: +SKIP
        >>> data.best.name, data.best.value  # doctest: +SKIP
        ('t0011', 0.883)
    """
    root = Path(run_dir)
    config = load_run_config(root)
    layout = RunLayout(root)
    study, shown = open_run_study(config, storage)
    analysis = _read_analysis(layout)
    maximize = config.search.direction == "maximize"
    metric = config.search.metric

    rows, results = _trial_rows(study, config, layout)
    rows = _rank(rows, maximize)
    best = rows[0] if rows and rows[0].rank == 1 else None
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    failed = [r for r in sorted(rows, key=lambda r: r.number) if r.status in FAILED_STATUSES]
    final_cfg, final_source = _final_config(layout, config, best, results)
    notes: list[str] = []
    if best is None:
        notes.append("no trial completed yet, so there is no best config")

    plots = {
        "history": history_series(study, rows, maximize),
        "lr": param_series(rows, "learning_rate", "Learning rate vs " + metric, "train.learning_rate", log=True),
        "lora_r": _lora_series(rows, config, metric),
        "trainable_params": param_series(rows, "trainable_params", f"Trainable parameters vs {metric}",
                                         "trainable parameters", log=True),
        "parallel": parallel_series(rows, metric),
        "importance": importance_series(analysis.get("importance")),
        "curves": curve_series(rows, results, metric, min(config.search.top_k, MAX_CURVES)),
        "schedule": schedule_series(final_cfg, final_source, best, results, analysis.get("cost")),
        "ablation": ablation_series(analysis.get("ablation")),
        "transfer": transfer_series(analysis.get("transfer")),
        "climb": climb_series(analysis.get("transfer")),
        "lr_law": lr_law_series(analysis.get("lr_scaling")),
    }
    return ReportData(
        run_name=config.name,
        run_dir=root,
        study_name=study.study_name,
        storage=shown,
        metric=metric,
        direction=config.search.direction,
        task=config.task,
        method=config.train.method,
        rows=rows,
        best=best,
        best_config=_best_config(best, final_cfg, final_source, config, layout),
        final_files=_final_files(layout),
        failed=failed,
        counts=counts,
        plots=plots,
        ablation=_section(analysis, "ablation"),
        importance=_section(analysis, "importance"),
        transfer=_section(analysis, "transfer"),
        cost=_section(analysis, "cost"),
        lr_scaling=_section(analysis, "lr_scaling"),
        generated=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        notes=notes,
        ladder=[r for r in analysis.get("ladder") or [] if isinstance(r, dict)],
        preflight=_section(analysis, "preflight"),
    )


def _read_analysis(layout: RunLayout) -> dict[str, Any]:
    try:
        from hpscout.analysis._analysis_file import read_analysis
    except ImportError:
        from hpscout._io import read_json

        return read_json(layout.analysis) if layout.analysis.exists() else {}
    return read_analysis(layout.analysis)


def _section(analysis: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = analysis.get(name)
    return value if isinstance(value, dict) else None


def _status_of(trial: Any) -> str:
    if trial.state.name == "PRUNED":  # a rung may have completed before the pruner stopped the trial
        return "pruned"
    status = trial.user_attrs.get("status")
    if isinstance(status, str) and status:
        return status
    if trial.state.name == "FAIL":
        # a FAIL without an hpscout status is not an outcome: a dead worker, an outage or Ctrl-C;
        # the search re-queues its parameters, so it is not listed among the failed trials
        return "interrupted"
    return {
        "COMPLETE": "complete",
        "PRUNED": "pruned",
        "FAIL": "failed",
        "RUNNING": "running",
        "WAITING": "waiting",
    }.get(trial.state.name, trial.state.name.lower())


def _result_for(trial: Any, layout: RunLayout) -> TrialResult | None:
    candidates: list[Path] = []
    given = trial.user_attrs.get("result_path")
    if isinstance(given, str) and given:
        p = Path(given)
        candidates.append(p if p.is_absolute() else layout.root / p)
        # a moved run folder: keep the part below trials/
        parts = p.parts
        if "trials" in parts:
            candidates.append(layout.root.joinpath(*parts[parts.index("trials"):]))
    candidates.append(layout.trials_dir / f"t{trial.number:04d}" / "result.json")
    for path in candidates:
        if path.is_file():
            try:
                return TrialResult.load(path)
            except (StorageError, KeyError, TypeError, ValueError):
                return None
    return None


def _config_value(result: TrialResult | None, updates: dict[str, Any], config: ExperimentConfig, key: str) -> Any:
    """A setting of one trial: its result's resolved config, else its parameters, else the base config."""
    if result is not None and result.config:
        try:
            return get_value(result.config, key)
        except ConfigError:
            pass
    if key in updates:
        return updates[key]
    try:
        return get_value(config, key)
    except ConfigError:
        return None


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _train_loss(result: TrialResult | None) -> float | None:
    if result is None:
        return None
    for entry in reversed(result.history):
        if "loss" in entry and _finite(entry["loss"]) is not None:
            return float(entry["loss"])
    return _finite(result.metrics.get("train_loss"))


def _trial_rows(study: Any, config: ExperimentConfig, layout: RunLayout) -> tuple[list[TrialRow], dict[int, TrialResult]]:
    rows: list[TrialRow] = []
    results: dict[int, TrialResult] = {}
    for t in study.get_trials(deepcopy=False):
        result = _result_for(t, layout)
        if result is not None:
            results[t.number] = result
        params = dict(t.params)
        updates = _trial_updates(params, config)
        status = _status_of(t)
        value = _finite(t.value) if t.state.name == "COMPLETE" and status == "complete" else None
        inter = sorted(t.intermediate_values.items())
        last_value = _finite(inter[-1][1]) if inter else value
        fraction = _finite(t.user_attrs.get("fraction"))
        if fraction is None and result is not None:
            fraction = result.fraction
        seconds = _finite(t.user_attrs.get("elapsed_seconds"))
        if seconds is None and result is not None and result.elapsed_seconds:
            seconds = result.elapsed_seconds
        if seconds is None and t.datetime_start and t.datetime_complete:
            seconds = (t.datetime_complete - t.datetime_start).total_seconds()
        trainable = t.user_attrs.get("trainable_params")
        if not isinstance(trainable, int) and result is not None:
            trainable = result.trainable_params
        message = (t.user_attrs.get("message") or t.user_attrs.get("interrupted")
                   or (result.message if result else None) or t.system_attrs.get("fail_reason"))
        method = _config_value(result, updates, config, "train.method")
        warmup_steps = _config_value(result, updates, config, "train.warmup_steps")
        curve = diagnose_curve(result.history, status=status) if result is not None and result.history else None
        rows.append(
            TrialRow(
                number=t.number,
                name=f"t{t.number:04d}",
                status=status,
                value=value,
                last_value=last_value,
                fraction=fraction,
                learning_rate=_finite(_config_value(result, updates, config, "train.learning_rate")),
                batch_size=_config_value(result, updates, config, "train.batch_size"),
                lora_r=_config_value(result, updates, config, "train.lora.r") if method != "full" else None,
                warmup_ratio=None if warmup_steps is not None else _finite(
                    _config_value(result, updates, config, "train.warmup_ratio")),
                warmup_steps=warmup_steps,
                train_loss=_train_loss(result),
                seconds=seconds,
                trainable_params=trainable if isinstance(trainable, int) else None,
                params=params,
                message=str(message) if message else None,
                result_path=t.user_attrs.get("result_path"),
                curve=curve.label if curve else None,
                curve_suggestion=curve.suggestion if curve else None,
            )
        )
    return rows, results


def _rank(rows: list[TrialRow], maximize: bool) -> list[TrialRow]:
    """Complete trials by value (rank 1 = best), then pruned ones by their last value, then the rest."""
    sign = -1.0 if maximize else 1.0
    done = sorted((r for r in rows if r.value is not None), key=lambda r: (sign * r.value, r.number))  # type: ignore[operator]
    ranked = [_replace(r, rank=i + 1) for i, r in enumerate(done)]
    pruned = sorted(
        (r for r in rows if r.value is None and r.status == "pruned"),
        key=lambda r: (-(r.fraction or 0), sign * r.last_value if r.last_value is not None else math.inf, r.number),
    )
    rest = sorted((r for r in rows if r.value is None and r.status != "pruned"), key=lambda r: r.number)
    return ranked + pruned + rest


def _replace(row: TrialRow, **changes: Any) -> TrialRow:
    from dataclasses import replace

    return replace(row, **changes)


def _final_config(
    layout: RunLayout, config: ExperimentConfig, best: TrialRow | None, results: dict[int, TrialResult]
) -> tuple[ExperimentConfig | None, str]:
    """The config the run recommends: final/config.yaml, else top/top1.yaml, else the best trial's."""
    for path, label in ((layout.final_dir / "config.yaml", "final/config.yaml"), (layout.top_dir / "top1.yaml", "top/top1.yaml")):
        if path.is_file():
            try:
                return load_config(path), label
            except HpscoutError:
                continue
    if best is not None:
        try:
            updates = _trial_updates(best.params, config)
            return apply_updates(config, updates, source=f"trial {best.number}"), f"best trial {best.name}"
        except ConfigError:
            return None, ""
    return None, ""


def _best_config(
    best: TrialRow | None, final: ExperimentConfig | None, source: str, config: ExperimentConfig, layout: RunLayout
) -> dict[str, Any]:
    """The config box: the values the recommended config holds (final/config.yaml when it exists, so the box
    never shows the search's top-1 when the transfer check picked another trial), its source and why."""
    out: dict[str, Any] = {}
    if final is None:
        if best is not None:
            out.update(best.params)
        return out
    flat = config_to_dict(final)
    keys = list(config.search.space) + [
        f"train.{k}"
        for k in ("learning_rate", "batch_size", "grad_accum", "epochs", "lr_scheduler", "warmup_ratio", "warmup_steps",
                  "method")
    ]
    if final.train.method != "full":
        keys.append("train.lora.r")
    for dotted in keys:
        node: Any = flat
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None and dotted not in out:
            out[dotted] = node
    out["source"] = source
    why = _final_why(layout) if source == "final/config.yaml" else None
    if why:
        out["why"] = why
    return out


def _final_why(layout: RunLayout) -> str | None:
    """Why the final config was chosen, from the first header line ``hpscout run`` wrote into it."""
    path = layout.final_dir / "config.yaml"
    try:
        first = path.read_text(encoding="utf-8").splitlines()[0]
    except (OSError, IndexError):
        return None
    marker = "chosen by hpscout run: "
    return first.split(marker, 1)[1].strip() if marker in first else None


def _final_files(layout: RunLayout) -> list[FinalFile]:
    files = [
        ("final config (hpscout)", layout.final_dir / "config.yaml"),
        ("LLaMA-Factory YAML", layout.final_dir / "llamafactory.yaml"),
        ("TrainingArguments JSON", layout.final_dir / "training_args.json"),
        ("final config + plan (JSON)", layout.final_dir / "final.json"),
    ]
    if layout.top_dir.is_dir():
        for p in sorted(layout.top_dir.glob("top*.yaml")):
            files.append((f"top config {p.stem[3:]}", p))
    return [FinalFile(label, path, path.is_file()) for label, path in files]


# --------------------------------------------------------------------------- plot series


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


def _lora_series(rows: list[TrialRow], config: ExperimentConfig, metric: str) -> PlotData:
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
            clean = {k: float(v) for k, v in values.items() if _finite(v) is not None}
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
        train = [(e["step"], e["loss"]) for e in result.history if "loss" in e and "step" in e and _finite(e["loss"]) is not None]
        evals = [(e["step"], e[metric]) for e in result.history if metric in e and "step" in e and _finite(e[metric]) is not None]
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
    from hpscout.plan import METRIC_DRIVEN_SCHEDULES, compute_schedule, metric_driven_explanation, plan_steps

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
            mean = _finite(lv.get("mean"))
            levels.append({
                "level": str(lv.get("level")),
                "mean": mean,
                "ci_low": _finite(lv.get("ci_low")),
                "ci_high": _finite(lv.get("ci_high")),
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
        "baseline_mean": _finite(baseline.get("mean")),
    })


def transfer_series(section: dict[str, Any] | None) -> PlotData:
    """Small- vs large-fraction values of the re-run top configs."""
    title = "Transfer check: small vs larger fraction"
    if not isinstance(section, dict):
        return PlotData("transfer", title, note="transfer check not run (analysis.json has no transfer section)")
    pts = [c for c in section.get("configs") or []
           if _finite(c.get("small_value")) is not None and _finite(c.get("large_value")) is not None]
    if not pts:
        return PlotData("transfer", title, note="no re-run config has values at both fractions")
    return PlotData("transfer", title, {
        "small": [c["small_value"] for c in pts],
        "large": [c["large_value"] for c in pts],
        "labels": [f"t{int(c['trial']):04d}" if isinstance(c.get("trial"), int) else str(c.get("trial")) for c in pts],
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
        ys = [_finite(c.get("small_value"))] + [_finite(by_rung.get(f"{f:g}")) if isinstance(f, (int, float)) else None
                                                for f in fractions[1:]]
        label = f"t{int(c['trial']):04d}" if isinstance(c.get("trial"), int) else str(c.get("trial"))
        lines.append({"label": label, "y": ys, "trial": c.get("trial")})
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
    pts = [p for p in section.get("points") or [] if _finite(p.get("x")) and _finite(p.get("lr")) and p["x"] > 0 and p["lr"] > 0]
    beta = _finite(section.get("beta"))
    if len(pts) < 2 or beta is None:
        return PlotData("lr_law", title, note="fewer than two usable rungs or no fitted exponent")
    full = _sub(section, "full")
    full_x = _finite(full.get("x"))
    predicted = _finite(section.get("predicted_full_lr"))
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
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(_finite(c) is not None for c in ci):
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


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _sub(obj: Any, key: str) -> dict[str, Any]:
    """``obj[key]`` when it is a mapping, else an empty dict (analysis.json sections may be partial)."""
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, dict) else {}
