"""The Trainer hpscout trains with: its arguments, the subclass, callbacks and loggers.

:func:`build_trainer` turns the resolved settings (:class:`HFSetup`) and the tokenised
data (:class:`HFData`) of one trial into a ready ``transformers.Trainer``:

* :func:`build_training_args`: ``TrainingArguments`` with each setting commented;
* :func:`scout_trainer_class`: a small Trainer subclass that feeds every step's loss to
  the divergence guard, builds ``one_cycle`` and ``decay_ratio`` schedules, evaluates
  without touching the training's random state, adds perplexity next to the eval loss
  and (tests only) injects faults;
* the callbacks: divergence guard, reporter bridge, progress, TensorBoard, early stopping,
  and the extra loggers of ``train.report_to``.

transformers is imported when these run, so importing this module stays light.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpscout.runner._base import Reporter, step_hook
from hpscout.runner._callbacks import StepLoss, progress_callback, trainer_callbacks
from hpscout.runner._guards import Fault, LossGuard, chance_loss
from hpscout.runner._optim import make_scheduler, warmup_for
from hpscout.runner._precision import DeviceInfo, Precision
from hpscout.runner._seed import rng_kept
from hpscout.runner._tasks import (
    LabelMap,
    argmax_logits,
    classification_metrics,
    generates_for_eval,
    generation_args,
    make_collator,
    make_rouge_metrics,
    perplexity,
)
from hpscout.store import run_label

__all__ = [
    "CHECKPOINT_DIR",
    "HFData",
    "HFSetup",
    "TrainerRun",
    "build_trainer",
    "build_training_args",
    "checkpointing_arg",
    "finish_loggers",
    "scout_trainer_class",
    "trainer_eval_strategy",
]

CHECKPOINT_DIR = ".checkpoints"
TB_DIR = "tb"


@dataclass(frozen=True)
class HFSetup:
    """What a trial resolves before anything heavy loads."""

    device: DeviceInfo
    precision: Precision
    optim: str  # a transformers optimizer name (legacy names mapped)
    fault: Fault | None  # HPSCOUT_FAULT_INJECT (tests only)


@dataclass(frozen=True)
class HFData:
    """One trial's data: the subset, its tokenizer and the tokenised train and eval sets."""

    prepared: Any  # hpscout.data.PreparedData
    tokenizer: Any
    labels: LabelMap | None  # classification only
    train: Any
    eval: Any
    generate: bool  # evaluation generates text (seq2seq ROUGE)


@dataclass
class TrainerRun:
    """A Trainer ready to train, and what the runner reads after training."""

    trainer: Any
    guard: LossGuard  # guard.diverged_step: the step whose loss was NaN/inf or exploded
    reporter_cb: Any  # .pruned, .last_step, .last_value
    tb_cb: Any | None  # None when tensorboard is not installed
    report_to: list[str]  # extra loggers, ended after the trial
    checkpointing: bool  # early stopping restores the best weights from checkpoints
    ckpt_dir: Path  # removed after the trial


