"""Resumable runs of fixed configs (ablation and transfer cells), recorded in an Optuna study.

A *cell* is one config run with one seed at one fraction. Each finished cell is
added to the study as a trial (``study.add_trial``) whose user attributes carry
the cell key, a fingerprint of the config it ran and the result, in the same
names the search uses (``fraction``, ``status``, ``metrics``, ``result_path``,
``elapsed_seconds``, ``samples_processed``, ``train_samples``). Trials are added
only after the run ends, so a crash never leaves a stale RUNNING trial behind.

Resuming: a cell counts as done when the study holds a trial with its key and the
same fingerprint that ended COMPLETE, or FAIL with a *recorded* outcome
(``diverged``, ``oom``: they would end the same way again). Cells that failed
for other reasons, and cells run for a different baseline, run again.
:class:`CellLedger` is that rule for one analysis study (ablation, transfer): it
reuses the done cells, runs the missing ones and counts both.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import optuna

from hpscout.config import ExperimentConfig, config_to_dict
from hpscout.runner import TrialResult, TrialStatus, run_trial
from hpscout.search import config_for_params, open_study
from hpscout.store import RunLayout, safe_label

__all__ = [
    "CellLedger",
    "RunCell",
    "RECORDED_STATUSES",
    "default_run_cell",
    "slug",
    "fingerprint",
    "config_for_trial",
    "done_cells",
    "run_and_record",
    "open_analysis_study",
]

#: outcomes that would repeat on a rerun, so a resumed ablation/transfer keeps them
RECORDED_STATUSES = ("complete", "diverged", "oom")

# config sections that do not change what one trial computes
_NOT_FINGERPRINTED = ("seed", "ablation", "transfer", "search", "storage", "output_dir")


class RunCell(Protocol):
    """Runs one config at one fraction into ``out_dir`` and returns its result (never raises for training faults)."""

    def __call__(self, config: ExperimentConfig, out_dir: Path, fraction: float) -> TrialResult: ...


def default_run_cell(config: ExperimentConfig, out_dir: Path, fraction: float) -> TrialResult:
    """Run a cell through :func:`hpscout.runner.run_trial` (the real trainer; it imports torch when it runs)."""
    return run_trial(config, out_dir=out_dir, fraction=fraction)


def slug(value: Any, max_len: int = 48) -> str:
    """A path-safe, readable form of a factor name or level (``store.safe_label`` accepts it).

    Example:
        >>> slug("train.lora.target"), slug(["q_proj", "v_proj"]), slug(0.0001), slug("x0.5")
        ('train.lora.target', 'q_proj-v_proj', '0.0001', 'x0.5')
    """
    if isinstance(value, (list, tuple)):
        text = "-".join(str(v) for v in value)
    elif isinstance(value, float):
        text = repr(value)
    else:
        text = str(value)
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", text)
    text = re.sub(r"\.{2,}", ".", text).strip("-._")
    if len(text) > max_len:
        digest = hashlib.sha1(text.encode()).hexdigest()[:8]
        text = text[: max_len - 9].rstrip("-._") + "-" + digest
    return text or "none"


def fingerprint(config: ExperimentConfig) -> str:
    """A short hash of everything in ``config`` that changes a trial's outcome (the seed excluded)."""
    data = {k: v for k, v in config_to_dict(config).items() if k not in _NOT_FINGERPRINTED}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def config_for_trial(config: ExperimentConfig, trial: Any) -> ExperimentConfig:
    """The config a search trial ran: its params resolved through ``config.search.space`` and applied."""
    return config_for_params(config, dict(trial.params))


def open_analysis_study(config: ExperimentConfig, suffix: str, storage: str | None) -> Any:
    """The study ``<name><suffix>`` in the search's storage (created when absent)."""
    return open_study(config, storage=storage, suffix=suffix)


