"""``run_trial``: the one entry point search, ablation and the transfer check use.

It picks the runner for ``config.task``, never raises for a trial fault (setup
errors included: they become a FAILED result, out-of-memory becomes OOM), fills
seed, fraction, the resolved config and library versions, and writes
``out_dir/result.json`` atomically. A failed trial also leaves ``traceback.txt``.
"""

from __future__ import annotations

import importlib.metadata
import platform
import sys
import time
from pathlib import Path
from typing import Any

from hpscout._checks import check_fraction
from hpscout._errors import RunnerError
from hpscout.config import config_to_dict
from hpscout.data import check_data
from hpscout.runner._base import NullReporter, Reporter, TrialResult, get_runner
from hpscout.runner._command import command_argv
from hpscout.runner._guards import release_memory, status_from_exception, write_traceback
from hpscout.runner._tasks import check_generation, check_metric
from hpscout.runner._torch_task import load_factory
from hpscout.store import load_checkpoint_state

__all__ = ["run_trial", "validate_trial_config", "library_versions", "RESULT_FILE"]

RESULT_FILE = "result.json"
#: tasks and methods that can start from a saved adapter (model.adapter)
ADAPTER_TASKS = ("sequence-classification", "causal-lm", "seq2seq")
ADAPTER_METHODS = ("lora",)
#: tasks whose runner trains on ``data.train`` through :func:`hpscout.data.prepare_data`
DATA_TASKS = ("sequence-classification", "causal-lm", "seq2seq")
_VERSIONED = ("hpscout", "torch", "transformers", "peft", "accelerate", "datasets", "optuna", "numpy")


def validate_trial_config(config: Any, fraction: float | None = None) -> None:
    """Check what can be checked before a trial starts; raise :class:`RunnerError` on a problem.

    Covers the fraction, the search metric (HF tasks report a known set), the
    ``torch.factory`` import, the ``command.argv`` placeholders, ``model.adapter``
    (a :class:`~hpscout.CheckpointError` when it is not an intact checkpoint hpscout
    wrote, or holds more than tensors) and the data the trial reads
    (:func:`hpscout.data.check_data`: files, encoding, columns, rows, classes). The CLI
    calls it so bad input exits with code 2 before any model loads; :func:`run_trial`
    calls it too and records a FAILED trial instead.
    """
    if fraction is not None:
        check_fraction(fraction, "fraction", error=RunnerError)
    check_metric(config.task, config.search.metric)
    check_generation(config)
    if config.task == "torch":
        load_factory(config.torch.factory)
    elif config.task == "command":
        probe = {"trial_dir": ".", "fraction": fraction or config.scout.fraction, "seed": config.seed, "metrics_file": "m"}
        command_argv(config, {**probe, "subset_file": "s", "eval_file": "e"})
    elif config.task == "llamafactory":
        # loads on first use: it imports hpscout.export, which imports this package
        from hpscout.runner._llamafactory import check_llamafactory

        check_llamafactory(config)
    if config.model.adapter is not None:
        check_adapter_settings(config)
        # load, not only verify: a weight file with a matching hash can still be a pickle that
        # runs code, and refusing it here stops the command (exit 2) before any model loads
        load_checkpoint_state(config.model.adapter)
    if config.task in DATA_TASKS or (config.task == "command" and Path(str(config.data.train)).exists()):
        check_data(config, fraction)


def check_adapter_settings(config: Any) -> None:
    """``model.adapter`` needs a Hugging Face task trained with LoRA; RunnerError otherwise."""
    if config.task not in ADAPTER_TASKS:
        raise RunnerError(
            f"model.adapter applies to the tasks {', '.join(ADAPTER_TASKS)}, but task is {config.task!r}"
        )
    if config.train.method not in ADAPTER_METHODS:
        raise RunnerError(
            f"model.adapter needs train.method to be one of {', '.join(ADAPTER_METHODS)} (the adapter holds LoRA weights), "
            f"but got {config.train.method!r}"
        )


def library_versions() -> dict[str, str]:
    """Versions of python and the libraries a trial depends on (those installed)."""
    out = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    torch = sys.modules.get("torch")
    if torch is not None:
        out["device"] = f"cuda ({torch.cuda.get_device_name()})" if torch.cuda.is_available() else "cpu"
    return out


def run_trial(
    config: Any,
    *,
    out_dir: str | Path,
    fraction: float | None = None,
    reporter: Reporter | None = None,
) -> TrialResult:
    """Run one trial of ``config`` on the subset at ``fraction`` and write ``out_dir/result.json``.

    Never raises for the trial's own faults: divergence, OOM, bad settings and
    exceptions all come back as a :class:`TrialResult` status with a message.
    ``elapsed_seconds`` is the time spent training and evaluating (the part that
    grows with the fraction); model loading and tokenisation are not counted, except
    for a trial that failed during setup, which reports the time until it failed.

    Args:
        config: the resolved :class:`~hpscout.config.ExperimentConfig`.
        out_dir: the trial folder (created); gets ``result.json``, ``history.csv``, ``tb/``.
        fraction: data fraction; default ``config.scout.fraction``.
        reporter: receives each evaluation's ``search.metric``; may ask to prune.

    Example:
        >>> from hpscout.config import load_config
        >>> cfg = load_config("examples/sst2-minilm-lora.yaml")  # doctest: +SKIP
        >>> result = run_trial(cfg, out_dir="runs/demo/trials/manual")  # doctest: +SKIP
        >>> result.status, result.metrics["eval_accuracy"]  # doctest: +SKIP
        (<TrialStatus.COMPLETE: 'complete'>, 0.78)
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    used_fraction = config.scout.fraction if fraction is None else fraction
    start = time.perf_counter()
    try:
        validate_trial_config(config, fraction)
        runner = get_runner(config.task)
        result = runner.run(config, out_dir=out, fraction=used_fraction, reporter=reporter if reporter is not None else NullReporter())
    except Exception as exc:  # noqa: BLE001 - a trial never takes its caller down
        status, message = status_from_exception(exc)
        result = TrialResult(status=status, message=message)
        write_traceback(exc, out)
    finally:
        release_memory()
    if not result.elapsed_seconds:
        result.elapsed_seconds = time.perf_counter() - start
    result.seed = config.seed
    if result.fraction is None:
        result.fraction = used_fraction
    result.config = config_to_dict(config)
    result.versions = {**library_versions(), **result.versions}
    result.save(out / RESULT_FILE)
    return result
