"""The llamafactory runner: each trial is ``llamafactory-cli train`` on the trial's own subset.

Per trial (and rung) the runner

1. draws the nested subset and the eval rows (:func:`hpscout.data.prepare_data`, as for
   every task) and writes them in the dataset's own format (alpaca or sharegpt) to
   ``<trial>/data/``, with a ``dataset_info.json`` whose entries copy the user's;
2. writes ``<trial>/llamafactory.yaml``: the user's keys (``llamafactory.args``), the
   config's values for the mapped keys (:func:`hpscout.llamafactory.llamafactory_from_config`)
   and the trial's own data, output folder and no checkpoints (:data:`~hpscout.llamafactory.TRIAL_KEYS`);
3. runs ``<llamafactory.python> -m llamafactory.cli train <that file>`` with
   :func:`~hpscout.runner._command.watch_command`, which follows ``output/trainer_log.jsonl``
   so every logged ``eval_loss`` reaches the pruner (``search.fidelity: eval``);
4. reads ``output/all_results.json`` (train and eval metrics) at the end.

LLaMA-Factory runs in its own interpreter because it pins its own transformers and peft.
Outcomes: NaN/inf loss or metric is DIVERGED; "out of memory" in the log is OOM; any other
non-zero exit is FAILED with the tail of the log.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from hpscout._errors import RunnerError
from hpscout._io import atomic_write_text
from hpscout.data import prepare_data
from hpscout.export import llamafactory_keys
from hpscout.llamafactory import (
    TRIAL_EVAL,
    TRIAL_KEYS,
    TRIAL_TRAIN,
    check_keys,
    llamafactory_from_config,
    write_trial_datasets,
)
from hpscout.runner._base import Reporter, Runner, TrialResult, TrialStatus, start_trial
from hpscout.runner._callbacks import write_history_csv
from hpscout.runner._command import WatchedCommand, _tail, watch_command

__all__ = ["INSTALL_HINT", "LlamaFactoryRunner", "check_llamafactory", "llamafactory_version", "trial_args"]

#: how to get LLaMA-Factory into its own venv (docs/llamafactory.md explains each pin)
INSTALL_HINT = (
    "install it into its own venv with `make setup-llamafactory` (the pip commands are in docs/llamafactory.md), "
    "or set llamafactory.python to an interpreter that has llamafactory 0.9.5"
)
_OOM = re.compile(r"out of memory|OutOfMemoryError", re.IGNORECASE)
_PARAMS = re.compile(r"trainable params:\s*([\d,]+)\s*\|\|\s*all params:\s*([\d,]+)")
_VERSION_PROBE = "import importlib.metadata as m; print(m.version('llamafactory'))"


@functools.lru_cache(maxsize=8)
def llamafactory_version(python: str) -> str:
    """The llamafactory version installed in ``python``; RunnerError saying how to install it when absent."""
    exe = shutil.which(python)
    if exe is None:
        raise RunnerError(f"llamafactory.python {python!r} is not an interpreter on this machine; {INSTALL_HINT}")
    try:
        proc = subprocess.run([exe, "-c", _VERSION_PROBE], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RunnerError(f"cannot run llamafactory.python {python!r}: {exc}") from None
    if proc.returncode != 0:
        raise RunnerError(f"LLaMA-Factory is not installed in {python} (llamafactory.python); {INSTALL_HINT}")
    return proc.stdout.strip()


def check_llamafactory(config: Any) -> str:
    """Check what a llamafactory trial needs before it starts; returns the installed LLaMA-Factory version.

    Raises:
        ConfigError: a key of ``llamafactory.args`` that LLaMA-Factory would reject, or a refused value.
        RunnerError: ``scout.step_matched`` (not supported here), or no LLaMA-Factory in ``llamafactory.python``.
    """
    check_keys(config.llamafactory.args, llamafactory_keys(), source=f"llamafactory.args of config {config.name!r}")
    if config.scout.step_matched:
        raise RunnerError(
            "scout.step_matched is not supported for task llamafactory: LLaMA-Factory runs its own epochs; "
            "set train.max_steps to fix the run length instead"
        )
    return llamafactory_version(config.llamafactory.python)


def trial_args(config: Any, *, dataset_dir: Path, output_dir: Path) -> dict[str, Any]:
    """The LLaMA-Factory keys of one trial: the user's, the config's mapped values, the trial's data and output.

    Example:
        >>> trial_args(cfg, dataset_dir=Path("t/data"), output_dir=Path("t/output"))["dataset"]  # doctest: +SKIP
        'hpscout_train'
    """
    args = {k: v for k, v in config.llamafactory.args.items() if k not in TRIAL_KEYS}
    args.update({k: v for k, v in llamafactory_from_config(config).items() if k not in TRIAL_KEYS})
    args.update(
        dataset=TRIAL_TRAIN,
        eval_dataset=TRIAL_EVAL,
        dataset_dir=str(dataset_dir),
        output_dir=str(output_dir),
        overwrite_output_dir=True,
        do_train=True,
        do_eval=True,
        save_strategy="no",  # a sweep fills disks; the adapter of the final run is what matters
        report_to="none",
        plot_loss=False,
    )
    return args


def _dataset_entries(config: Any) -> dict[str, Any]:
    """The user's dataset_info.json entries for the trial's train and eval subsets."""
    lf = config.llamafactory
    train_name = str(lf.args.get("dataset", "")).strip()
    eval_name = str(lf.args.get("eval_dataset") or train_name).strip()
    train = lf.dataset_info.get(train_name)
    if train is None:
        raise RunnerError(
            f"llamafactory.dataset_info has no entry for dataset {train_name!r}; remake the config with hpscout init --from-llamafactory"
        )
    return {"train": train, "eval": lf.dataset_info.get(eval_name, train)}


class LlamaFactoryRunner(Runner):
    """Runs ``llamafactory-cli train`` per trial; see the module docstring."""

    tasks = ("llamafactory",)

    def run(
        self, config: Any, *, out_dir: Path, fraction: float | None = None, reporter: Reporter | None = None
    ) -> TrialResult:
        # absolute: LLaMA-Factory runs in its own interpreter and working directory
        out_dir, fraction, reporter = start_trial(config, out_dir, fraction, reporter, absolute=True)
        version = check_llamafactory(config)

        prepared = prepare_data(config, fraction)
        data_dir = write_trial_datasets(prepared.train, prepared.eval, _dataset_entries(config), out_dir / "data")
        output_dir = out_dir / "output"
        output_dir.mkdir(exist_ok=True)
        metrics_path = output_dir / "trainer_log.jsonl"
        for stale in (metrics_path, output_dir / "all_results.json"):  # a rerun in the same folder starts fresh
            stale.unlink(missing_ok=True)
        trial_yaml = out_dir / "llamafactory.yaml"
        args = trial_args(config, dataset_dir=data_dir, output_dir=output_dir)
        atomic_write_text(trial_yaml, yaml.safe_dump(args, sort_keys=False, allow_unicode=True))

        argv = [config.llamafactory.python, "-m", "llamafactory.cli", "train", str(trial_yaml)]
        watched = watch_command(
            argv,
            env=dict(os.environ),
            out_dir=out_dir,
            metrics_path=metrics_path,
            metric=config.search.metric,
            reporter=reporter,
            timeout=config.llamafactory.timeout,
            step_key="current_steps",
        )
        return _result(config, watched, output_dir, fraction, prepared.train.num_rows, version)


def _result(config: Any, watched: WatchedCommand, output_dir: Path, fraction: float, rows: int, version: str) -> TrialResult:
    """The trial's result from the watched run and the files LLaMA-Factory wrote."""
    metric = config.search.metric
    status, message = watched.status, watched.message
    results = _read_json(output_dir / "all_results.json")
    metrics = {k: float(v) for k, v in results.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    objective = None
    if status is TrialStatus.COMPLETE and watched.returncode != 0:
        log = _tail(watched.stderr_path)
        status = TrialStatus.OOM if _OOM.search(log) else TrialStatus.FAILED
        message = f"llamafactory-cli train exited with code {watched.returncode}; log tail:\n{log}"
    elif status is TrialStatus.COMPLETE:
        if metric not in metrics:
            status = TrialStatus.FAILED
            message = (
                f"LLaMA-Factory wrote no {metric!r} (search.metric) to {output_dir / 'all_results.json'}; "
                f"it has: {', '.join(sorted(metrics)) or 'nothing'}"
            )
        elif not math.isfinite(metrics[metric]):
            status, message = TrialStatus.DIVERGED, f"{metric} is {metrics[metric]} at the end of training"
        else:
            objective = metrics[metric]
    elif status is TrialStatus.PRUNED:
        objective = watched.last_value

    history = [{"step": line.get("current_steps", i), **line} for i, line in enumerate(watched.lines, start=1)]
    write_history_csv(history, output_dir.parent / "history.csv")
    steps = max((int(row["step"]) for row in history), default=0)
    trainable, total = _parameter_counts(watched)
    t = config.train
    return TrialResult(
        status=status,
        metrics=metrics,
        objective=objective,
        steps=steps,
        elapsed_seconds=float(metrics.get("train_runtime", 0.0)) + float(metrics.get("eval_runtime", 0.0)) or watched.elapsed,
        trainable_params=trainable,
        total_params=total,
        fraction=fraction,
        train_samples=int(rows),
        samples_processed=steps * t.batch_size * t.grad_accum,
        message=message,
        diverged_step=watched.diverged_step,
        history=history,
        versions={"llamafactory": version, "llamafactory_python": config.llamafactory.python},
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _parameter_counts(watched: WatchedCommand) -> tuple[int | None, int | None]:
    """Trainable and total parameters from LLaMA-Factory's "trainable params: ... || all params: ..." log line."""
    for path in (watched.stdout_path, watched.stderr_path):
        text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        found = _PARAMS.search(text)
        if found:
            return int(found.group(1).replace(",", "")), int(found.group(2).replace(",", ""))
    return None, None
