"""The plain-PyTorch runner: your model and data, hpscout's training loop.

Point ``torch.factory`` at ``"module:function"``: it returns a :class:`TorchTask`
(model, loader, loss and eval functions; see :mod:`hpscout.runner._torch_task`).

The loop (:meth:`TorchRunner.run`, one function a step; the loop itself is
:class:`_TorchLoop`) gives what the HF runner gives: autocast
(bf16, or fp16 with a GradScaler) from ``train.precision``, gradient accumulation,
clipping, the transformers LR schedule with warmup (or one_cycle), evaluation once
at the end, per epoch or every N steps (``ExperimentConfig.resolved_eval_strategy``), early stopping with the best weights restored, the
divergence / OOM / exception guards, reporter calls, ``history.csv`` and
TensorBoard events.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpscout._errors import RunnerError
from hpscout._imports import try_import
from hpscout.runner._base import Reporter, Runner, TrialResult, TrialStatus, start_trial, step_hook
from hpscout.runner._callbacks import history_from_logs, write_history_csv
from hpscout.runner._guards import Fault, LossGuard, fault_from_env, status_from_exception, write_traceback
from hpscout.runner._models import count_parameters
from hpscout.runner._optim import (
    TORCH_OPTIMIZERS,
    make_scheduler,
    make_torch_optimizer,
    resolve_optimizer_name,
    step_matched_steps,
    warmup_for,
)
from hpscout.runner._precision import DeviceInfo, Precision, resolve_precision
from hpscout.runner._seed import rng_kept, seed_everything
from hpscout.runner._torch_task import TorchTask, TorchTrialInfo, load_factory

__all__ = ["TorchRunner"]


class TorchRunner(Runner):
    """Trains the factory's model with a readable loop; see the module docstring."""

    tasks = ("torch",)

    def run(
        self, config: Any, *, out_dir: Path, fraction: float | None = None, reporter: Reporter | None = None
    ) -> TrialResult:
        torch = try_import("torch", "the plain-torch runner")
        out_dir, fraction, reporter = start_trial(config, out_dir, fraction, reporter)
        notes: list[str] = []  # what the trial's message says besides its outcome
        setup = _settings(torch, config, notes)
        info = TorchTrialInfo(fraction=fraction, seed=config.seed, out_dir=out_dir, device=setup.device.type)
        task = _load_task(config, info)
        model = task.model.to(setup.device)
        params = count_parameters(model)  # (trainable, total)
        total_steps, steps_per_epoch = _run_length(config, task, fraction, notes)
        optimizer, scheduler = _optimizer_and_schedule(config, model, setup.optim_name, total_steps)
        loop = _TorchLoop(
            torch=torch, config=config, task=task, model=model, setup=setup, optimizer=optimizer, scheduler=scheduler,
            reporter=reporter, total_steps=total_steps, steps_per_epoch=steps_per_epoch,
            tb=_summary_writer(out_dir / "tb", notes),
        )
        try:
            status, message, elapsed = _train(loop, out_dir)
            return _result(
                config, loop, status, message, elapsed=elapsed, fraction=fraction, params=params, notes=notes,
                out_dir=out_dir,
            )
        finally:
            # the model, optimizer and data die with this frame; run_trial's release_memory() collects them
            loop.close()


# --------------------------------------------------------------------------- the steps of a trial


@dataclass(frozen=True)
class _TorchSetup:
    """What a trial resolves before the factory runs."""

    device: Any  # torch.device; CUDA_VISIBLE_DEVICES picks the GPU
    precision: Precision
    amp_dtype: Any  # autocast dtype, None for fp32
    optim_name: str
    fault: Fault | None  # HPSCOUT_FAULT_INJECT (tests only)


def _settings(torch: Any, config: Any, notes: list[str]) -> _TorchSetup:
    """Device, precision and optimizer name; notes for what was changed or does not apply."""
    t = config.train
    device_info = DeviceInfo.detect()
    device = torch.device("cuda" if device_info.cuda else "cpu")  # CUDA_VISIBLE_DEVICES picks the GPU
    precision = resolve_precision(t.precision, device_info)
    if precision.note:
        notes.append(precision.note)
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision.name)
    optim_name, optim_note = resolve_optimizer_name(t.optimizer, TORCH_OPTIMIZERS)
    if optim_note:
        notes.append(optim_note)
    if t.method != "full":
        notes.append(f"train.method={t.method} applies to HF tasks; the torch runner trains the factory's model as given")
    return _TorchSetup(device=device, precision=precision, amp_dtype=amp_dtype, optim_name=optim_name, fault=fault_from_env())


