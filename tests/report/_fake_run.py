"""A fake run folder for report and export tests, built without any training.

It holds what a real ``hpscout run`` stores: ``config.yaml``, an Optuna study (in
the SQLite file given as ``storage``) whose trials carry the search's user attrs
and intermediate values, one ``trials/tNNNN/result.json`` per trial,
``top/top1.yaml`` and ``analysis.json``.

Usage::

    from _fake_run import make_fake_run
    run = make_fake_run(tmp_path)
    report_data(run.run_dir, storage=run.storage)
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from hpscout._io import atomic_write_json
from hpscout.config import apply_updates, config_from_dict, save_config
from hpscout.config._schema import ExperimentConfig
from hpscout.runner import TrialResult, TrialStatus

__all__ = ["FakeRun", "make_fake_run", "base_config"]

FIDELITIES = (0.01, 0.02, 0.05)
TRAIN_ROWS = 20_000  # full training rows the fractions refer to


@dataclass(frozen=True)
class FakeRun:
    run_dir: Path
    storage: str | None
    config: ExperimentConfig
    study_name: str
    best_trial: int
    best_value: float


def base_config(run_dir: Path, *, task: str = "sequence-classification", **top: Any) -> ExperimentConfig:
    """A valid config for ``task`` whose outputs go to ``run_dir``."""
    data: dict[str, Any] = {
        "name": "fake-run",
        "seed": 42,
        "task": task,
        "output_dir": str(run_dir),
        "data": {"train": "data/train.tsv", "text_column": "sentence", "label_column": "label", "max_length": 64},
        "scout": {"fraction": FIDELITIES[-1], "fidelities": list(FIDELITIES)},
        "train": {
            "learning_rate": 2e-3,
            "batch_size": 16,
            "epochs": 2,
            "lr_scheduler": "linear",
            "warmup_ratio": 0.06,
            "method": "lora",
            "lora": {"r": 8, "alpha": 16, "dropout": 0.05, "target": "qv"},
        },
        "search": {
            "metric": "eval_accuracy",
            "direction": "maximize",
            "trials": 12,
            "top_k": 3,
            "space": {
                "train.learning_rate": {"type": "float", "low": 3e-4, "high": 1e-2, "log": True},
                "train.lora.r": {"type": "categorical", "choices": [4, 8, 16]},
                "train.warmup_ratio": {"type": "categorical", "choices": [0.0, 0.06, 0.1]},
            },
        },
        "ablation": {"seeds": 3, "factors": {"train.lora.r": [4, 16], "train.learning_rate": ["x0.5", "x2"]}},
    }
    if task == "causal-lm":
        data["model"] = {"name_or_path": "Qwen/Qwen2.5-0.5B"}
        data["data"] = {"train": "data/alpaca.json", "max_length": 512}
        data["train"]["lora"]["target"] = "all-linear"
        data["search"]["metric"] = "eval_loss"
        data["search"]["direction"] = "minimize"
    for key, value in top.items():
        data[key] = value
    return config_from_dict(data)


# (lr, r, warmup, final status) per trial; values come from a smooth bump around lr=2e-3
_TRIALS: list[tuple[float, int, float, str]] = [
    (1.0e-3, 8, 0.06, "complete"),
    (5.0e-3, 4, 0.0, "complete"),
    (2.2e-3, 16, 0.1, "complete"),
    (4.0e-4, 8, 0.0, "pruned"),
    (9.0e-3, 16, 0.06, "diverged"),
    (1.6e-3, 8, 0.1, "complete"),
    (3.0e-3, 16, 0.06, "complete"),
    (6.0e-4, 4, 0.1, "pruned"),
    (2.5e-3, 4, 0.06, "complete"),
    (7.0e-3, 8, 0.0, "oom"),
    (1.3e-3, 16, 0.0, "complete"),
    (2.0e-3, 8, 0.06, "complete"),
]


def _score(lr: float, r: int, warmup: float, fraction: float, maximize: bool) -> float:
    """A made-up metric: best near lr=2e-3, slightly better with r and warmup and more data."""
    bump = math.exp(-((math.log10(lr) - math.log10(2e-3)) ** 2) / 0.18)
    acc = 0.55 + 0.3 * bump + 0.004 * math.log2(r) + 0.05 * warmup + 0.4 * fraction
    return round(acc, 4) if maximize else round(1.6 - acc, 4)


def _history(steps: int, lr: float, warmup: float, final: float, metric: str, epochs: int = 2) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    floor = round(0.9 - final * 0.7, 3) if final < 1 else 0.3
    warm = math.ceil(warmup * steps)
    for s in range(5, steps + 1, 5):
        cur_lr = lr * s / warm if s < warm else lr * (steps - s) / max(steps - warm, 1)
        out.append({"step": s, "epoch": round(s / steps * epochs, 3), "loss": round(floor + 0.4 * math.exp(-s / 40), 4),
                    "learning_rate": cur_lr})
    per_epoch = steps // epochs
    for e in range(1, epochs + 1):
        out.append({"step": per_epoch * e, "epoch": float(e), metric: round(final - 0.04 * (epochs - e), 4),
                    "eval_loss": round(0.45 - 0.03 * e, 4)})
    out.sort(key=lambda d: (d["step"], "loss" not in d))
    return out


def make_fake_run(
    root: Path,
    *,
    task: str = "sequence-classification",
    with_analysis: bool = True,
    with_top: bool = True,
    with_final: bool = False,
    with_results: bool = True,
    n_trials: int | None = None,
    default_storage: bool = False,
    name: str = "fake-run",
    dirname: str = "run",
    **train: Any,
) -> FakeRun:
    """Write a complete fake run under ``root/run`` and return where everything is.

    ``storage`` is an explicit SQLite URL, or with ``default_storage`` the search stage's
    default journal file ``<run>/study.log`` (then ``FakeRun.storage`` is None).
    ``train`` overrides ``train.*`` keys of the config (``precision="fp32"``, ...).
    """
    run_dir = Path(root) / dirname
    run_dir.mkdir(parents=True, exist_ok=True)
    config = base_config(run_dir, task=task, name=name)
    if train:
        config = apply_updates(config, {f"train.{k}": v for k, v in train.items()})
    save_config(config, run_dir / "config.yaml")
    storage: Any = f"sqlite:///{run_dir / 'study.db'}"
    if default_storage:
        from hpscout.search import resolve_storage

        storage = resolve_storage(config)
    maximize = config.search.direction == "maximize"
    metric = config.search.metric
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=config.name, storage=storage, direction=config.search.direction,
                                load_if_exists=True)
    dists = {
        "train.learning_rate": optuna.distributions.FloatDistribution(3e-4, 1e-2, log=True),
        "train.lora.r": optuna.distributions.CategoricalDistribution([4, 8, 16]),
        "train.warmup_ratio": optuna.distributions.CategoricalDistribution([0.0, 0.06, 0.1]),
    }
    best: tuple[int, float] | None = None
    trials = _TRIALS if n_trials is None else _TRIALS[:n_trials]
    for number, (lr, r, warmup, status) in enumerate(trials):
        params = {"train.learning_rate": lr, "train.lora.r": r, "train.warmup_ratio": warmup}
        rungs = {"complete": FIDELITIES, "pruned": FIDELITIES[:1], "diverged": FIDELITIES[:2], "oom": FIDELITIES[:1]}[status]
        inter = {round(f * 10_000): _score(lr, r, warmup, f, maximize) for f in rungs}
        if status in ("diverged", "oom"):
            inter = dict(list(inter.items())[:-1])
        fraction = rungs[-1]
        value = _score(lr, r, warmup, fraction, maximize) if status == "complete" else None
        rows = round(TRAIN_ROWS * fraction)
        steps = math.ceil(rows / 16) * 2
        label = f"t{number:04d}"
        elapsed = round(20 + 400 * fraction + r, 1)
        message = {
            "diverged": "loss 41.2 exceeded 10x its first value 2.31 at step 37",
            "oom": "CUDA out of memory at batch size 16 (tried to allocate 2.00 GiB)",
        }.get(status)
        trainable = 36_864 * r + 1_538
        metrics = {metric: value} if value is not None else {}
        attrs = {
            "fraction": fraction,
            "status": status,
            "metrics": metrics,
            "result_path": f"trials/{label}/result.json",
            "trainable_params": trainable,
            "elapsed_seconds": elapsed,
        }
        if message:
            attrs["message"] = message
        state = {
            "complete": optuna.trial.TrialState.COMPLETE,
            "pruned": optuna.trial.TrialState.PRUNED,
        }.get(status, optuna.trial.TrialState.FAIL)
        trial = optuna.trial.create_trial(
            state=state,
            value=value,
            params=params,
            distributions=dists,
            user_attrs=attrs,
            intermediate_values=inter,
        )
        study.add_trial(trial)
        if with_results:
            cfg = apply_updates(config, params)
            result = TrialResult(
                status=TrialStatus(status),
                metrics=metrics,
                objective=value,
                steps=steps,
                elapsed_seconds=elapsed,
                trainable_params=trainable,
                total_params=22_713_216 + trainable,
                seed=config.seed,
                fraction=fraction,
                train_samples=rows,
                samples_processed=rows * 2,
                message=message,
                diverged_step=37 if status == "diverged" else None,
                history=_history(steps, lr, warmup, value if value is not None else 0.5, metric)
                if status != "oom" else [],
                config=cfg.model_dump(mode="json"),
                versions={"python": sys.version.split()[0], "optuna": optuna.__version__},
            )
            result.save(run_dir / "trials" / label / "result.json")
        if value is not None and (best is None or (value > best[1] if maximize else value < best[1])):
            best = (number, value)
    if best is None:
        best = (-1, float("nan"))
    if with_top and best[0] >= 0:
        lr, r, warmup, _ = trials[best[0]]
        top = apply_updates(config, {"train.learning_rate": lr, "train.lora.r": r, "train.warmup_ratio": warmup})
        save_config(top, run_dir / "top" / "top1.yaml", header=f"best trial {best[0]} of study {config.name}")
    if with_final and best[0] >= 0:
        lr, r, warmup, _ = trials[best[0]]
        final = apply_updates(config, {"train.learning_rate": lr, "train.lora.r": 16, "train.warmup_ratio": warmup})
        save_config(final, run_dir / "final" / "config.yaml", header="final config after ablation")
    if with_analysis:
        atomic_write_json(run_dir / "analysis.json", fake_analysis(config))
    return FakeRun(run_dir, None if default_storage else storage, config, config.name, best[0], best[1])


def fake_analysis(config: ExperimentConfig) -> dict[str, Any]:
    """An analysis.json in the documented shape (hpscout/analysis/_analysis_file.py)."""
    metric, direction = config.search.metric, config.search.direction
    return {
        "version": 1,
        "updated": {"ablation": "2025-01-01T00:00:00Z"},
        "ablation": {
            "metric": metric,
            "direction": direction,
            "test": "welch",
            "correction": "holm",
            "alpha": 0.05,
            "confidence": 0.95,
            "seeds": 3,
            "seed_list": [42, 43, 44],
            "baseline": {"source": "best", "trial": 11, "params": {}, "fraction": 0.05, "mean": 0.871,
                         "ci_low": 0.862, "ci_high": 0.880, "n": 3, "n_failed": 0, "values": [0.87, 0.865, 0.878]},
            "factors": {
                "train.lora.r": {
                    "verdict": "no detectable effect",
                    "best_level": None,
                    "expected_pattern": "higher r helps little with LoRA on small data",
                    "pattern_matches": True,
                    "pattern_check": "all deltas within noise",
                    "levels": [
                        {"level": "4", "value": 4, "is_baseline": False, "mean": 0.866, "ci_low": 0.852, "ci_high": 0.880,
                         "delta": -0.005, "p_value": 0.41, "p_adjusted": 0.82, "n": 3, "n_failed": 0, "effect": "none",
                         "note": None},
                        {"level": "8", "value": 8, "is_baseline": True, "mean": 0.871, "ci_low": 0.862, "ci_high": 0.880,
                         "delta": 0.0, "p_value": None, "p_adjusted": None, "n": 3, "n_failed": 0, "effect": "baseline",
                         "note": None},
                        {"level": "16", "value": 16, "is_baseline": False, "mean": 0.874, "ci_low": 0.861, "ci_high": 0.887,
                         "delta": 0.003, "p_value": 0.55, "p_adjusted": 0.82, "n": 3, "n_failed": 0, "effect": "none",
                         "note": None},
                    ],
                },
                "train.learning_rate": {
                    "verdict": "matters",
                    "best_level": None,
                    "expected_pattern": "an inverted U around the chosen LR",
                    "pattern_matches": True,
                    "pattern_check": "both neighbours worse",
                    "levels": [
                        {"level": "x0.5", "value": 1e-3, "is_baseline": False, "mean": 0.842, "ci_low": 0.83, "ci_high": 0.854,
                         "delta": -0.029, "p_value": 0.004, "p_adjusted": 0.008, "n": 3, "n_failed": 0, "effect": "worse",
                         "note": None},
                        {"level": "x1", "value": 2e-3, "is_baseline": True, "mean": 0.871, "ci_low": 0.862,
                         "ci_high": 0.880, "delta": 0.0, "p_value": None, "p_adjusted": None, "n": 3, "n_failed": 0,
                         "effect": "baseline", "note": None},
                        {"level": "x2", "value": 4e-3, "is_baseline": False, "mean": 0.61, "ci_low": None, "ci_high": None,
                         "delta": -0.261, "p_value": None, "p_adjusted": None, "n": 1, "n_failed": 2,
                         "failed_statuses": {"diverged": 2}, "effect": "failed", "note": "2 of 3 seeds diverged"},
                    ],
                },
            },
            "runs": {"cells": 15, "ran": 12, "reused": 3},
        },
        "importance": {
            "status": "ok",
            "n_trials": 7,
            "fraction": 0.05,
            "metric": metric,
            "params": ["train.learning_rate", "train.lora.r", "train.warmup_ratio"],
            "ped_anova": {"train.learning_rate": 0.71, "train.lora.r": 0.12, "train.warmup_ratio": 0.17},
            "fanova": {"train.learning_rate": 0.64, "train.lora.r": 0.2, "train.warmup_ratio": 0.16},
            "normalized": True,
            "note": None,
        },
        "transfer": {
            "metric": metric,
            "direction": direction,
            "study": f"{config.name}-transfer",
            "small_fraction": 0.05,
            "large_fraction": 0.2,
            "seeds": 1,
            "configs": [
                {"trial": 11, "rank_small": 1, "rank_large": 2, "params": {}, "small_value": 0.88, "large_value": 0.89,
                 "large_values": [0.89], "n_failed": 0, "values_by_rung": {"0.1": 0.884, "0.2": 0.89}},
                {"trial": 2, "rank_small": 2, "rank_large": 3, "params": {}, "small_value": 0.875, "large_value": 0.887,
                 "large_values": [0.887], "n_failed": 0, "values_by_rung": {"0.1": 0.886, "0.2": 0.887}},
                {"trial": 6, "rank_small": 3, "rank_large": 1, "params": {}, "small_value": 0.869, "large_value": 0.893,
                 "large_values": [0.893], "n_failed": 0, "values_by_rung": {"0.1": 0.89, "0.2": 0.893}},
            ],
            "spearman": 0.5,
            "kendall": 0.33,
            "top1_agree": True,
            "topk": 3,
            "topk_overlap": 1.0,
            "verdict": "held",
            "trust": "The best small-scale config stayed best at 4x the data: use it.",
            "noise": {"sd": 0.006, "source": "ablation baseline seeds", "top_spread": 0.011,
                      "too_small_to_separate": False, "rule": "spread > 2 sd", "message": "differences exceed seed noise"},
            "runs": {"cells": 3, "ran": 3, "reused": 0},
            # the climb: 0.1 disagreed with the search, 0.2 agreed with 0.1; trial 6 is best at 0.2
            "climb": True,
            "final_fraction": 0.2,
            "trusted": True,
            "stop_reason": "agreed",
            "needed_fraction": None,
            "rungs": [
                {"fraction": 0.1, "steps": 250, "trials": [11, 2, 6], "values": [0.884, 0.886, 0.89], "spearman": -0.5,
                 "top1_agree": False, "discordant": [[0, 2]], "agree": False, "epsilon": 0.004,
                 "epsilon_source": "|difference| of trial 6 with seeds 42 and 43", "decision": "disagreed: climb to 0.2",
                 "spent_full_runs": 0.4},
                {"fraction": 0.2, "steps": 500, "trials": [11, 2, 6], "values": [0.89, 0.887, 0.893], "spearman": 0.5,
                 "top1_agree": True, "discordant": [], "agree": True, "epsilon": 0.005,
                 "epsilon_source": "|difference| of trial 6 with seeds 42 and 43", "decision": "agreed: stop",
                 "spent_full_runs": 1.2},
            ],
            "pick": {"trial": 6, "params": {}, "value": 0.893, "fraction": 0.2,
                     "why": "trial 6: best eval_accuracy 0.893 at fraction 0.2, the highest rung the transfer check "
                            "reached (the two largest rungs agreed)"},
        },
        "ladder": [{"fraction": 0.05, "rows": 1000, "steps": 126}],
        "preflight": {
            "ladder": {"rungs": [{"fraction": 0.05, "rows": 1000, "steps": 126}],
                       "dropped": [{"fraction": 0.01, "rows": 200, "steps": 26}, {"fraction": 0.02, "rows": 400, "steps": 50}],
                       "min_steps": 100, "requested_fraction": 0.05, "fraction": 0.05, "raised": False, "train_rows": 20000,
                       "message": "ladder: 0.05 (1000 rows, 126 steps); floor 100 optimizer steps; dropped 0.01, 0.02"},
            "total_full_runs": 0.9, "exceeds_full_run": False,
            "message": "preflight: scouting is projected to process 0.90x the samples of one full run",
            "advice": "20000 training rows is too little data for scouting to cost under 10%",
        },
        "cost": {
            "scouting_seconds": 812.0,
            "scouting_samples": 120_000,
            "samples_per_second": 150.0,
            "full_train_rows": 20_000,
            "full_epochs": 2.0,
            "full_samples": 40_000,
            "projected_full_seconds": 266.7,
            "ratio": 3.04,
            "exceeds_budget": True,
            "budget_ratio": 0.1,
            "method": "samples/second of the scouting trials times the full run's samples",
            "message": "scouting cost 3.0x a projected full run",
        },
        "lr_scaling": {
            "status": "ok",
            "per_fraction_best_lr": {"0.01": 3.1e-3, "0.02": 2.6e-3, "0.05": 2.0e-3},
            "rungs": [
                {"fraction": 0.01, "n_trials": 10, "best_lr": 3.1e-3, "best_value": 0.79, "train_rows": 200, "steps": 26,
                 "usable": True, "note": None},
                {"fraction": 0.02, "n_trials": 9, "best_lr": 2.6e-3, "best_value": 0.83, "train_rows": 400, "steps": 50,
                 "usable": True, "note": None},
                {"fraction": 0.05, "n_trials": 7, "best_lr": 2.0e-3, "best_value": 0.88, "train_rows": 1000, "steps": 126,
                 "usable": True, "note": None},
            ],
            "x_kind": "steps",
            "why": "steps fit better (leave-one-out RMSE 0.04 vs 0.07)",
            "beta": 0.277,
            "beta_ci": [0.15, 0.4],
            "intercept": -4.87,
            "fits": {"steps": {"beta": 0.277, "intercept": -4.87, "loo_rmse": 0.04}},
            "points": [
                {"fraction": 0.01, "x": 26, "lr": 3.1e-3},
                {"fraction": 0.02, "x": 50, "lr": 2.6e-3},
                {"fraction": 0.05, "x": 126, "lr": 2.0e-3},
            ],
            "full": {"train_rows": 20_000, "x": 2500, "steps": 2500, "devices": 1, "effective_batch_size": 16},
            "predicted_full_lr": 8.8e-4,
            "note": "extrapolated 20x beyond the largest rung",
        },
    }
