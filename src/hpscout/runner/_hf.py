"""The Hugging Face runner: ``transformers.Trainer`` + PEFT for classification, causal-LM SFT and seq2seq.

One trial, top to bottom (:meth:`HFRunner.run`):

1. check the search metric, resolve device, precision and optimizer name;
2. seed everything, load the subset (:func:`hpscout.data.prepare_data`), tokenise
   without padding (the collator pads each batch to its longest row);
3. build the model (``from_pretrained`` or a tiny ``from_config`` model), wrap it
   for the method (LoRA / QLoRA / full) and, with ``model.adapter``, load a saved adapter;
4. train with a small Trainer subclass that adds what hpscout needs: every step's
   loss goes to the divergence guard, ``one_cycle`` and ``decay_ratio`` schedules,
   perplexity next to the eval loss, and (tests only) fault injection;
5. turn the Trainer state into a :class:`TrialResult`, write ``history.csv`` and
   drop checkpoints (unless ``train.save_best_checkpoint``: then ``best_checkpoint/``
   keeps the best weights with a manifest, :func:`hpscout.store.write_checkpoint_manifest`,
   and ``model.adapter`` can start another trial from it).

Training faults (NaN, OOM, exceptions inside ``train()``) become a status here;
setup faults (bad model path, bad data) raise and :func:`run_trial` records them.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import shutil
import time
from pathlib import Path
from typing import Any

from hpscout._errors import RunnerError
from hpscout._imports import try_import
from hpscout.runner._base import NullReporter, Reporter, Runner, TrialResult, TrialStatus, step_hook
from hpscout.runner._callbacks import (
    StepLoss,
    history_from_logs,
    progress_callback,
    trainer_callbacks,
    write_history_csv,
)
from hpscout.runner._guards import (
    LossGuard,
    chance_loss,
    fault_from_env,
    status_from_exception,
    write_traceback,
)
from hpscout.runner._models import apply_method, count_parameters, load_model, load_tokenizer
from hpscout.runner._optim import make_scheduler, resolve_optimizer_name, warmup_for
from hpscout.runner._precision import DeviceInfo, Precision, resolve_precision
from hpscout.runner._rouge import check_references, rouge_tokenizer
from hpscout.runner._seed import seed_everything
from hpscout.runner._tasks import (
    argmax_logits,
    check_generation,
    check_metric,
    classification_metrics,
    decode_targets,
    generates_for_eval,
    generation_args,
    label_map,
    make_collator,
    make_rouge_metrics,
    perplexity,
    tokenize,
)
from hpscout.store import run_label

__all__ = ["HFRunner", "build_training_args", "checkpointing_arg", "scout_trainer_class"]

CHECKPOINT_DIR = ".checkpoints"
BEST_CHECKPOINT_DIR = "best_checkpoint"
TB_DIR = "tb"


class HFRunner(Runner):
    """Runs sequence-classification, causal-lm and seq2seq trials on ``transformers.Trainer``."""

    tasks = ("sequence-classification", "causal-lm", "seq2seq")

    def run(
        self,
        config: Any,
        *,
        out_dir: Path,
        fraction: float | None = None,
        reporter: Reporter | None = None,
    ) -> TrialResult:
        from hpscout.data import prepare_data

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        reporter = reporter if reporter is not None else NullReporter()
        train_cfg = config.train
        notes: list[str] = []

        # -- settings that fail fast, before anything heavy loads
        check_metric(config.task, config.search.metric)
        check_generation(config)
        try_import("torch", "training")
        datasets = try_import("datasets", "training data")
        if train_cfg.method != "full":
            try_import("peft", "LoRA")
        device = DeviceInfo.detect()
        precision = resolve_precision(train_cfg.precision, device)
        _note(notes, precision.note)
        if train_cfg.method == "qlora":
            _check_qlora(device, config)
        optim, optim_note = resolve_optimizer_name(train_cfg.optimizer)
        _note(notes, optim_note)
        fault = fault_from_env()

        # -- data: the subset for this fraction, tokenised without padding
        seed_everything(config.seed)
        # progress bars would flood the logs of a search; history.csv and TensorBoard carry progress
        datasets.disable_progress_bars()
        try_import("transformers", "training").utils.logging.disable_progress_bar()
        prepared = prepare_data(config, fraction)
        tokenizer = load_tokenizer(config.model)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
            _note(notes, "the tokenizer has no pad token; padded with its eos token")
        labels = None
        if config.task == "sequence-classification":
            labels = label_map(prepared.train, prepared.eval, config.data.label_column, config.model.num_labels)
        train_ds = tokenize(config.task, prepared.train, tokenizer, config.data, labels=labels, what="train")
        eval_ds = tokenize(config.task, prepared.eval, tokenizer, config.data, labels=labels, what="eval")
        generate = generates_for_eval(config)
        if generate:
            # ROUGE sees the references after the tokenizer's round trip: an empty one fails here, before the model loads
            check_references(decode_targets(eval_ds["labels"], tokenizer), rouge_tokenizer(train_cfg.rouge_tokenizer, tokenizer))

        # -- model: seeded so random heads, LoRA matrices and from_config weights repeat
        seed_everything(config.seed)
        model = load_model(
            config,
            tokenizer=tokenizer,
            num_labels=labels.num_labels if labels else None,
            label_names=labels.names if labels else None,
            dtype=_weight_dtype(train_cfg.method, precision, device),
            quantization_config=_quantization(precision) if train_cfg.method == "qlora" else None,
        )
        model = apply_method(model, config)
        if config.model.adapter is not None:
            _load_adapter(model, config)
        _trainable_to_fp32(model)
        trainable, total = count_parameters(model)

        # -- run length: epochs, max_steps, or the steps the scouting fraction takes (scout.step_matched)
        max_steps = _step_matched_steps(config, prepared.full_train_rows)
        if max_steps is not None:
            notes.append(f"step-matched: {max_steps} steps, as {train_cfg.epochs:g} epochs take at fraction {config.scout.fraction:g}")

        # -- trainer
        checkpointing = train_cfg.restores_best
        ckpt_dir = out_dir / CHECKPOINT_DIR
        report_to, report_notes = _report_to(train_cfg.report_to)
        notes.extend(report_notes)
        if "wandb" in report_to:
            os.environ["WANDB_RUN_GROUP"] = config.name  # one W&B run per trial, grouped by study
        args = build_training_args(
            config, output_dir=ckpt_dir, precision=precision, device=device, optim=optim,
            checkpointing=checkpointing, report_to=report_to, max_steps=max_steps,
            run_name=run_label(out_dir, prepared.fraction),
        )
        # the reference is the step-1 loss, floored at chance level for classification
        guard = LossGuard(train_cfg.divergence_factor, chance_loss=chance_loss(labels.num_labels) if labels else None)
        step_loss = StepLoss()
        diverge_cb, reporter_cb = trainer_callbacks(
            guard=guard, step_loss=step_loss, reporter=reporter, metric=config.search.metric
        )
        callbacks: list[Any] = [diverge_cb, reporter_cb, progress_callback(step_hook(reporter))]
        tb_cb, tb_note = _tensorboard_callback(out_dir / TB_DIR)
        _note(notes, tb_note)
        if tb_cb is not None:
            callbacks.append(tb_cb)
        if train_cfg.early_stopping.patience is not None:
            from transformers import EarlyStoppingCallback

            callbacks.append(
                EarlyStoppingCallback(
                    early_stopping_patience=train_cfg.early_stopping.patience,
                    early_stopping_threshold=train_cfg.early_stopping.threshold,
                )
            )
        trainer_cls = scout_trainer_class(config.task)
        trainer = trainer_cls(
            model=model,
            args=args,
            train_dataset=train_ds,
            eval_dataset=eval_ds,
            data_collator=make_collator(config.task, tokenizer),
            processing_class=tokenizer,
            compute_metrics=_compute_metrics(config, tokenizer, generate),
            preprocess_logits_for_metrics=argmax_logits if config.task == "sequence-classification" else None,
            callbacks=callbacks,
            scout=_ScoutHooks(config=config, step_loss=step_loss, fault=fault),
        )
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)  # logs go to history.csv and TensorBoard, not stdout

        # -- train; faults become a status. Checkpoints go whatever happens (Ctrl-C included)
        try:
            status, message = TrialStatus.COMPLETE, None
            start = time.perf_counter()
            try:
                trainer.train()
                final_eval = _needs_final_eval(trainer, checkpointing, guard, reporter_cb)
                if final_eval:
                    trainer.evaluate()
            except Exception as exc:  # noqa: BLE001 - every training fault becomes a trial status
                status, message = status_from_exception(exc)
                write_traceback(exc, out_dir)
            finally:
                if tb_cb is not None and tb_cb.tb_writer is not None:
                    tb_cb.tb_writer.close()
            elapsed = time.perf_counter() - start

            state = trainer.state
            history = history_from_logs(state.log_history)
            metrics = _final_metrics(state, checkpointing)
            if status is TrialStatus.COMPLETE and guard.diverged_step is not None:
                status, message = TrialStatus.DIVERGED, guard.reason
            elif status is TrialStatus.COMPLETE and reporter_cb.pruned:
                status, message = TrialStatus.PRUNED, f"pruned by the reporter after step {reporter_cb.last_step}"
            objective = None
            if status is TrialStatus.COMPLETE:
                objective = metrics.get(config.search.metric)
                if objective is None:
                    status = TrialStatus.FAILED
                    message = (
                        f"training finished but no evaluation reported {config.search.metric!r}; "
                        f"reported: {', '.join(sorted(metrics)) or 'nothing'}"
                    )
            elif status is TrialStatus.PRUNED:
                objective = reporter_cb.last_value
            if checkpointing and train_cfg.save_best_checkpoint and status is TrialStatus.COMPLETE:
                trainer.save_model(str(out_dir / BEST_CHECKPOINT_DIR))
                _seal_checkpoint(out_dir / BEST_CHECKPOINT_DIR, config, state=state, objective=objective, fraction=prepared.fraction)
            write_history_csv(history, out_dir / "history.csv")
            return TrialResult(
                status=status,
                metrics=metrics,
                objective=objective,
                steps=int(state.global_step),
                elapsed_seconds=elapsed,
                trainable_params=trainable,
                total_params=total,
                seed=config.seed,
                fraction=prepared.fraction,
                train_samples=len(prepared.train),
                samples_processed=trainer.scout.samples_processed,
                message=_join(message, notes),
                diverged_step=guard.diverged_step if status is TrialStatus.DIVERGED else None,
                history=history,
            )
        finally:
            shutil.rmtree(ckpt_dir, ignore_errors=True)
            _finish_loggers(report_to)
            # drop the last references here; run_trial's release_memory() then collects them
            del trainer, model


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
        eval_strategy=t.eval_strategy,
        eval_steps=t.eval_steps,
        logging_strategy="steps",
        logging_steps=t.logging_steps,
        # checkpoints only when early stopping has to restore the best weights
        save_strategy=t.eval_strategy if checkpointing else "no",
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


def checkpointing_arg(fields: Any) -> str:
    """The TrainingArguments field for activation checkpointing: ``activation_checkpointing`` (transformers 5.x,
    which keeps ``gradient_checkpointing`` as a deprecated alias) or ``gradient_checkpointing``."""
    return "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"


# --------------------------------------------------------------------------- helpers


def _note(notes: list[str], note: str | None) -> None:
    if note:
        notes.append(note)


def _join(message: str | None, notes: list[str]) -> str | None:
    parts = ([message] if message else []) + notes
    return "; ".join(parts) if parts else None


def _step_matched_steps(config: Any, full_train_rows: int) -> int | None:
    """With ``scout.step_matched``, the optimizer steps ``train.epochs`` take at ``scout.fraction``.

    Every fidelity then trains that many steps (smaller rungs see more epochs). None when
    off, or when ``train.max_steps`` already fixes the run length.
    """
    t = config.train
    if not config.scout.step_matched or t.max_steps is not None:
        return None
    from hpscout.data import subset_size
    from hpscout.plan import plan_steps

    rows = max(subset_size(config.scout.fraction, full_train_rows), 1)
    # one device per trial: the worker's GPU (CUDA_VISIBLE_DEVICES) or the CPU
    return plan_steps(rows, t.batch_size, grad_accum=t.grad_accum, devices=1, epochs=t.epochs).total_steps


def _check_qlora(device: DeviceInfo, config: Any) -> None:
    if not device.cuda or importlib.util.find_spec("bitsandbytes") is None:
        have = "no CUDA GPU" if not device.cuda else "no bitsandbytes"
        raise RunnerError(
            f"qlora needs a CUDA GPU and bitsandbytes (pip install bitsandbytes), but this machine has {have}; "
            "use train.method=lora here"
        )
    if config.model.from_config is not None:
        raise RunnerError("qlora quantises pretrained weights; it cannot be combined with model.from_config")


def _load_adapter(model: Any, config: Any) -> None:
    """Start from the LoRA weights (and trained head) of a checkpoint hpscout saved (``model.adapter``).

    The checkpoint's manifest must still match and its weights must load as plain
    tensors (:func:`hpscout.store.load_checkpoint_state`); they must fill every
    trainable tensor of ``model`` and nothing else.
    """
    from hpscout.runner._trial import check_adapter_settings
    from hpscout.store import load_checkpoint_state

    check_adapter_settings(config)
    peft = try_import("peft", "LoRA")
    adapter = config.model.adapter
    state = load_checkpoint_state(adapter)
    hint = "use the model, labels and train.lora settings (r, target) it was trained with"
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    try:
        result = peft.set_peft_model_state_dict(model, state)
    except (RuntimeError, KeyError, ValueError) as exc:
        first = str(exc).strip().splitlines()
        detail = "; ".join(line.strip() for line in first[1:3]) if len(first) > 1 else (first[0] if first else repr(exc))
        raise RunnerError(f"the adapter in {adapter} does not fit this model ({detail}); {hint}") from exc
    missing = sorted(k for k in result.missing_keys if k in trainable)
    unexpected = sorted(result.unexpected_keys)
    if missing or unexpected:
        shown = [f"missing {', '.join(missing[:3])}"] if missing else []
        shown += [f"unexpected {', '.join(unexpected[:3])}"] if unexpected else []
        raise RunnerError(f"the adapter in {adapter} does not match this model's LoRA layers ({'; '.join(shown)}); {hint}")


def _seal_checkpoint(folder: Path, config: Any, *, state: Any, objective: float | None, fraction: float) -> None:
    """Drop the Trainer's pickled arguments and write the manifest that lets hpscout load the weights back."""
    import hashlib
    import json

    from transformers.trainer import TRAINING_ARGS_NAME

    from hpscout.config import config_to_dict
    from hpscout.store import write_checkpoint_manifest

    # training_args.bin is a pickle of TrainingArguments; nothing loads it, and the resolved config sits in result.json
    (folder / TRAINING_ARGS_NAME).unlink(missing_ok=True)
    resolved = json.dumps(config_to_dict(config), sort_keys=True, default=str)
    write_checkpoint_manifest(
        folder,
        config_name=config.name,
        config_sha256=hashlib.sha256(resolved.encode()).hexdigest(),
        task=config.task,
        method=config.train.method,
        model=config.model.name_or_path if config.model.from_config is None else "from_config",
        started_from=config.model.adapter,
        seed=config.seed,
        fraction=fraction,
        step=int(state.best_global_step or state.global_step),
        metric=config.search.metric,
        value=objective,
    )