def _load_task(config: Any, info: TorchTrialInfo) -> TorchTask:
    """The model and data from the user's factory (seeded first, so its model init repeats)."""
    seed_everything(config.seed)
    task = load_factory(config.torch.factory)(config, info)
    if not isinstance(task, TorchTask):
        raise RunnerError(f"torch.factory {config.torch.factory!r} must return a hpscout.runner.TorchTask, but returned {type(task).__name__}")
    return task


def _run_length(config: Any, task: TorchTask, fraction: float, notes: list[str]) -> tuple[int, int | None]:
    """``(total_steps, steps_per_epoch)`` as the Trainer counts them: a trailing partial accumulation window still steps.

    ``train.max_steps`` wins; with ``scout.step_matched`` every fidelity trains the steps of
    the scouting fraction (its rows estimated from ours); else ``train.epochs`` decide.
    """
    t = config.train
    batches_per_epoch = _batches_per_epoch(task, t.batch_size, config.seed)
    steps_per_epoch = max(math.ceil(batches_per_epoch / t.grad_accum), 1) if batches_per_epoch else None
    if t.max_steps is not None:
        return t.max_steps, steps_per_epoch
    if config.scout.step_matched and fraction != config.scout.fraction:
        total_steps, note = step_matched_steps(config, round(task.train_samples * config.scout.fraction / fraction))
        notes.append(note)
        return total_steps, steps_per_epoch
    if steps_per_epoch is not None:
        return math.ceil(t.epochs * steps_per_epoch), steps_per_epoch
    raise RunnerError("the task's train_loader has no len(); set TorchTask.steps_per_epoch or train.max_steps")


def _optimizer_and_schedule(config: Any, model: Any, optim_name: str, total_steps: int) -> tuple[Any, Any]:
    """The optimizer (no weight decay on biases and norms) and the LR schedule both runners build."""
    t = config.train
    optimizer = make_torch_optimizer(optim_name, model, lr=t.learning_rate, weight_decay=t.weight_decay)
    scheduler = make_scheduler(
        t.lr_scheduler, optimizer, total_steps=total_steps, warmup=warmup_for(t),
        kwargs=dict(t.scheduler_kwargs), greater_is_better=config.greater_is_better,
    )
    return optimizer, scheduler


def _train(loop: _TorchLoop, out_dir: Path) -> tuple[TrialStatus, str | None, float]:
    """Run the loop; ``(status, message, seconds)``, a raised fault turned into a status."""
    status, message = TrialStatus.COMPLETE, None
    start = time.perf_counter()
    loop.model.train()
    try:
        loop.train()
    except Exception as exc:  # noqa: BLE001 - every training fault becomes a trial status
        status, message = status_from_exception(exc)
        write_traceback(exc, out_dir)
    return status, message, time.perf_counter() - start


def _result(
    config: Any, loop: _TorchLoop, status: TrialStatus, message: str | None, *, elapsed: float, fraction: float,
    params: tuple[int, int], notes: list[str], out_dir: Path,
) -> TrialResult:
    """The trial's result: metrics at the best evaluation when early stopping restored it, else the last.

    Writes ``history.csv``; ``params`` is ``(trainable, total)``, ``notes`` follow the outcome in the message.
    """
    metrics = loop.final_metrics(restore_best=status is TrialStatus.COMPLETE)
    objective = None
    if status is TrialStatus.COMPLETE and loop.guard.diverged_step is not None:
        status, message = TrialStatus.DIVERGED, loop.guard.reason
    elif status is TrialStatus.COMPLETE and loop.pruned:
        status, message = TrialStatus.PRUNED, f"pruned by the reporter after step {loop.step}"
        objective = loop.last_value
    elif status is TrialStatus.COMPLETE:
        objective = metrics.get(config.search.metric)
    history = history_from_logs(loop.logs)
    write_history_csv(history, out_dir / "history.csv")
    parts = ([message] if message else []) + notes
    return TrialResult(
        status=status,
        metrics=metrics,
        objective=objective,
        steps=loop.step,
        elapsed_seconds=elapsed,
        trainable_params=params[0],
        total_params=params[1],
        seed=config.seed,
        fraction=fraction,
        train_samples=int(loop.task.train_samples),
        samples_processed=loop.samples,
        message="; ".join(parts) if parts else None,
        diverged_step=loop.guard.diverged_step if status is TrialStatus.DIVERGED else None,
        history=history,
    )


# --------------------------------------------------------------------------- the loop


