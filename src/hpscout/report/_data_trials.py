"""The trials of a run as table rows, and the final config it recommends (read from the store and the study)."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from hpscout._errors import ConfigError, HpscoutError, StorageError
from hpscout.analysis import diagnose_curve
from hpscout.config import ExperimentConfig, apply_updates, config_to_dict, get_value, load_config
from hpscout.report._data_types import FinalFile, TrialRow, finite
from hpscout.runner import TrialResult
from hpscout.search import params_to_updates
from hpscout.store import RunLayout, final_config_paths, trial_result_path

__all__ = ["best_config", "final_config_of", "final_files", "rank_rows", "trial_rows"]


def trial_rows(study: Any, config: ExperimentConfig, layout: RunLayout) -> tuple[list[TrialRow], dict[int, TrialResult]]:
    rows: list[TrialRow] = []
    results: dict[int, TrialResult] = {}
    for t in study.get_trials(deepcopy=False):
        result = _result_for(t, layout)
        if result is not None:
            results[t.number] = result
        params = dict(t.params)
        updates = _trial_updates(params, config)
        status = _status_of(t)
        value = finite(t.value) if t.state.name == "COMPLETE" and status == "complete" else None
        inter = sorted(t.intermediate_values.items())
        last_value = finite(inter[-1][1]) if inter else value
        fraction = finite(t.user_attrs.get("fraction"))
        if fraction is None and result is not None:
            fraction = result.fraction
        seconds = finite(t.user_attrs.get("elapsed_seconds"))
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
                learning_rate=finite(_config_value(result, updates, config, "train.learning_rate")),
                batch_size=_config_value(result, updates, config, "train.batch_size"),
                lora_r=_config_value(result, updates, config, "train.lora.r") if method != "full" else None,
                warmup_ratio=None if warmup_steps is not None else finite(
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


def rank_rows(rows: list[TrialRow], maximize: bool) -> list[TrialRow]:
    """Complete trials by value (rank 1 = best), then pruned ones by their last value, then the rest."""
    sign = -1.0 if maximize else 1.0
    done = sorted((r for r in rows if r.value is not None), key=lambda r: (sign * r.value, r.number))  # type: ignore[operator]
    ranked = [replace(r, rank=i + 1) for i, r in enumerate(done)]
    pruned = sorted(
        (r for r in rows if r.value is None and r.status == "pruned"),
        key=lambda r: (-(r.fraction or 0), sign * r.last_value if r.last_value is not None else math.inf, r.number),
    )
    rest = sorted((r for r in rows if r.value is None and r.status != "pruned"), key=lambda r: r.number)
    return ranked + pruned + rest


def final_config_of(
    layout: RunLayout, config: ExperimentConfig, best: TrialRow | None, results: dict[int, TrialResult]
) -> tuple[ExperimentConfig | None, str]:
    """The config the run recommends: final/config.yaml, else top/top1.yaml, else the best trial's."""
    for path in final_config_paths(layout.root):
        try:
            return load_config(path), path.relative_to(layout.root).as_posix()
        except HpscoutError:
            continue
    if best is not None:
        try:
            updates = _trial_updates(best.params, config)
            return apply_updates(config, updates, source=f"trial {best.number}"), f"best trial {best.name}"
        except ConfigError:
            return None, ""
    return None, ""


def best_config(
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


def final_files(layout: RunLayout) -> list[FinalFile]:
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


def _trial_updates(params: dict[str, Any], config: ExperimentConfig) -> dict[str, Any]:
    """A trial's parameters as config updates (derived values such as ``multiplier_of`` multiplied out)."""
    try:
        return params_to_updates(params, config.search.space, config)
    except HpscoutError:
        return dict(params)


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
    path = trial_result_path(layout.root, trial.number, trial.user_attrs.get("result_path"))
    if path is None:
        return None
    try:
        return TrialResult.load(path)
    except (StorageError, KeyError, TypeError, ValueError):
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


def _train_loss(result: TrialResult | None) -> float | None:
    if result is None:
        return None
    for entry in reversed(result.history):
        if "loss" in entry and finite(entry["loss"]) is not None:
            return float(entry["loss"])
    return finite(result.metrics.get("train_loss"))


def _final_why(layout: RunLayout) -> str | None:
    """Why the final config was chosen, from the first header line ``hpscout run`` wrote into it."""
    path = layout.final_dir / "config.yaml"
    try:
        first = path.read_text(encoding="utf-8").splitlines()[0]
    except (OSError, IndexError):
        return None
    marker = "chosen by hpscout run: "
    return first.split(marker, 1)[1].strip() if marker in first else None
