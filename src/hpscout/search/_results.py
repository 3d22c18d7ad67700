"""What a study holds, read back: the summary of a search, the trials table, the top-k trials and their configs."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hpscout.config import ExperimentConfig, apply_updates, save_config
from hpscout.search._outcomes import counts_toward_budget, is_failed_verdict, trial_row
from hpscout.search._space import params_to_updates
from hpscout.search._storage import mask_url, storage_url
from hpscout.search._study import load_study
from hpscout.store import RunLayout

__all__ = ["SearchSummary", "summarize", "trials_table", "top_trials", "write_top_configs"]


@dataclass
class SearchSummary:
    """What a search left in its study (all trials, not only this run's)."""

    study_name: str
    storage: str
    budget: int | None
    n_complete: int
    n_pruned: int
    n_failed: int
    n_running: int
    n_new: int
    best_value: float | None
    best_params: dict[str, Any]
    best_trial: int | None
    top_paths: list[Path] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def n_finished(self) -> int:
        return self.n_complete + self.n_pruned + self.n_failed

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["top_paths"] = [str(p) for p in self.top_paths]
        d["n_finished"] = self.n_finished
        return d


def summarize(
    config: ExperimentConfig,
    study: optuna.Study,
    *,
    storage: str | None = None,
    before: set[int] | None = None,
    budget: int | None = None,
) -> SearchSummary:
    """Counts and the best trial of a study."""
    trials = study.get_trials(deepcopy=False)
    best = top_trials(study, 1, config.search.direction)
    return SearchSummary(
        study_name=study.study_name,
        storage=mask_url(storage_url(config, storage)),
        budget=budget,
        n_complete=sum(1 for t in trials if t.state == TrialState.COMPLETE),
        n_pruned=sum(1 for t in trials if t.state == TrialState.PRUNED),
        n_failed=sum(1 for t in trials if is_failed_verdict(t)),
        n_running=sum(1 for t in trials if t.state == TrialState.RUNNING),
        n_new=sum(1 for t in trials if before is not None and t.number not in before and counts_toward_budget(t)),
        best_value=best[0].value if best else None,
        best_params=dict(best[0].params) if best else {},
        best_trial=best[0].number if best else None,
    )


def trials_table(config: ExperimentConfig, storage: str | None = None, *, suffix: str = "") -> list[dict[str, Any]]:
    """Every trial of the study as a dict: number, state (COMPLETE|PRUNED|FAIL|RUNNING|WAITING),
    value, params, fraction (highest rung reached), status, result_path, duration_seconds.

    Example:
        >>> rows = trials_table(config)  # doctest: +SKIP
        >>> [r["number"] for r in rows if r["state"] == "COMPLETE"]  # doctest: +SKIP
    """
    study = load_study(config, storage=storage, suffix=suffix)
    return [trial_row(t) for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)]


def top_trials(study: optuna.Study, k: int, direction: str | StudyDirection | None = None) -> list[FrozenTrial]:
    """The ``k`` best COMPLETE trials with finite values; failed or diverged trials are never ranked.

    Ties go to the earlier trial.
    """
    if direction is None:
        direction = study.direction
    maximize = (direction == StudyDirection.MAXIMIZE) if isinstance(direction, StudyDirection) else str(direction).lower() == "maximize"
    done = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.value is not None and math.isfinite(t.value)
    ]
    done.sort(key=lambda t: ((-t.value if maximize else t.value), t.number))  # type: ignore[operator]
    return done[: max(0, int(k))]


def write_top_configs(config: ExperimentConfig, study: optuna.Study, k: int | None = None) -> list[Path]:
    """Write the ``k`` best trials (default ``search.top_k``) as ``<run_dir>/top/top1.yaml ...``.

    Each file is the base config with the trial's parameters applied and a header naming
    the study, trial number, value and fraction; ``hpscout train`` accepts it.
    """
    k = config.search.top_k if k is None else k
    layout = RunLayout.of(config)
    best = top_trials(study, k, config.search.direction)
    paths: list[Path] = []
    for i, t in enumerate(best, start=1):
        updates = params_to_updates(t.params, config.search.space, config)
        cfg = _absolute_data_paths(apply_updates(config, updates, source=f"trial {t.number} parameters"))
        frac = t.user_attrs.get("fraction")
        path = layout.top_dir / f"top{i}.yaml"
        header = "\n".join(
            [
                f"hpscout top-{i} of study '{study.study_name}'",
                f"trial {t.number}: {config.search.metric} = {t.value:.6g}" + (f" at fraction {frac:g}" if frac else ""),
                "parameters: " + ", ".join(f"{k_}={v!r}" for k_, v in updates.items()),
                f"train it: hpscout train {path}",
            ]
        )
        paths.append(save_config(cfg, path, header=header))
    if layout.top_dir.exists():
        for old in layout.top_dir.glob("top*.yaml"):
            stem = old.stem[3:]
            if stem.isdigit() and int(stem) > len(best):
                old.unlink()
    return paths


def _absolute_data_paths(cfg: ExperimentConfig) -> ExperimentConfig:
    updates = {}
    for key in ("train", "eval"):
        value = getattr(cfg.data, key)
        if isinstance(value, str) and value and "://" not in value and not Path(value).is_absolute() and Path(value).exists():
            updates[f"data.{key}"] = str(Path(value).resolve())
    return apply_updates(cfg, updates, source="top config") if updates else cfg
