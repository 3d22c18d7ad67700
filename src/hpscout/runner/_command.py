"""The command runner: any training script, watched through a JSON-lines metrics file.

Contract with the script
------------------------
* ``command.argv`` is the command. ``{dotted.key}`` placeholders take config values
  (``{train.learning_rate}``, ``{data.train}``) and four trial values:
  ``{trial_dir}``, ``{fraction}``, ``{seed}``, ``{metrics_file}``.
  ``{train.eval_strategy}`` is the resolved strategy, ``end``, ``epoch`` or ``steps``
  (``auto`` never reaches the script; ``end`` means one evaluation after the last step).
* The keys that vary between trials, every key of ``search.space`` and of
  ``ablation.factors``, are passed too:

  - ``pass_as: args`` appends ``--<name>=<value>``, where ``<name>`` is the key
    without its ``train.`` prefix and with dots turned into underscores
    (``train.learning_rate`` -> ``--learning_rate=0.001``,
    ``train.lora.r`` -> ``--lora_r=8``, ``data.max_length`` -> ``--data_max_length=64``);
  - ``pass_as: env`` sets ``HPSCOUT_<NAME>`` instead (``HPSCOUT_LEARNING_RATE=0.001``).

  Values are JSON (``0.001``, ``true``, ``[1, 2]``) except strings, which are passed as is.
* Always set in the environment: ``HPSCOUT_TRIAL_DIR``, ``HPSCOUT_FRACTION``,
  ``HPSCOUT_SEED``, ``HPSCOUT_METRICS_FILE`` and ``HPSCOUT_METRIC`` (the search metric's name).
* When ``data.train`` is a local file or folder, the trial's nested subset (drawn by
  :func:`hpscout.data.prepare_data`, as for every other task) is written to the trial
  folder as JSON lines with the original columns: ``HPSCOUT_SUBSET_FILE`` (train rows
  for this fraction) and ``HPSCOUT_EVAL_FILE`` (eval rows); also as the placeholders
  ``{subset_file}`` and ``{eval_file}``. Scripts that bring their own data ignore them.
* The script appends one JSON object per line to the metrics file, e.g.
  ``{"step": 10, "eval_accuracy": 0.8}``. Each line holding the search metric is
  reported to the pruner; the last line is the trial's final metrics. Optional keys
  ``loss``, ``train_samples`` and ``samples_processed`` fill the result too.

Outcomes: a pruning decision or a timeout stops the script's whole process group
(SIGTERM, then SIGKILL after :data:`KILL_GRACE_SECONDS`): PRUNED or FAILED. A
non-zero exit is FAILED with the tail of stderr. A NaN/inf search metric or
``loss`` is DIVERGED. stdout and stderr are kept as ``stdout.log`` / ``stderr.log``.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpscout._errors import ConfigError, RunnerError
from hpscout.config import config_to_dict, flatten, get_value
from hpscout.data import prepare_data
from hpscout.runner._base import Reporter, Runner, TrialResult, TrialStatus, start_trial, step_hook
from hpscout.runner._callbacks import write_history_csv

__all__ = ["CommandRunner", "WatchedCommand", "command_argv", "command_env", "hyperparameter_name", "watch_command"]

#: seconds between SIGTERM and SIGKILL when a script is stopped
KILL_GRACE_SECONDS = 5.0
#: how often the metrics file is read while the script runs
POLL_SECONDS = 0.1
_STDERR_TAIL = 2000
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.\-]*)\}")


def hyperparameter_name(key: str) -> str:
    """``train.lora.r`` -> ``lora_r``: the argument / env name of a varying key."""
    if key.startswith("train."):
        key = key[len("train.") :]
    return key.replace(".", "_").replace("-", "_")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _varying_keys(config: Any) -> list[str]:
    keys = list(config.search.space) + [k for k in config.ablation.factors if k not in config.search.space]
    return keys


#: config keys the script gets resolved rather than as written
_RESOLVED = {"train.eval_strategy": lambda config: config.resolved_eval_strategy}


def _value(config: Any, key: str) -> Any:
    """A config value as the script gets it: ``train.eval_strategy: auto`` becomes end or epoch."""
    resolve = _RESOLVED.get(key)
    return resolve(config) if resolve else get_value(config, key)


def _values(config: Any, trial: dict[str, Any]) -> dict[str, Any]:
    values = flatten(config_to_dict(config))
    values.update({key: resolve(config) for key, resolve in _RESOLVED.items()})
    # nested keys whose value is a whole mapping or list (e.g. train.lora) stay addressable too
    values.update(trial)
    return values


def command_argv(config: Any, trial: dict[str, Any]) -> list[str]:
    """The command line for a trial: placeholders filled, varying keys appended (``pass_as: args``)."""
    values = _values(config, trial)

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key in values:
            return _text(values[key])
        try:
            return _text(get_value(config, key))
        except ConfigError as exc:
            raise RunnerError(
                f"command.argv placeholder {{{key}}} names no config key; use a dotted key like "
                f"{{train.learning_rate}} or one of {{trial_dir}}, {{fraction}}, {{seed}}, {{metrics_file}}, "
                f"{{subset_file}}, {{eval_file}}"
            ) from exc

    argv = [_PLACEHOLDER.sub(fill, arg) for arg in config.command.argv]
    if config.command.pass_as == "args":
        for key in _varying_keys(config):
            argv.append(f"--{hyperparameter_name(key)}={_text(_value(config, key))}")
    return argv


def command_env(config: Any, trial: dict[str, Any]) -> dict[str, str]:
    """The HPSCOUT_* variables for a trial (varying keys only with ``pass_as: env``)."""
    env = {
        "HPSCOUT_TRIAL_DIR": str(trial["trial_dir"]),
        "HPSCOUT_FRACTION": str(trial["fraction"]),
        "HPSCOUT_SEED": str(trial["seed"]),
        "HPSCOUT_METRICS_FILE": str(trial["metrics_file"]),
        "HPSCOUT_METRIC": config.search.metric,
    }
    for key in ("subset_file", "eval_file"):
        if key in trial:
            env[f"HPSCOUT_{key.upper()}"] = str(trial[key])
    if config.command.pass_as == "env":
        for key in _varying_keys(config):
            env[f"HPSCOUT_{hyperparameter_name(key).upper()}"] = _text(_value(config, key))
    return env


def _write_subset(config: Any, fraction: float, out_dir: Path) -> dict[str, str]:
    """Write this fraction's train subset and the eval rows as JSON lines; {} when data.train is not local."""
    if not Path(config.data.train).exists():
        return {}
    prepared = prepare_data(config, fraction)
    files = {"subset_file": out_dir / "subset_train.jsonl", "eval_file": out_dir / "subset_eval.jsonl"}
    prepared.train.to_json(str(files["subset_file"]), lines=True)
    prepared.eval.to_json(str(files["eval_file"]), lines=True)
    return {k: str(v) for k, v in files.items()}


