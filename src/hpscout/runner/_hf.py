"""The Hugging Face runner: ``transformers.Trainer`` + PEFT for classification, causal-LM SFT and seq2seq.

One trial, top to bottom (:meth:`HFRunner.run`, one function a step):

1. check the search metric, resolve device, precision and optimizer name;
2. seed everything, load the subset (:func:`hpscout.data.prepare_data`), tokenise
   without padding (the collator pads each batch to its longest row);
3. build the model (``from_pretrained`` or a tiny ``from_config`` model), wrap it
   for the method (LoRA / QLoRA / full) and, with ``model.adapter``, load a saved adapter;
4. train with a small Trainer subclass that adds what hpscout needs: every step's
   loss goes to the divergence guard, ``one_cycle`` and ``decay_ratio`` schedules,
   perplexity next to the eval loss, and (tests only) fault injection
   (:mod:`hpscout.runner._hf_trainer` builds it);
5. turn the Trainer state into a :class:`TrialResult`, write ``history.csv`` and
   drop checkpoints (unless ``train.save_best_checkpoint``: then ``best_checkpoint/``
   keeps the best weights with a manifest, :func:`hpscout.store.write_checkpoint_manifest`,
   and ``model.adapter`` can start another trial from it).

Training faults (NaN, OOM, exceptions inside ``train()``) become a status here;
setup faults (bad model path, bad data) raise and :func:`run_trial` records them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpscout._errors import RunnerError
from hpscout._imports import try_import
from hpscout.config import config_to_dict
from hpscout.data import prepare_data, subset_size
from hpscout.runner._base import Reporter, Runner, TrialResult, TrialStatus, start_trial
from hpscout.runner._callbacks import history_from_logs, write_history_csv
from hpscout.runner._guards import fault_from_env, status_from_exception, write_traceback
from hpscout.runner._hf_trainer import HFData, HFSetup, TrainerRun, build_trainer, finish_loggers
from hpscout.runner._models import apply_method, count_parameters, load_model, load_tokenizer
from hpscout.runner._optim import resolve_optimizer_name, step_matched_steps
from hpscout.runner._precision import DeviceInfo, Precision, resolve_precision
from hpscout.runner._rouge import check_references, rouge_tokenizer
from hpscout.runner._seed import seed_everything
from hpscout.runner._tasks import (
    check_generation,
    check_metric,
    decode_targets,
    generates_for_eval,
    label_map,
    tokenize,
)
from hpscout.runner._trial import check_adapter_settings
from hpscout.store import load_checkpoint_state, write_checkpoint_manifest

__all__ = ["HFRunner"]


BEST_CHECKPOINT_DIR = "best_checkpoint"


class HFRunner(Runner):
    """Runs sequence-classification, causal-lm and seq2seq trials on ``transformers.Trainer``."""

    tasks = ("sequence-classification", "causal-lm", "seq2seq")

    def run(
        self, config: Any, *, out_dir: Path, fraction: float | None = None, reporter: Reporter | None = None
    ) -> TrialResult:
        out_dir, fraction, reporter = start_trial(config, out_dir, fraction, reporter)
        notes: list[str] = []  # what the trial's message says besides its outcome
        setup = _check_settings(config, notes)  # fails fast, before anything heavy loads
        data = _prepare_data(config, fraction, notes)
        model = _build_model(config, data, setup)
        trainable, total = count_parameters(model)
        max_steps = _run_length(config, data.prepared.full_train_rows, notes)
        run = build_trainer(config, model, data, setup, out_dir=out_dir, reporter=reporter, max_steps=max_steps, notes=notes)
        # faults become a status; checkpoints go whatever happens (Ctrl-C included)
        try:
            outcome = _train(run, out_dir)
            return _result(config, run, outcome, data, out_dir, params=(trainable, total), notes=notes)
        finally:
            shutil.rmtree(run.ckpt_dir, ignore_errors=True)
            finish_loggers(run.report_to)
            # drop the last references here; run_trial's release_memory() then collects them
            del run, model


# --------------------------------------------------------------------------- the steps of a trial


def _check_settings(config: Any, notes: list[str]) -> HFSetup:
    """Check the metric and the libraries, resolve device, precision and optimizer name."""
    train_cfg = config.train
    check_metric(config.task, config.search.metric)
    check_generation(config)
    try_import("torch", "training")
    try_import("datasets", "training data")
    if train_cfg.method != "full":
        try_import("peft", "LoRA")
    device = DeviceInfo.detect()
    precision = resolve_precision(train_cfg.precision, device)
    _note(notes, precision.note)
    if train_cfg.method == "qlora":
        _check_qlora(device, config)
    optim, optim_note = resolve_optimizer_name(train_cfg.optimizer)
    _note(notes, optim_note)
    return HFSetup(device=device, precision=precision, optim=optim, fault=fault_from_env())


def _prepare_data(config: Any, fraction: float, notes: list[str]) -> HFData:
    """The subset for this fraction and the eval rows, tokenised without padding (the collator pads)."""
    seed_everything(config.seed)
    # progress bars would flood the logs of a search; history.csv and TensorBoard carry progress
    try_import("datasets", "training data").disable_progress_bars()
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
        check_references(decode_targets(eval_ds["labels"], tokenizer), rouge_tokenizer(config.train.rouge_tokenizer, tokenizer))
    return HFData(prepared=prepared, tokenizer=tokenizer, labels=labels, train=train_ds, eval=eval_ds, generate=generate)


def _build_model(config: Any, data: HFData, setup: HFSetup) -> Any:
    """The model for the method (LoRA / QLoRA / full), from ``model.adapter`` when set; trained weights in fp32."""
    method = config.train.method
    labels = data.labels
    # seeded so random heads, LoRA matrices and from_config weights repeat
    seed_everything(config.seed)
    model = load_model(
        config,
        tokenizer=data.tokenizer,
        num_labels=labels.num_labels if labels else None,
        label_names=labels.names if labels else None,
        dtype=_weight_dtype(method, setup.precision, setup.device),
        quantization_config=_quantization(setup.precision) if method == "qlora" else None,
    )
    model = apply_method(model, config)
    if config.model.adapter is not None:
        _load_adapter(model, config)
    _trainable_to_fp32(model)
    return model


def _run_length(config: Any, full_train_rows: int, notes: list[str]) -> int | None:
    """``max_steps`` for the Trainer: the scouting fraction's steps with ``scout.step_matched``, else None.

    None leaves the run length to ``train.max_steps`` or ``train.epochs``.
    """
    if not config.scout.step_matched or config.train.max_steps is not None:
        return None
    steps, note = step_matched_steps(config, subset_size(config.scout.fraction, full_train_rows))
    notes.append(note)
    return steps


@dataclass(frozen=True)
class _Outcome:
    """How ``trainer.train()`` ended: status and message (COMPLETE and None unless it raised), seconds taken."""

    status: TrialStatus
    message: str | None
    elapsed: float


def _train(run: TrainerRun, out_dir: Path) -> _Outcome:
    """Train, evaluate once more when the last steps were not evaluated; a raised fault becomes a status."""
    status, message = TrialStatus.COMPLETE, None
    start = time.perf_counter()
    try:
        run.trainer.train()
        if _needs_final_eval(run):
            run.trainer.evaluate()
    except Exception as exc:  # noqa: BLE001 - every training fault becomes a trial status
        status, message = status_from_exception(exc)
        write_traceback(exc, out_dir)
    finally:
        if run.tb_cb is not None and run.tb_cb.tb_writer is not None:
            run.tb_cb.tb_writer.close()
    return _Outcome(status=status, message=message, elapsed=time.perf_counter() - start)


def _result(
    config: Any, run: TrainerRun, outcome: _Outcome, data: HFData, out_dir: Path, *, params: tuple[int, int],
    notes: list[str],
) -> TrialResult:
    """The trial's result from the Trainer state; writes ``history.csv`` and, when asked, ``best_checkpoint/``.

    ``params`` is ``(trainable, total)``; ``notes`` follow the outcome in the message.
    """
    state = run.trainer.state
    history = history_from_logs(state.log_history)
    metrics = _final_metrics(state, run.checkpointing)
    status, message, objective = _status(config, run, outcome, metrics)
    fraction = data.prepared.fraction
    if run.checkpointing and config.train.save_best_checkpoint and status is TrialStatus.COMPLETE:
        run.trainer.save_model(str(out_dir / BEST_CHECKPOINT_DIR))
        _seal_checkpoint(out_dir / BEST_CHECKPOINT_DIR, config, state=state, objective=objective, fraction=fraction)
    write_history_csv(history, out_dir / "history.csv")
    return TrialResult(
        status=status,
        metrics=metrics,
        objective=objective,
        steps=int(state.global_step),
        elapsed_seconds=outcome.elapsed,
        trainable_params=params[0],
        total_params=params[1],
        seed=config.seed,
        fraction=fraction,
        train_samples=len(data.prepared.train),
        samples_processed=run.trainer.scout.samples_processed,
        message=_join(message, notes),
        diverged_step=run.guard.diverged_step if status is TrialStatus.DIVERGED else None,
        history=history,
    )


def _status(
    config: Any, run: TrainerRun, outcome: _Outcome, metrics: dict[str, float]
) -> tuple[TrialStatus, str | None, float | None]:
    """``(status, message, objective)``: divergence and pruning seen by the callbacks, or a missing metric."""
    status, message = outcome.status, outcome.message
    metric = config.search.metric
    if status is TrialStatus.COMPLETE and run.guard.diverged_step is not None:
        status, message = TrialStatus.DIVERGED, run.guard.reason
    elif status is TrialStatus.COMPLETE and run.reporter_cb.pruned:
        status, message = TrialStatus.PRUNED, f"pruned by the reporter after step {run.reporter_cb.last_step}"
    objective = None
    if status is TrialStatus.COMPLETE:
        objective = metrics.get(metric)
        if objective is None:
            status = TrialStatus.FAILED
            message = (
                f"training finished but no evaluation reported {metric!r}; "
                f"reported: {', '.join(sorted(metrics)) or 'nothing'}"
            )
    elif status is TrialStatus.PRUNED:
        objective = run.reporter_cb.last_value
    return status, message, objective


# --------------------------------------------------------------------------- helpers


def _note(notes: list[str], note: str | None) -> None:
    if note:
        notes.append(note)


def _join(message: str | None, notes: list[str]) -> str | None:
    parts = ([message] if message else []) + notes
    return "; ".join(parts) if parts else None


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


def _needs_final_eval(run: TrainerRun) -> bool:
    """Evaluate once more when no evaluation saw the last step.

    With eval_strategy end and steps the Trainer's EvalAtEnd callback already evaluated there; this
    covers a run that stopped short of ``max_steps`` (its TensorBoard writer has closed by now).
    """
    if run.checkpointing or run.guard.diverged_step is not None or run.reporter_cb.pruned:
        return False
    state = run.trainer.state
    last = max((e["step"] for e in state.log_history if "eval_loss" in e), default=None)
    return last != state.global_step


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


def _seal_checkpoint(folder: Path, config: Any, *, state: Any, objective: float | None, fraction: float) -> None:
    """Drop the Trainer's pickled arguments and write the manifest that lets hpscout load the weights back."""
    from transformers.trainer import TRAINING_ARGS_NAME

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