@dataclass(eq=False)
class _TorchLoop:
    """One trial's training loop: what it trains with, and what it tracks while it runs.

    :meth:`train` reads top to bottom: epochs of optimizer steps (one gradient-accumulation
    window each), a log line every ``train.logging_steps``, evaluations as
    ``config.resolved_eval_strategy`` says, and a stop on divergence, pruning or early stopping.
    """

    torch: Any
    config: Any
    task: TorchTask
    model: Any
    setup: _TorchSetup
    optimizer: Any
    scheduler: Any
    reporter: Reporter
    total_steps: int
    steps_per_epoch: int | None
    tb: Any  # a SummaryWriter, or None without tensorboard
    # -- progress
    step: int = 0
    epoch: float = 0.0
    samples: int = 0
    stop: bool = False
    pruned: bool = False
    last_value: float | None = None  # the search metric at the last evaluation
    logs: list[dict[str, Any]] = field(default_factory=list)  # Trainer-style log entries -> history
    evals: list[dict[str, Any]] = field(default_factory=list)
    window_loss: float = 0.0  # summed step losses since the last log
    last_logged: int = 0
    # -- early stopping: the best value so far and its weights (on the CPU)
    best: float | None = None
    best_step: int | None = None
    best_weights: dict[str, Any] | None = None
    bad_evals: int = 0

    def __post_init__(self) -> None:
        t = self.config.train
        self.guard = LossGuard(t.divergence_factor)  # reference: the step-1 loss, before any update
        self.eval_strategy = self.config.resolved_eval_strategy  # end, epoch or steps (auto resolved)
        # reduce_lr_on_plateau steps on the eval metric, every other schedule on every optimizer step
        self.plateau = isinstance(self.scheduler, self.torch.optim.lr_scheduler.ReduceLROnPlateau)
        # fp16 only: keeps small grads from underflowing
        self.scaler = self.torch.amp.GradScaler(self.setup.device.type, enabled=self.setup.precision.loss_scaling)
        self.on_step = step_hook(self.reporter)  # the CLI's progress bar, when there is one

    def train(self) -> None:
        """Epochs until ``total_steps`` or a stop; then evaluate the last steps when no evaluation saw them."""
        epoch = 0
        while self.step < self.total_steps and not self.stop:
            self._train_epoch(epoch)
            epoch += 1
            if self.eval_strategy == "epoch" and not self.stop and self.guard.diverged_step is None:
                self.evaluate()
        # the last steps may not have been evaluated (eval_strategy end, or every N steps)
        evaluated = self.evals and self.evals[-1]["step"] == self.step
        if not evaluated and not self.pruned and self.guard.diverged_step is None and self.step > 0:
            self.evaluate()

    def _train_epoch(self, epoch: int) -> None:
        """One pass over a fresh shuffle; one iteration is one optimizer step."""
        t = self.config.train
        loader = self.task.train_loader(t.batch_size, self.config.seed + epoch)  # a fresh shuffle per epoch
        i = -1
        for i, window in enumerate(_windows(loader, t.grad_accum)):
            step_loss, lr = self._optimizer_step(window)
            self.epoch = epoch + (i + 1) / (self.steps_per_epoch or (i + 1))
            if self.guard.check(self.step, step_loss) is not None:  # NaN/inf or exploding loss: stop now
                self.stop = True
                break
            self._log_step(step_loss, lr)
            if self.eval_strategy == "steps" and self.step % t.eval_steps == 0:
                self.evaluate()
            if self.stop or self.step >= self.total_steps:
                break
        if i < 0:
            raise RunnerError(f"the task's train_loader yielded no batches in epoch {epoch}")

    def _optimizer_step(self, window: list[Any]) -> tuple[float, float]:
        """Forward and backward over the window's micro-batches, then one update; ``(step loss, LR used)``."""
        torch, t, optimizer, scaler = self.torch, self.config.train, self.optimizer, self.scaler
        step_loss = 0.0
        for batch in window:
            batch = _to_device(batch, self.setup.device)
            with self.autocast():
                loss = self.task.loss_fn(self.model, batch)
            if self.setup.fault is not None:
                loss = self.setup.fault.apply(loss, self.step + 1)
            loss = loss / len(window)  # mean over the window's micro-batches
            scaler.scale(loss).backward()
            step_loss += float(loss.detach())
            self.samples += _rows(batch)
        if t.max_grad_norm > 0:
            scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), t.max_grad_norm)
        lr = optimizer.param_groups[0]["lr"]  # the LR this update uses (what the Trainer logs)
        scaler.step(optimizer)  # skips the update when fp16 gradients overflowed
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        if not self.plateau:
            self.scheduler.step()
        self.step += 1
        return step_loss, lr

    def _log_step(self, step_loss: float, lr: float) -> None:
        """Progress after every step; a Trainer-style log entry (mean loss since the last) every ``logging_steps``."""
        step = self.step
        self.window_loss += step_loss
        self.on_step(step, self.total_steps, None)
        if step % self.config.train.logging_steps == 0:
            entry = {"loss": self.window_loss / (step - self.last_logged), "learning_rate": lr, "epoch": self.epoch, "step": step}
            self.logs.append(entry)
            _tb_log(self.tb, {"train/loss": entry["loss"], "train/learning_rate": lr}, step)
            self.on_step(step, self.total_steps, entry["loss"])
            self.window_loss, self.last_logged = 0.0, step

    def evaluate(self) -> None:
        """Run eval_fn, report the search metric, track the best value for early stopping."""
        metric = self.config.search.metric
        self.model.eval()
        # rng_kept: how often a trial evaluates must not change how it trains
        with rng_kept(), self.torch.no_grad(), self.autocast():
            raw = self.task.eval_fn(self.model)
        self.model.train()
        metrics = {(k if k.startswith("eval_") else f"eval_{k}"): float(v) for k, v in raw.items()}
        if metric not in metrics:
            raise RunnerError(f"eval_fn returned no {metric!r} (search.metric); it returned: {', '.join(sorted(metrics))}")
        value = metrics[metric]
        entry = {**metrics, "epoch": self.epoch, "step": self.step}
        self.logs.append(entry)
        self.evals.append(entry)
        _tb_log(self.tb, metrics, self.step)
        if self.plateau:
            self.scheduler.step(value)
        self.last_value = value
        self.reporter.report(value, step=self.step)
        if self.reporter.should_prune():
            self.pruned = self.stop = True
            return
        if self.config.train.early_stopping.patience is not None:
            self._early_stopping(value)

    def _early_stopping(self, value: float) -> None:
        """Keep the best weights; stop after ``patience`` evaluations without a gain above ``threshold``."""
        early = self.config.train.early_stopping
        sign = 1.0 if self.config.greater_is_better else -1.0
        best = self.best
        if best is None or (sign * (value - best) > 0 and abs(value - best) > early.threshold):
            # keep the best weights on the CPU, to restore them at the end
            self.best, self.best_step, self.bad_evals = value, self.step, 0
            self.best_weights = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}
        else:
            self.bad_evals += 1
            if self.bad_evals >= early.patience:
                self.stop = True

    def final_metrics(self, *, restore_best: bool) -> dict[str, float]:
        """Eval metrics at the best evaluation (its weights restored) when early stopping kept one, else the last."""
        if not self.evals:
            return {}
        entry = self.evals[-1]
        if self.best_weights is not None and restore_best:
            self.model.load_state_dict(self.best_weights)
            entry = next(e for e in self.evals if e["step"] == self.best_step)
        return {k: v for k, v in entry.items() if k.startswith("eval_")}

    def autocast(self) -> Any:
        """Mixed precision for forward passes (bf16, or fp16 with the GradScaler); nothing for fp32."""
        if self.setup.amp_dtype is None:
            return nullcontext()
        return self.torch.autocast(device_type=self.setup.device.type, dtype=self.setup.amp_dtype)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