def build_trainer(
    config: Any, model: Any, data: HFData, setup: HFSetup, *, out_dir: Path, reporter: Reporter,
    max_steps: int | None, notes: list[str],
) -> TrainerRun:
    """The Trainer for one trial, its callbacks and loggers; notes about skipped loggers go to ``notes``."""
    train_cfg = config.train
    checkpointing = train_cfg.restores_best
    ckpt_dir = out_dir / CHECKPOINT_DIR
    report_to, report_notes = _report_to(train_cfg.report_to)
    notes.extend(report_notes)
    if "wandb" in report_to:
        os.environ["WANDB_RUN_GROUP"] = config.name  # one W&B run per trial, grouped by study
    args = build_training_args(
        config, output_dir=ckpt_dir, precision=setup.precision, device=setup.device, optim=setup.optim,
        checkpointing=checkpointing, report_to=report_to, max_steps=max_steps,
        run_name=run_label(out_dir, data.prepared.fraction),
    )
    # the reference is the step-1 loss, floored at chance level for classification
    guard = LossGuard(train_cfg.divergence_factor, chance_loss=chance_loss(data.labels.num_labels) if data.labels else None)
    step_loss = StepLoss()
    diverge_cb, reporter_cb = trainer_callbacks(guard=guard, step_loss=step_loss, reporter=reporter, metric=config.search.metric)
    # the end-of-run evaluation goes first: the divergence callback after it may still call it off
    callbacks: list[Any] = [*_eval_at_end(config, checkpointing), diverge_cb, reporter_cb, progress_callback(step_hook(reporter))]
    tb_cb, tb_note = _tensorboard_callback(out_dir / TB_DIR)
    if tb_note:
        notes.append(tb_note)
    if tb_cb is not None:
        callbacks.append(tb_cb)
    callbacks.extend(_early_stopping(train_cfg.early_stopping))
    trainer = scout_trainer_class(config.task)(
        model=model,
        args=args,
        train_dataset=data.train,
        eval_dataset=data.eval,
        data_collator=make_collator(config.task, data.tokenizer),
        processing_class=data.tokenizer,
        compute_metrics=_compute_metrics(config, data.tokenizer, data.generate),
        preprocess_logits_for_metrics=argmax_logits if config.task == "sequence-classification" else None,
        callbacks=callbacks,
        scout=_ScoutHooks(config=config, step_loss=step_loss, fault=setup.fault),
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # logs go to history.csv and TensorBoard, not stdout
    return TrainerRun(
        trainer=trainer, guard=guard, reporter_cb=reporter_cb, tb_cb=tb_cb, report_to=report_to,
        checkpointing=checkpointing, ckpt_dir=ckpt_dir,
    )


def _eval_at_end(config: Any, checkpointing: bool) -> list[Any]:
    """A callback that evaluates after the last optimizer step, inside ``train()`` (eval_strategy end or steps).

    Inside the loop, that evaluation reaches every callback as the scheduled ones do: the pruner's
    reporter, the progress bar and TensorBoard (whose writer closes when training ends). With
    ``steps`` it only fills the gap after the last multiple of ``eval_steps``; not with checkpoints,
    where the best checkpoint, not the last step, is what training ends on. ``epoch`` already
    evaluates after the last step.
    """
    if checkpointing or config.resolved_eval_strategy not in ("end", "steps"):
        return []
    from transformers import TrainerCallback

    class EvalAtEnd(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if state.global_step >= state.max_steps:
                control.should_evaluate = True
            return control

    return [EvalAtEnd()]


def _early_stopping(early: Any) -> list[Any]:
    """``EarlyStoppingCallback`` when ``train.early_stopping.patience`` is set."""
    if early.patience is None:
        return []
    from transformers import EarlyStoppingCallback

    return [EarlyStoppingCallback(early_stopping_patience=early.patience, early_stopping_threshold=early.threshold)]


# --------------------------------------------------------------------------- the Trainer subclass


class _ScoutHooks:
    """State the Trainer subclass shares with the runner."""

    def __init__(self, *, config: Any, step_loss: StepLoss, fault: Any) -> None:
        self.task = config.task
        self.scheduler = config.train.lr_scheduler
        self.scheduler_kwargs = dict(config.train.scheduler_kwargs)
        self.step_loss = step_loss
        self.fault = fault
        self.samples_processed = 0


_TRAINER_CLASSES: dict[str, type] = {}


def scout_trainer_class(task: str) -> type:
    """The Trainer (``Seq2SeqTrainer`` for seq2seq) subclass hpscout trains with."""
    base_name = "Seq2SeqTrainer" if task == "seq2seq" else "Trainer"
    if base_name in _TRAINER_CLASSES:
        return _TRAINER_CLASSES[base_name]
    import transformers

    base = getattr(transformers, base_name)

    class ScoutTrainer(base):  # type: ignore[misc, valid-type]
        """Trainer + per-step loss for the divergence guard, hpscout schedules, perplexity, fault injection."""

        def __init__(self, *args: Any, scout: _ScoutHooks, **kwargs: Any) -> None:
            self.scout = scout
            super().__init__(*args, **kwargs)

        def training_step(self, model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None) -> Any:
            ids = inputs.get("input_ids")
            if ids is not None:
                self.scout.samples_processed += int(ids.shape[0])
            loss = super().training_step(model, inputs, num_items_in_batch)
            # micro-batch losses are already scaled for accumulation: their sum is the step's loss
            self.scout.step_loss.add(float(loss))
            return loss

        def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None) -> Any:
            out = super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
            fault = self.scout.fault
            if fault is None or not model.training:
                return out
            step = self.state.global_step + 1
            if return_outputs:
                loss, outputs = out
                return fault.apply(loss, step), outputs
            return fault.apply(out, step)

        def create_scheduler(self, num_training_steps: int, optimizer: Any = None) -> Any:
            # one schedule builder for both runners: one_cycle and decay_ratio work here too
            if self.lr_scheduler is None:  # type: ignore[has-type]
                self.lr_scheduler = make_scheduler(
                    self.scout.scheduler,
                    optimizer if optimizer is not None else self.optimizer,
                    total_steps=num_training_steps,
                    warmup=self.args.warmup_steps,
                    kwargs=self.scout.scheduler_kwargs,
                    greater_is_better=self.args.greater_is_better,
                )
                self._created_lr_scheduler = True
            return self.lr_scheduler

        def evaluate(self, *args: Any, **kwargs: Any) -> Any:
            with rng_kept():  # how often a trial evaluates must not change how it trains
                return super().evaluate(*args, **kwargs)

        def evaluation_loop(self, *args: Any, **kwargs: Any) -> Any:
            output = super().evaluation_loop(*args, **kwargs)
            if self.scout.task == "causal-lm":
                prefix = kwargs.get("metric_key_prefix", args[4] if len(args) > 4 else "eval")
                loss = output.metrics.get(f"{prefix}_loss")
                if loss is not None:
                    output.metrics[f"{prefix}_perplexity"] = perplexity(float(loss))
            return output

    ScoutTrainer.__name__ = f"Scout{base_name}"
    _TRAINER_CLASSES[base_name] = ScoutTrainer
    return ScoutTrainer


def build_training_args(
    config: Any,
    *,
    output_dir: Path,
    precision: Precision,
    device: DeviceInfo,
    optim: str,
    checkpointing: bool,
    report_to: list[str],
    max_steps: int | None = None,
    run_name: str | None = None,
) -> Any:
    """``TrainingArguments`` (``Seq2SeqTrainingArguments`` for seq2seq) for a config; each setting commented.

    ``max_steps`` overrides ``train.max_steps`` (step-matched fidelities).
    """
    import transformers
    from transformers.trainer_utils import SchedulerType

    t = config.train
    if max_steps is None:
        max_steps = t.max_steps
    strategy = trainer_eval_strategy(config)
    valid_schedules = {s.value for s in SchedulerType}
    kwargs: dict[str, Any] = dict(
        output_dir=str(output_dir),  # only checkpoints land here (when early stopping needs them)
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.eval_batch_size or 2 * t.batch_size,
        gradient_accumulation_steps=t.grad_accum,
        num_train_epochs=t.epochs,
        max_steps=max_steps if max_steps is not None else -1,  # -1: epochs decide
        learning_rate=t.learning_rate,
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,  # 0 disables clipping
        optim=optim,
        # the scheduler object itself comes from ScoutTrainer.create_scheduler; these record the choice
        lr_scheduler_type=t.lr_scheduler if t.lr_scheduler in valid_schedules else "constant",
        warmup_steps=warmup_for(t),  # transformers 5: an int is steps, a float < 1 a ratio
        eval_strategy=strategy,  # "no" for end: EvalAtEnd evaluates after the last step
        eval_steps=t.eval_steps,
        logging_strategy="steps",
        logging_steps=t.logging_steps,
        # checkpoints only when early stopping has to restore the best weights (never with end: the config refuses it)
        save_strategy=strategy if checkpointing else "no",
        save_steps=t.eval_steps,
        save_total_limit=1 if checkpointing else None,
        save_only_model=True,  # no optimizer state: checkpoints exist to restore weights, not to resume
        load_best_model_at_end=checkpointing,
        metric_for_best_model=config.search.metric,  # also what reduce_lr_on_plateau watches
        greater_is_better=config.greater_is_better,
        seed=config.seed,  # model init and dropout
        data_seed=config.seed,  # shuffling order
        fp16=precision.name == "fp16",  # with a GradScaler (loss scaling)
        bf16=precision.name == "bf16",
        use_cpu=not device.cuda,
        dataloader_num_workers=0,  # tokenised rows are in memory; workers only add start-up time
        disable_tqdm=True,
        report_to=report_to,  # TensorBoard is added as our own callback (its folder is out_dir/tb)
        run_name=run_name,  # what W&B / MLflow call this run: trial-N@fraction
        # perplexity (causal-lm) and a seq2seq eval_loss need the loss only, not vocab-sized logits
        prediction_loss_only=config.task == "causal-lm" or (config.task == "seq2seq" and not generates_for_eval(config)),
    )
    fields = {f.name for f in dataclasses.fields(transformers.TrainingArguments) if f.init}
    # recompute activations in backward: memory for time (transformers 5.x renamed the argument)
    kwargs[checkpointing_arg(fields)] = t.gradient_checkpointing
    if config.task == "seq2seq":
        return transformers.Seq2SeqTrainingArguments(**kwargs, **generation_args(config))
    return transformers.TrainingArguments(**kwargs)


def trainer_eval_strategy(config: Any) -> str:
    """The Trainer's ``eval_strategy`` for a trial: ``config.resolved_eval_strategy``, with ``end`` as ``"no"``.

    The Trainer has no "evaluate once at the end"; :func:`_eval_at_end` asks for that one evaluation
    at the last step instead.
    """
    strategy = config.resolved_eval_strategy
    return "no" if strategy == "end" else strategy


def checkpointing_arg(fields: Any) -> str:
    """The TrainingArguments field for activation checkpointing: ``activation_checkpointing`` (transformers 5.x,
    which keeps ``gradient_checkpointing`` as a deprecated alias) or ``gradient_checkpointing``."""
    return "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"


# --------------------------------------------------------------------------- metrics and loggers


def _compute_metrics(config: Any, tokenizer: Any, generate: bool) -> Any:
    if config.task == "sequence-classification":
        return classification_metrics
    if config.task == "seq2seq" and generate:
        return make_rouge_metrics(tokenizer, config.train.rouge_tokenizer)
    return None  # causal-lm and seq2seq without generation: loss only (perplexity added in evaluation_loop)


def finish_loggers(report_to: list[str]) -> None:
    """End the W&B run of this trial, so the next trial in this worker starts its own."""
    if "wandb" not in report_to:
        return
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish()


def _report_to(extra: list[str]) -> tuple[list[str], list[str]]:
    """Extra trainer loggers from ``train.report_to`` that are installed; notes for the rest."""
    from transformers.integrations import get_available_reporting_integrations

    available = set(get_available_reporting_integrations())
    keep, notes = [], []
    for name in extra:
        if name == "tensorboard":
            continue  # always on, through our own callback
        if name in available:
            keep.append(name)
        else:
            notes.append(f"report_to {name!r} skipped: its package is not installed")
    return keep, notes


def _tensorboard_callback(log_dir: Path) -> tuple[Any, str | None]:
    """TensorBoard events in ``log_dir`` through our own callback, or a note when tensorboard is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
        from transformers.integrations import TensorBoardCallback
    except ImportError:
        return None, "tensorboard is not installed; no TensorBoard events were written"
    return TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(log_dir))), None
