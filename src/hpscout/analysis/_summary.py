"""Refresh the sections of analysis.json that read only the studies (importance, LR scaling, cost)."""

from __future__ import annotations

from typing import Any

from hpscout._errors import SearchError
from hpscout.analysis._cost import compute_cost
from hpscout.analysis._importance import compute_importance
from hpscout.analysis._lr_scaling import compute_lr_scaling
from hpscout.config import ExperimentConfig
from hpscout.search import load_study

__all__ = ["analyze_search"]


def analyze_search(
    config: ExperimentConfig, *, storage: str | None = None, full_train_rows: int | None = None
) -> dict[str, Any]:
    """Compute and write ``importance``, ``lr_scaling`` and ``cost`` from the stored studies.

    An LR-scaling refusal (fewer than 2 usable rungs) is recorded in its section and
    returned as ``{"status": "refused", "message": ...}``, not raised: the other
    sections are still worth having.

    Example:
        >>> sections = analyze_search(cfg)  # doctest: +SKIP
        >>> sections["cost"]["ratio"]  # doctest: +SKIP
        0.04
    """
    study = load_study(config, storage=storage)
    out: dict[str, Any] = {"importance": compute_importance(config, study=study)}
    try:
        out["lr_scaling"] = compute_lr_scaling(config, study=study, full_train_rows=full_train_rows)
    except SearchError as exc:
        out["lr_scaling"] = {"status": "refused", "message": str(exc)}
    out["cost"] = compute_cost(config, storage=storage, full_train_rows=full_train_rows)
    return out