# --------------------------------------------------------------------------- helpers


def _batches_per_epoch(task: TorchTask, batch_size: int, seed: int) -> int | None:
    if task.steps_per_epoch is not None:
        return int(task.steps_per_epoch)
    loader = task.train_loader(batch_size, seed)
    try:
        return len(loader)  # type: ignore[arg-type]
    except TypeError:
        return None


def _windows(loader: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Group batches into gradient-accumulation windows (the last may be shorter)."""
    window: list[Any] = []
    for batch in loader:
        window.append(batch)
        if len(window) == size:
            yield window
            window = []
    if window:
        yield window


def _to_device(batch: Any, device: Any) -> Any:
    if hasattr(batch, "to"):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch


def _rows(batch: Any) -> int:
    """Rows in a batch: the first dimension of its first tensor."""
    if hasattr(batch, "shape"):
        return int(batch.shape[0]) if batch.ndim else 1
    if isinstance(batch, dict):
        batch = list(batch.values())
    if isinstance(batch, (list, tuple)) and batch:
        return _rows(batch[0])
    return 0


def _summary_writer(log_dir: Path, notes: list[str]) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        notes.append("tensorboard is not installed; no TensorBoard events were written")
        return None
    return SummaryWriter(log_dir=str(log_dir))


def _tb_log(tb: Any, values: dict[str, float], step: int) -> None:
    if tb is None:
        return
    for k, v in values.items():
        tb.add_scalar(k.replace("eval_", "eval/", 1) if k.startswith("eval_") else k, v, step)
    tb.flush()