class _MetricsTail:
    """Reads complete JSON lines appended to a file since the last read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.buffer = b""
        self.bad_lines = 0

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            chunk = fh.read()
        self.offset += len(chunk)
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        out = []
        for line in lines:
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                self.bad_lines += 1
                continue
            if isinstance(obj, dict):
                out.append(obj)
            else:
                self.bad_lines += 1
        return out

    def flush(self) -> list[dict[str, Any]]:
        """Read what is left, a last line without a newline included."""
        out = self.read()
        if self.buffer.strip():
            self.buffer += b"\n"
            out += self.read()
        return out


@dataclass
class WatchedCommand:
    """How a watched command ended (see :func:`watch_command`)."""

    status: TrialStatus
    message: str | None
    lines: list[dict[str, Any]]
    diverged_step: int | None
    last_value: float | None
    returncode: int | None
    elapsed: float
    bad_lines: int
    stdout_path: Path
    stderr_path: Path


def watch_command(
    argv: list[str],
    *,
    env: dict[str, str],
    out_dir: Path,
    metrics_path: Path,
    metric: str,
    reporter: Reporter,
    timeout: float | None,
    step_key: str = "step",
    cwd: Path | None = None,
) -> WatchedCommand:
    """Run ``argv`` in its own process group and follow the JSON lines it appends to ``metrics_path``.

    Each line holding ``metric`` is reported (its step from ``step_key``); a pruning decision,
    a NaN/inf ``metric`` or ``loss`` (DIVERGED) or ``timeout`` stops the whole process group.
    stdout and stderr go to ``out_dir/stdout.log`` and ``out_dir/stderr.log``. A non-zero exit
    is left to the caller (``returncode``), which knows what the command's failures mean.
    """
    stdout_path, stderr_path = out_dir / "stdout.log", out_dir / "stderr.log"
    tail = _MetricsTail(metrics_path)
    on_step = step_hook(reporter)  # progress: step and loss as the command logs them
    lines: list[dict[str, Any]] = []
    status, message = TrialStatus.COMPLETE, None
    diverged_step = None
    last_value = None
    start = time.perf_counter()
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        try:
            # a new session: the script and its children form one process group we can stop together
            proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=cwd, start_new_session=True)
        except OSError as exc:
            raise RunnerError(f"cannot start command {argv[0]!r}: {exc}") from exc
        try:
            while True:
                done = proc.poll() is not None
                new = tail.flush() if done else tail.read()
                for line in new:
                    lines.append(line)
                    step = int(line.get(step_key, len(lines)))
                    if isinstance(line.get("loss"), (int, float)):
                        on_step(step, None, float(line["loss"]))
                    bad = [k for k in (metric, "loss") if isinstance(line.get(k), (int, float)) and not math.isfinite(line[k])]
                    if bad:
                        status, diverged_step = TrialStatus.DIVERGED, step
                        message = f"{bad[0]} is {line[bad[0]]} at step {step}"
                        break
                    if isinstance(line.get(metric), (int, float)):
                        last_value = float(line[metric])
                        reporter.report(last_value, step=step)
                        if reporter.should_prune():
                            status, message = TrialStatus.PRUNED, f"pruned by the reporter after step {step}"
                            break
                if status is not TrialStatus.COMPLETE:
                    _stop(proc)
                    break
                if done:
                    break
                if timeout is not None and time.perf_counter() - start > timeout:
                    _stop(proc)
                    status, message = TrialStatus.FAILED, f"command timed out after {timeout:g} s"
                    break
                time.sleep(POLL_SECONDS)
        finally:
            if proc.poll() is None:  # interrupted (KeyboardInterrupt): leave nothing running
                _stop(proc)
    return WatchedCommand(
        status=status,
        message=message,
        lines=lines,
        diverged_step=diverged_step,
        last_value=last_value,
        returncode=proc.returncode,
        elapsed=time.perf_counter() - start,
        bad_lines=tail.bad_lines,
        stdout_path=stdout_path,
        stderr_path=stderr_path,
    )


class CommandRunner(Runner):
    """Runs ``command.argv`` as a subprocess; see the module docstring for the contract."""

    tasks = ("command",)

    def run(
        self, config: Any, *, out_dir: Path, fraction: float | None = None, reporter: Reporter | None = None
    ) -> TrialResult:
        # absolute: the command runs in its own working directory
        out_dir, fraction, reporter = start_trial(config, out_dir, fraction, reporter, absolute=True)
        cmd = config.command
        metric = config.search.metric
        metrics_path = (out_dir / cmd.metrics_file).resolve()
        if out_dir not in metrics_path.parents:
            raise RunnerError(f"command.metrics_file must stay inside the trial folder, but got {cmd.metrics_file!r}")
        metrics_path.parent.mkdir(parents=True, exist_ok=True)
        metrics_path.unlink(missing_ok=True)  # a rerun in the same folder starts fresh
        trial = {"trial_dir": str(out_dir), "fraction": fraction, "seed": config.seed, "metrics_file": str(metrics_path)}
        trial.update(_write_subset(config, fraction, out_dir))
        argv = command_argv(config, trial)
        env = {**os.environ, **command_env(config, trial)}

        watched = watch_command(
            argv, env=env, out_dir=out_dir, metrics_path=metrics_path, metric=metric, reporter=reporter, timeout=cmd.timeout
        )
        status, message, lines = watched.status, watched.message, watched.lines
        diverged_step, last_value, elapsed = watched.diverged_step, watched.last_value, watched.elapsed

        if status is TrialStatus.COMPLETE and watched.returncode != 0:
            status = TrialStatus.FAILED
            message = f"command exited with code {watched.returncode}; stderr tail:\n{_tail(watched.stderr_path)}"
        final = lines[-1] if lines else {}
        metrics = {k: float(v) for k, v in final.items() if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "step"}
        objective = None
        if status is TrialStatus.COMPLETE:
            if not lines:
                status, message = TrialStatus.FAILED, f"the command wrote no metrics to {metrics_path}"
            elif metric not in metrics:
                status = TrialStatus.FAILED
                message = f"the last metrics line has no {metric!r} (search.metric); it has: {', '.join(sorted(metrics)) or 'nothing'}"
            else:
                objective = metrics[metric]
        elif status is TrialStatus.PRUNED:
            objective = last_value
        if watched.bad_lines:
            note = f"{watched.bad_lines} metrics line(s) were not JSON objects and were skipped"
            message = f"{message}; {note}" if message else note
        history = [dict(line) for line in lines]
        for i, row in enumerate(history, start=1):
            row.setdefault("step", i)
        write_history_csv(history, out_dir / "history.csv")
        return TrialResult(
            status=status,
            metrics=metrics,
            objective=objective,
            steps=int(final.get("step", len(lines))) if lines else 0,
            elapsed_seconds=elapsed,
            seed=config.seed,
            fraction=fraction,
            train_samples=int(final.get("train_samples", 0)),
            samples_processed=int(final.get("samples_processed", 0)),
            message=message,
            diverged_step=diverged_step,
            history=history,
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, then SIGKILL it if it is still there after the grace period."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=KILL_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        pass  # still running: SIGKILL below
    try:
        # also reaches children that outlived the script or ignored SIGTERM
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _tail(path: Path) -> str:
    data = path.read_bytes()[-_STDERR_TAIL:] if path.exists() else b""
    return data.decode("utf-8", errors="replace").strip() or "(empty)"
