"""The plain-PyTorch runner: your model and data, hpscout's training loop.

Point ``torch.factory`` at ``"module:function"``. The function is called as
``factory(config, info)`` with the resolved :class:`~hpscout.config.ExperimentConfig`
and a :class:`TorchTrialInfo` (fraction, seed, trial folder, device) and returns a
:class:`TorchTask`. The factory owns its data: it takes ``info.fraction`` of its
training rows (with ``info.seed``) itself.

Example factory (a 2-layer MLP on scikit-learn's digits)::

    def factory(config, info):
        x, y = load_digits(return_X_y=True)
        n = max(int(len(x) * info.fraction), 1)
        rows = np.random.default_rng(info.seed).permutation(len(x))[:n]
        ...
        return TorchTask(
            model=mlp,
            train_loader=lambda batch_size, seed: DataLoader(train, batch_size, shuffle=True,
                                                             generator=torch.Generator().manual_seed(seed)),
            loss_fn=lambda model, batch: F.cross_entropy(model(batch[0]), batch[1]),
            eval_fn=lambda model: {"eval_accuracy": ..., "eval_loss": ...},
            train_samples=n,
        )

The loop (:meth:`TorchRunner.run`) gives what the HF runner gives: autocast
(bf16, or fp16 with a GradScaler) from ``train.precision``, gradient accumulation,
clipping, the transformers LR schedule with warmup (or one_cycle), evaluation per
epoch or every N steps, early stopping with the best weights restored, the
divergence / OOM / exception guards, reporter calls, ``history.csv`` and
TensorBoard events.
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpscout._errors import RunnerError
from hpscout._imports import try_import
from hpscout.runner._base import NullReporter, Reporter, Runner, TrialResult, TrialStatus, step_hook
from hpscout.runner._callbacks import history_from_logs, write_history_csv
from hpscout.runner._guards import LossGuard, fault_from_env, status_from_exception, write_traceback
from hpscout.runner._optim import (
    TORCH_OPTIMIZERS,
    make_scheduler,
    make_torch_optimizer,
    resolve_optimizer_name,
    warmup_for,
)
from hpscout.runner._precision import DeviceInfo, resolve_precision
from hpscout.runner._seed import seed_everything

__all__ = ["TorchRunner", "TorchTask", "TorchTrialInfo", "load_factory"]


@dataclass(frozen=True)
class TorchTrialInfo:
    """What a factory gets besides the config.

    Attributes:
        fraction: share of the training rows this trial trains on (the factory subsets its data).
        seed: the trial's seed (``config.seed``); use it for the subset and the model init.
        out_dir: the trial folder (for files the factory wants to keep).
        device: ``"cuda"`` or ``"cpu"``: where the runner puts the model and batches.
    """

    fraction: float
    seed: int
    out_dir: Path
    device: str


@dataclass
class TorchTask:
    """What a ``torch.factory`` returns.

    Attributes:
        model: the ``nn.Module`` to train (the runner moves it to the device).
        train_loader: ``(batch_size, seed) -> iterable of batches`` for one epoch; called
            once per epoch with ``seed = config.seed + epoch``. Batches may be tensors or
            tuples/lists/dicts of tensors; the runner moves them to the device.
        loss_fn: ``(model, batch) -> scalar loss tensor``.
        eval_fn: ``(model) -> {metric: value}``, run under ``torch.no_grad()`` with the
            model in eval mode. Names without an ``eval_`` prefix get one
            (``accuracy`` -> ``eval_accuracy``), so ``search.metric`` reads as for HF tasks.
        train_samples: rows in this trial's training subset.
        steps_per_epoch: batches per epoch, needed only when the loader has no ``len()``.
    """

    model: Any
    train_loader: Callable[[int, int], Iterable[Any]]
    loss_fn: Callable[[Any, Any], Any]
    eval_fn: Callable[[Any], dict[str, float]]
    train_samples: int
    steps_per_epoch: int | None = None


def load_factory(target: str) -> Callable[..., TorchTask]:
    """Import ``"module:function"`` (``torch.factory``)."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise RunnerError(f"torch.factory must look like 'module:function', but got {target!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RunnerError(f"cannot import torch.factory module {module_name!r}: {exc} (is it on PYTHONPATH?)") from exc
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise RunnerError(f"torch.factory {target!r}: module {module_name!r} has no function {attr!r}")
    return fn


class TorchRunner(Runner):
    """Trains the factory's model with a readable loop; see the module docstring."""

    tasks = ("torch",)

    def run(
        self,
        config: Any,
        *,
        out_dir: Path,
        fraction: float | None = None,
        reporter: Reporter | None = None,
    ) -> TrialResult:
        torch = try_import("torch", "the plain-torch runner")
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        reporter = reporter if reporter is not None else NullReporter()
        fraction = config.scout.fraction if fraction is None else fraction
        t = config.train
        metric = config.search.metric
        notes: list[str] = []

        # -- settings
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
        fault = fault_from_env()

        # -- the task: model and data come from the user's factory
        seed_everything(config.seed)
        factory = load_factory(config.torch.factory)
        info = TorchTrialInfo(fraction=fraction, seed=config.seed, out_dir=out_dir, device=device.type)
        task = factory(config, info)
        if not isinstance(task, TorchTask):
            raise RunnerError(f"torch.factory {config.torch.factory!r} must return a hpscout.runner.TorchTask, but returned {type(task).__name__}")
        model = task.model.to(device)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in model.parameters())

        # -- run length, as the Trainer counts it: a trailing partial accumulation window still steps
        batches_per_epoch = _batches_per_epoch(task, t.batch_size, config.seed)
        steps_per_epoch = max(math.ceil(batches_per_epoch / t.grad_accum), 1) if batches_per_epoch else None
        if t.max_steps is not None:
            total_steps = t.max_steps
        elif config.scout.step_matched and fraction != config.scout.fraction:
            # every fidelity trains the steps of the scouting fraction (its rows estimated from ours)
            from hpscout.plan import plan_steps

            ref_rows = max(round(task.train_samples * config.scout.fraction / fraction), 1)
            total_steps = plan_steps(ref_rows, t.batch_size, grad_accum=t.grad_accum, epochs=t.epochs).total_steps
            notes.append(f"step-matched: {total_steps} steps, as {t.epochs:g} epochs take at fraction {config.scout.fraction:g}")
        elif steps_per_epoch is not None:
            total_steps = math.ceil(t.epochs * steps_per_epoch)
        else:
            raise RunnerError("the task's train_loader has no len(); set TorchTask.steps_per_epoch or train.max_steps")

        # -- optimizer, schedule, mixed precision
        optimizer = make_torch_optimizer(optim_name, model, lr=t.learning_rate, weight_decay=t.weight_decay)
        scheduler = make_scheduler(
            t.lr_scheduler, optimizer, total_steps=total_steps, warmup=warmup_for(t),
            kwargs=dict(t.scheduler_kwargs), greater_is_better=config.greater_is_better,
        )
        plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)  # steps on the eval metric
        scaler = torch.amp.GradScaler(device.type, enabled=precision.loss_scaling)  # fp16 only: keeps small grads from underflowing

        def autocast() -> Any:
            if amp_dtype is None:
                return nullcontext()
            return torch.autocast(device_type=device.type, dtype=amp_dtype)

        # -- bookkeeping
        guard = LossGuard(t.divergence_factor)  # reference: the step-1 loss, before any update
        logs: list[dict[str, Any]] = []  # Trainer-style log entries -> history
        tb = _summary_writer(out_dir / "tb", notes)
        patience = t.early_stopping.patience
        sign = 1.0 if config.greater_is_better else -1.0
        state: dict[str, Any] = {
            "step": 0, "epoch": 0.0, "samples": 0, "pruned": False, "last_value": None,
            "best": None, "best_step": None, "best_weights": None, "bad_evals": 0, "stop": False,
            "evals": [],
        }

        def evaluate() -> None:
            """Run eval_fn, report the search metric, track the best value for early stopping."""
            model.eval()
            with torch.no_grad(), autocast():
                raw = task.eval_fn(model)
            model.train()
            metrics = {(k if k.startswith("eval_") else f"eval_{k}"): float(v) for k, v in raw.items()}
            if metric not in metrics:
                raise RunnerError(f"eval_fn returned no {metric!r} (search.metric); it returned: {', '.join(sorted(metrics))}")
            value = metrics[metric]
            entry = {**metrics, "epoch": state["epoch"], "step": state["step"]}
            logs.append(entry)
            state["evals"].append(entry)
            _tb_log(tb, metrics, state["step"])
            if plateau:
                scheduler.step(value)
            state["last_value"] = value
            reporter.report(value, step=state["step"])
            if reporter.should_prune():
                state["pruned"] = state["stop"] = True
                return
            if patience is not None:
                best = state["best"]
                if best is None or (sign * (value - best) > 0 and abs(value - best) > t.early_stopping.threshold):
                    # keep the best weights on the CPU, to restore them at the end
                    state.update(best=value, best_step=state["step"], bad_evals=0)
                    state["best_weights"] = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
                else:
                    state["bad_evals"] += 1
                    if state["bad_evals"] >= patience:
                        state["stop"] = True

        # -- the loop: one iteration of the inner `for` is one optimizer step
        on_step = step_hook(reporter)  # the CLI's progress bar, when there is one
        status, message = TrialStatus.COMPLETE, None
        start = time.perf_counter()
        model.train()
        window_loss = 0.0  # summed step losses since the last log
        last_logged = 0
        try:
            epoch = 0
            while state["step"] < total_steps and not state["stop"]:
                loader = task.train_loader(t.batch_size, config.seed + epoch)  # a fresh shuffle per epoch
                i = -1
                for i, window in enumerate(_windows(loader, t.grad_accum)):
                    step_loss = 0.0
                    for batch in window:
                        batch = _to_device(batch, device)
                        with autocast():
                            loss = task.loss_fn(model, batch)
                        if fault is not None:
                            loss = fault.apply(loss, state["step"] + 1)
                        loss = loss / len(window)  # mean over the window's micro-batches
                        scaler.scale(loss).backward()
                        step_loss += float(loss.detach())
                        state["samples"] += _rows(batch)
                    if t.max_grad_norm > 0:
                        scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
                        torch.nn.utils.clip_grad_norm_(model.parameters(), t.max_grad_norm)
                    lr = optimizer.param_groups[0]["lr"]  # the LR this update uses (what the Trainer logs)
                    scaler.step(optimizer)  # skips the update when fp16 gradients overflowed
                    scaler.update()
                    optimizer.zero_grad(set_to_none=True)
                    if not plateau:
                        scheduler.step()
                    state["step"] += 1
                    state["epoch"] = epoch + (i + 1) / (steps_per_epoch or (i + 1))
                    step = state["step"]

                    if guard.check(step, step_loss) is not None:  # NaN/inf or exploding loss: stop now
                        state["stop"] = True
                        break
                    window_loss += step_loss
                    on_step(step, total_steps, None)
                    if step % t.logging_steps == 0:
                        entry = {"loss": window_loss / (step - last_logged), "learning_rate": lr, "epoch": state["epoch"], "step": step}
                        logs.append(entry)
                        _tb_log(tb, {"train/loss": entry["loss"], "train/learning_rate": lr}, step)
                        on_step(step, total_steps, entry["loss"])
                        window_loss, last_logged = 0.0, step
                    if t.eval_strategy == "steps" and step % t.eval_steps == 0:
                        evaluate()
                    if state["stop"] or step >= total_steps:
                        break
                if i < 0:
                    raise RunnerError(f"the task's train_loader yielded no batches in epoch {epoch}")
                epoch += 1
                if t.eval_strategy == "epoch" and not state["stop"] and guard.diverged_step is None:
                    evaluate()
            # the last steps may not have been evaluated (eval every N steps)
            evaluated = state["evals"] and state["evals"][-1]["step"] == state["step"]
            if not evaluated and not state["pruned"] and guard.diverged_step is None and state["step"] > 0:
                evaluate()
        except Exception as exc:  # noqa: BLE001 - every training fault becomes a trial status
            status, message = status_from_exception(exc)
            write_traceback(exc, out_dir)
        elapsed = time.perf_counter() - start

        try:
            # -- result: metrics at the best evaluation when early stopping restored it, else the last
            metrics: dict[str, float] = {}
            if state["evals"]:
                entry = state["evals"][-1]
                if state["best_weights"] is not None and status is TrialStatus.COMPLETE:
                    model.load_state_dict(state["best_weights"])
                    entry = next(e for e in state["evals"] if e["step"] == state["best_step"])
                metrics = {k: v for k, v in entry.items() if k.startswith("eval_")}
            objective = None
            if status is TrialStatus.COMPLETE and guard.diverged_step is not None:
                status, message = TrialStatus.DIVERGED, guard.reason
            elif status is TrialStatus.COMPLETE and state["pruned"]:
                status, message = TrialStatus.PRUNED, f"pruned by the reporter after step {state['step']}"
                objective = state["last_value"]
            elif status is TrialStatus.COMPLETE:
                objective = metrics.get(metric)
            history = history_from_logs(logs)
            write_history_csv(history, out_dir / "history.csv")
            parts = ([message] if message else []) + notes
            return TrialResult(
                status=status,
                metrics=metrics,
                objective=objective,
                steps=state["step"],
                elapsed_seconds=elapsed,
                trainable_params=trainable,
                total_params=total,
                seed=config.seed,
                fraction=fraction,
                train_samples=int(task.train_samples),
                samples_processed=state["samples"],
                message="; ".join(parts) if parts else None,
                diverged_step=guard.diverged_step if status is TrialStatus.DIVERGED else None,
                history=history,
            )
        finally:
            # the model, optimizer and data die with this frame; run_trial's release_memory() collects them
            if tb is not None:
                tb.close()


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