def done_cells(study: Any) -> dict[tuple[str, str], Any]:
    """Finished cells of ``study``: ``(cell key, fingerprint) -> FrozenTrial`` (the latest wins)."""
    out: dict[tuple[str, str], Any] = {}
    for t in study.get_trials(deepcopy=False):
        key = t.user_attrs.get("cell")
        if key is None:
            continue
        status = t.user_attrs.get("status")
        if t.state == optuna.trial.TrialState.COMPLETE or (
            t.state == optuna.trial.TrialState.FAIL and status in RECORDED_STATUSES
        ):
            out[(key, t.user_attrs.get("fingerprint", ""))] = t
    return out


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def run_and_record(
    study: Any,
    *,
    key: str,
    fp: str,
    config: ExperimentConfig,
    out_dir: Path,
    fraction: float,
    run_cell: RunCell | Callable[..., TrialResult],
    attrs: Mapping[str, Any],
) -> Any:
    """Run one cell, make sure ``out_dir/result.json`` exists, and add the outcome to ``study``.

    Returns:
        The FrozenTrial added to the study (its ``number`` is not set).
    """
    safe_label(out_dir.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = run_cell(config, out_dir, fraction)
    result_path = out_dir / "result.json"
    if not result_path.exists():
        result.save(result_path)
    ok = result.ok
    status = result.status.value if isinstance(result.status, TrialStatus) else str(result.status)
    user_attrs = dict(attrs)
    user_attrs.update(
        {
            "cell": key,
            "fingerprint": fp,
            "seed": config.seed,
            "fraction": fraction,
            "status": status if ok or status != "complete" else "failed",
            "objective": result.objective if ok else None,
            "metrics": dict(result.metrics),
            "result_path": str(result_path),
            "elapsed_seconds": float(result.elapsed_seconds),
            "samples_processed": int(result.samples_processed),
            "train_samples": int(result.train_samples),
            "steps": int(result.steps),
            "trainable_params": result.trainable_params,
            "message": result.message,
        }
    )
    trial = optuna.trial.create_trial(
        state=optuna.trial.TrialState.COMPLETE if ok else optuna.trial.TrialState.FAIL,
        value=float(result.objective) if ok and result.objective is not None else None,
        user_attrs=_finite(user_attrs),
    )
    study.add_trial(trial)
    return trial


class CellLedger:
    """The cells of one analysis study (``<name>-<kind>``): reuse the done ones, run the missing ones, count both.

    Each cell runs into ``<run_dir>/<kind>/<name>`` and is recorded with ``kind`` in its
    user attributes. ``counts`` holds ``cells`` (looked up), ``ran`` and ``reused``.
    """

    def __init__(
        self,
        config: ExperimentConfig,
        kind: str,
        *,
        study: Any = None,
        storage: str | None = None,
        run_cell: RunCell | Callable[..., TrialResult] | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.kind = kind
        self.study = study if study is not None else open_analysis_study(config, f"-{kind}", storage)
        self.run_cell = run_cell or default_run_cell
        self.say: Callable[[str], None] = progress or (lambda _msg: None)
        self.root = RunLayout.of(config).root / kind
        self.done = done_cells(self.study)
        self.counts = {"cells": 0, "ran": 0, "reused": 0}

    def record(
        self, *, key: str, fp: str, name: str, config: ExperimentConfig, fraction: float, attrs: Mapping[str, Any]
    ) -> Any:
        """The trial of cell ``(key, fp)``: the recorded one, else the one :func:`run_and_record` adds now."""
        self.counts["cells"] += 1
        trial = self.done.get((key, fp))
        if trial is not None:
            self.counts["reused"] += 1
            return trial
        self.say(f"{self.kind}: running {name}")
        trial = run_and_record(
            self.study,
            key=key,
            fp=fp,
            config=config,
            out_dir=self.root / name,
            fraction=fraction,
            run_cell=self.run_cell,
            attrs={"kind": self.kind, **attrs},
        )
        self.done[(key, fp)] = trial
        self.counts["ran"] += 1
        return trial