def _weight_dtype(method: str, precision: Precision, device: DeviceInfo) -> Any:
    """Frozen base weights of LoRA/QLoRA runs on a GPU sit in the compute dtype; trained weights stay fp32."""
    import torch

    if method == "full" or not device.cuda or precision.name == "fp32":
        return torch.float32
    return torch.bfloat16 if precision.name == "bf16" else torch.float16


def _quantization(precision: Precision) -> Any:
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16 if precision.name == "bf16" else torch.float16,
    )


def _trainable_to_fp32(model: Any) -> None:
    """Keep trained weights in fp32 (the fp16 GradScaler refuses fp16 gradients; fp32 masters are safer)."""
    import torch

    for p in model.parameters():
        if p.requires_grad and p.dtype != torch.float32:
            p.data = p.data.float()


def _compute_metrics(config: Any, tokenizer: Any, generate: bool) -> Any:
    if config.task == "sequence-classification":
        return classification_metrics
    if config.task == "seq2seq" and generate:
        return make_rouge_metrics(tokenizer, config.train.rouge_tokenizer)
    return None  # causal-lm and seq2seq without generation: loss only (perplexity added in evaluation_loop)


def _finish_loggers(report_to: list[str]) -> None:
    """End the W&B run of this trial, so the next trial in this worker starts its own."""
    if "wandb" not in report_to:
        return
    import sys

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
    try:
        from torch.utils.tensorboard import SummaryWriter
        from transformers.integrations import TensorBoardCallback
    except ImportError:
        return None, "tensorboard is not installed; no TensorBoard events were written"
    return TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(log_dir))), None


def _needs_final_eval(trainer: Any, checkpointing: bool, guard: LossGuard, reporter_cb: Any) -> bool:
    """Evaluate once more when the last evaluation came before the last step (eval_strategy=steps)."""
    if checkpointing or guard.diverged_step is not None or reporter_cb.pruned:
        return False
    last = max((e["step"] for e in trainer.state.log_history if "eval_loss" in e), default=None)
    return last != trainer.state.global_step


def _eval_entries(log_history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in log_history if any(k.startswith("eval_") for k in e)]


def _final_metrics(state: Any, checkpointing: bool) -> dict[str, float]:
    """Eval metrics at the best evaluation (weights restored by early stopping), else at the last."""
    entries = _eval_entries(state.log_history)
    if not entries:
        return {}
    entry = entries[-1]
    if checkpointing and state.best_global_step is not None:
        best = [e for e in entries if e.get("step") == state.best_global_step]
        if best:
            entry = best[-1]
    return {
        k: float(v)
        for k, v in entry.items()
        if k.startswith("eval_") and isinstance(v, (int, float)) and not k.endswith(("_runtime", "_per_second"))
    }
