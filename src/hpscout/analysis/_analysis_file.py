"""The one analysis file, ``<run_dir>/analysis.json``: read it, and update one section at a time.

Each stage writes only its own section; :func:`write_section` re-reads the file
under a lock, replaces that section and writes the whole file atomically (temp
file + ``os.replace``), so sections written by other commands are kept and a
reader never sees half a file. The report reads this file and nothing else.

Shape (version 1). Numbers that cannot be computed are ``null``, never NaN.
Every section is present only once the stage that writes it has run::

    {
      "version": 1,
      "updated": {"<section>": "2025-01-01T00:00:00Z", ...},

      "ladder": [{"fraction": 0.05, "rows": 1000, "steps": 126}],   # the rungs in force (hpscout.search.resolve_scout)

      "preflight": {
        "ladder": {"rungs": [...], "dropped": [{"fraction", "rows", "steps"}], "min_steps": 100,
                   "requested_fraction": 0.05, "fraction": 0.05, "raised": false, "train_rows": 20000,
                   "worst_case": {"batch_size", "grad_accum", "devices", "epochs", "max_steps", "searched",
                                  "effective_batch_size"}, "message": "ladder: ..."},
        "train_rows", "full_run_samples", "trials", "pruner",
        "search_full_runs", "search_full_runs_worst", "transfer_full_runs_worst", "transfer_rungs_worst",
        "ablation_full_runs", "total_full_runs", "total_full_runs_worst",   # in full-data runs
        "exceeds_full_run": false, "budget_ratio": 0.1, "method": "...", "message": "preflight: ...",
        "advice": "..." | null
      },

      "ablation": {
        "metric": "eval_loss", "direction": "minimize",
        "test": "welch",                 # Welch's two-sided t-test, each level vs the baseline
        "correction": "holm",            # Holm step-down across the levels of one factor
        "alpha": 0.05, "confidence": 0.95,
        "seeds": 3, "seed_list": [42, 43, 44],
        "study": "<name>-ablation",
        "rules": {"verdict": "...", "failures": "...", "pattern": "..."},
        "baseline": {"source": "best" | "trial:N" | "<file>" | "given", "trial": 12 | null,
                     "value": 0.41 | null (the search trial's value), "params": {...} (its Optuna params),
                     "train": {...} (the baseline's train section), "fraction": 0.05, "fingerprint": "<hash>",
                     "mean", "ci_low", "ci_high", "sd", "n", "n_failed", "failed_statuses", "values": [...],
                     "seeds": [42, 43, 44]},
        "factors": {
          "<dotted.key>": {
            "verdict": "matters" | "hurts" | "no detectable effect" | "not enough seeds",
            "best_level": "<level>" | null,       # a significantly better level, if any
            "expected_pattern": "<text>" | null, "pattern_matches": true | false | null,
            "pattern_check": "<how it was checked, or why it could not be>",
            "levels": [{"level": "x0.5" (as written), "value": 5e-05 (the config value), "is_baseline": false,
                        "mean", "ci_low", "ci_high", "sd", "delta" (mean - baseline mean),
                        "p_value" (Welch, raw), "p_adjusted" (Holm),
                        "n" (finished seeds), "n_failed", "failed_statuses": {"diverged": 1},
                        "values": [...], "seeds": [...], "mean_seconds", "trainable_params",
                        "effect": "better" | "worse" | "none" | "failed" | "untested" | "baseline",
                        "note": "<why p is null, why failed, ...>" | null}]
          }
        },
        "runs": {"cells": 30, "ran": 12, "reused": 18, "baseline_cells": 3}
      },

      "importance": {
        "study": "<name>",
        "status": "ok" | "not enough trials" | "not enough parameters",
        "n_trials": 17, "fraction": 0.05, "metric": "eval_loss", "params": ["train.learning_rate", ...],
        "ped_anova": {"<param>": 0.7, ...} | {"error": "..."},
        "fanova": {"<param>": 0.6, ...} | {"error": "..."},
        "normalized": true, "note": "<why a status is not ok>" | null
      },

      "transfer": {
        "metric", "direction", "study": "<name>-transfer",
        "small_fraction": 0.05, "large_fraction": 0.2, "k": 5, "seeds": 1, "seed_list": [42],
        "configs": [{"trial": 7, "rank_small": 1, "rank_large": 2, "params": {...},
                     "small_value": 0.41, "large_value": 0.37, "large_values": [0.37],
                     "n_failed": 0}],
        "spearman": 0.9 | null, "kendall": 0.8 | null,
        "top1_agree": true, "topk": 3, "topk_overlap": 0.67,
        "verdict": "held" | "partly held" | "did not hold", "trust": "<plain advice>",
        "noise": {"sd": 0.01 | null, "source": "ablation baseline seeds" | "transfer seeds" | "unknown",
                  "top_spread": 0.004, "too_small_to_separate": true | false | null, "rule": "...",
                  "message": "..."},
        "rules": {"topk_overlap": "...", "verdict": "...", "failures": "...", "noise": "...", "climb": "..."},
        "runs": {"cells": 5, "ran": 5, "reused": 0},
        # the climb (large_fraction above = final_fraction, the highest rung reached)
        "climb": true, "final_fraction": 0.2, "trusted": true,
        "stop_reason": "agreed" | "one-shot" | "full data" | "max_fraction" | "budget" | "failed",
        "needed_fraction": 0.4 | null,          # the fraction an untrusted climb would have needed next
        "budget": 1.0 | null, "max_fraction": 1.0 | null,
        "rungs": [{"fraction": 0.1, "steps": 250, "trials": [7, 3], "values": [0.83, 0.81],
                   "spearman": 1.0 | null, "top1_agree": true, "discordant": [[0, 1]], "agree": true,
                   "epsilon": 0.01 | null, "epsilon_source": "...", "decision": "agreed: stop",
                   "spent_full_runs": 0.3}],
        "pick": {"trial": 7, "params": {...}, "value": 0.83, "fraction": 0.2, "why": "..."}
      },

      "cost": {
        "scouting_seconds": 812.0, "scouting_samples": 120000,
        "by_study": {"search": {"exists", "trials", "seconds", "samples"},
                     "transfer": {...}, "ablation": {...}},
        "samples_per_second": 150.0 | null,
        "full_train_rows": 67349 | null, "full_train_rows_source": "given" | "estimated: ..." | "unknown",
        "full_epochs": 2.0 | null, "full_max_steps": null, "full_samples": 134698 | null,
        "projected_full_seconds": 898.0 | null, "ratio": 0.9 | null,
        "exceeds_budget": true | false | null, "budget_ratio": 0.1,
        "method": "<how the projection was made>", "message": "..."
      },

      "lr_scaling": {
        "status": "ok" | "refused", "message": "<why refused>" (only when refused),
        "per_fraction_best_lr": {"0.01": 3e-4, ...},
        "study": "<name>",
        "rungs": [{"fraction", "n_trials", "best_lr", "best_value", "best_trial", "train_rows", "steps",
                   "usable", "note"}],
        "x_kind": "steps" | "samples", "why": "<leave-one-out errors or the reason for the default>",
        "beta": 0.31, "beta_ci": [0.2, 0.42] | null, "intercept": -4.1,
        "fits": {"steps": {"beta", "intercept", "se", "beta_ci", "n", "loo_rmse"} | {"error"}, "samples": {...}},
        "points": [{"fraction", "x", "lr"}],
        "full": {"train_rows", "x", "steps", "devices", "effective_batch_size"},
        "predicted_full_lr": 1.2e-4, "note": "..."
      }
    }
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hpscout._errors import StorageError
from hpscout._io import atomic_write_json, read_json
from hpscout.store import RunLayout

__all__ = ["ANALYSIS_VERSION", "SECTIONS", "analysis_path", "read_analysis", "write_section"]

ANALYSIS_VERSION = 1
#: the sections analysis.json may hold, in the order the report shows them
SECTIONS = ("ladder", "preflight", "ablation", "importance", "transfer", "cost", "lr_scaling")
#: sections that are lists rather than mappings
_LIST_SECTIONS = ("ladder",)


def analysis_path(target: Any) -> Path:
    """The analysis file of a config (``<run_dir>/analysis.json``), or ``target`` itself when it is a path."""
    if isinstance(target, (str, os.PathLike)):
        return Path(target)
    return RunLayout.of(target).analysis


def read_analysis(target: Any) -> dict[str, Any]:
    """Read analysis.json (a config or a path); an absent file reads as ``{"version": 1}``.

    Example:
        >>> read_analysis("/nonexistent/analysis.json")
        {'version': 1}
    """
    path = analysis_path(target)
    if not path.exists():
        return {"version": ANALYSIS_VERSION}
    data = read_json(path)
    if not isinstance(data, dict):
        raise StorageError(f"{path} must hold a JSON object, but holds a {type(data).__name__}")
    version = data.get("version", ANALYSIS_VERSION)
    if version != ANALYSIS_VERSION:
        raise StorageError(f"{path} has analysis version {version}; this hpscout reads version {ANALYSIS_VERSION}")
    return data


def write_section(target: Any, name: str, section: dict[str, Any] | list[Any]) -> Path:
    """Replace one section of analysis.json, keeping the others; the write is atomic.

    Args:
        target: an ExperimentConfig (its run folder) or the path of analysis.json.
        name: one of :data:`SECTIONS`.
        section: JSON-serialisable data (NaN/inf become null).

    Returns:
        The path written.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "analysis.json"
        >>> _ = write_section(p, "cost", {"ratio": 0.05})
        >>> _ = write_section(p, "importance", {"status": "not enough trials"})
        >>> sorted(k for k in read_analysis(p) if k in SECTIONS)
        ['cost', 'importance']
    """
    if name not in SECTIONS:
        raise StorageError(f"analysis section must be one of {', '.join(SECTIONS)}, but got {name!r}")
    if not isinstance(section, list if name in _LIST_SECTIONS else dict):
        kind = "list" if name in _LIST_SECTIONS else "mapping"
        raise StorageError(f"analysis section {name!r} must be a {kind}, but got {type(section).__name__}")
    path = analysis_path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        data = read_analysis(path)
        data["version"] = ANALYSIS_VERSION
        data[name] = section
        previous = data.get("updated")
        updated: dict[str, Any] = dict(previous) if isinstance(previous, dict) else {}
        updated[name] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        data["updated"] = updated
        atomic_write_json(path, data)
    return path


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on a sidecar file, so two commands updating sections do not lose one."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock; the atomic replace still prevents torn files
        yield
        return
    lock_path = path.with_name(f".{path.name}.lock")
    try:
        fh = open(lock_path, "a+")  # noqa: SIM115 - closed in finally
    except OSError as exc:
        raise StorageError(f"could not open the lock file {lock_path}: {exc.strerror or exc}") from exc
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        fh.close()
