"""LLaMA-Factory training YAML (``llamafactory-cli train <file>``) from the final config.

Only keys LLaMA-Factory's argument parser accepts are written: every key is checked
against ``data/llamafactory_keys.txt`` (LLaMA-Factory v0.9.5's ModelArguments,
DataArguments, FinetuningArguments, GeneratingArguments and TrainingArguments, with
transformers' Seq2SeqTrainingArguments fields that exist in both transformers 4.57
and 5.6; see the file header). LLaMA-Factory rejects unknown keys.

Task mapping. ``causal-lm`` and ``seq2seq`` map to ``stage: sft``. LLaMA-Factory has no
sequence-classification stage: such runs are still exported (the training keys carry
over to any transformers trainer) with a header warning that the stage, template and
dataset keys target generative fine-tuning. ``torch`` and ``command`` tasks have no
Hugging Face model and are refused.

Settings without a LLaMA-Factory key stay in the file as comments that say why:

* early stopping: ``early_stopping_steps`` is the patience (LLaMA-Factory hands it to
  transformers' ``EarlyStoppingCallback``); there is no key for the threshold.
* ``metric_for_best_model``: LLaMA-Factory refuses ``predict_with_generate`` while training,
  so its evaluations report the loss only; a ROUGE or accuracy objective becomes ``eval_loss``.
* generation (seq2seq): ``max_new_tokens`` and ``num_beams`` serve a later ``do_predict`` run.
* gradient checkpointing: LLaMA-Factory turns it on unless ``disable_gradient_checkpointing``.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import yaml

from hpscout._errors import ExportError
from hpscout.export._prepare import BestModel, Prepared, TrainerSettings, lora_targets, trainer_settings
from hpscout.runner import LEGACY_OPTIMIZERS, generation_args

__all__ = ["llamafactory_keys", "llamafactory_yaml", "LLAMAFACTORY_VERSION"]

#: the LLaMA-Factory release the key list was taken from
LLAMAFACTORY_VERSION = "0.9.5"

_STAGE = {"causal-lm": "sft", "seq2seq": "sft", "sequence-classification": "sft"}

#: an item whose key is this is written as a comment line (a setting LLaMA-Factory has no key for)
_COMMENT = "#"
#: the only metric LLaMA-Factory's SFT evaluation reports while training (no predict_with_generate with do_train)
_LF_TRAINING_METRIC = "eval_loss"

Item = tuple[str, Any, str]


@functools.lru_cache(maxsize=1)
def llamafactory_keys() -> frozenset[str]:
    """Every key LLaMA-Factory's training parser accepts (from ``data/llamafactory_keys.txt``)."""
    text = resources.files("hpscout.export").joinpath("data/llamafactory_keys.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def _scalar(value: Any) -> str:
    """One YAML scalar (or flow list/mapping) as text."""
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10_000).strip()
    return text[:-4].rstrip() if text.endswith("\n...") else text.removesuffix("...").rstrip()


def llamafactory_yaml(prep: Prepared) -> str:
    """The LLaMA-Factory YAML text (provenance header, grouped keys, comments on what to fill in)."""
    cfg = prep.config
    if cfg.task not in _STAGE:
        raise ExportError(
            f"task {cfg.task!r} has no Hugging Face model, so there is no LLaMA-Factory config to write; "
            "use --format json (or hf for the TrainingArguments alone)"
        )
    settings = trainer_settings(prep, "LLaMA-Factory")
    sections: list[tuple[str, list[Item]]] = [
        ("model", _model_items(prep)),
        ("method", _method_items(prep)),
        ("dataset", _dataset_items(prep)),
        ("output", _output_items(prep)),
        ("train", _train_items(prep, settings)),
        ("eval", _eval_items(prep, settings)),
    ]
    keys = llamafactory_keys()
    unknown = [k for _, items in sections for k, _, _ in items if k != _COMMENT and k not in keys]
    if unknown:  # a bug in this exporter, not a user error: fail before writing a file LLaMA-Factory rejects
        raise ExportError(f"internal: keys {unknown} are not LLaMA-Factory v{LLAMAFACTORY_VERSION} keys")
    return _render(_header(prep, settings), sections)


def _header(prep: Prepared, settings: TrainerSettings) -> list[str]:
    """The header comment: what the file is, the task warning, provenance and the full-data plan."""
    header = ["LLaMA-Factory training config: llamafactory-cli train <this file>",
              f"keys checked against LLaMA-Factory v{LLAMAFACTORY_VERSION} (hpscout/export/data/llamafactory_keys.txt)"]
    if prep.config.task == "sequence-classification":
        header += [
            "WARNING: LLaMA-Factory targets generative fine-tuning (pt, sft, rm, ppo, dpo, kto) and has no",
            "sequence-classification stage. The training keys below (LR, schedule, warmup, batch, LoRA) carry",
            "over to any transformers trainer; stage/template/dataset assume you recast the task as SFT.",
        ]
    header += [""] + prep.provenance.header_lines() + ["", "full-data plan:"]
    header += [f"  {ln}" for ln in prep.plan.text.splitlines()]
    return header + ["", f"{settings.precision_note}."]


def _render(header: list[str], sections: list[tuple[str, list[Item]]]) -> str:
    """The YAML text: the header as comments, then one titled block per section."""
    out = [f"# {ln}".rstrip() for ln in header]
    for title, items in sections:
        out.append("")
        out.append(f"### {title}")
        for key, value, comment in items:
            if key == _COMMENT:
                out.append(f"# {comment}")
                continue
            line = f"{key}: {_scalar(value)}"
            out.append(f"{line}  # {comment}" if comment else line)
    return "\n".join(out) + "\n"


def _model_items(prep: Prepared) -> list[Item]:
    cfg = prep.config
    t = cfg.train
    model: list[Item] = [("model_name_or_path", cfg.model.name_or_path,
                          "the alias minilm is hpscout's; give a hub name or folder"
                          if cfg.model.name_or_path == "minilm" else "")]
    if cfg.model.from_config:
        model[0] = ("model_name_or_path", "REPLACE_ME", "scouting used a randomly initialised model (model.from_config)")
    model.append(("trust_remote_code", True, ""))
    model.append(("disable_gradient_checkpointing", not t.gradient_checkpointing,
                  "train.gradient_checkpointing true (LLaMA-Factory's default)" if t.gradient_checkpointing else
                  "train.gradient_checkpointing false as scouted; LLaMA-Factory checkpoints activations unless this "
                  "is true (set false to save memory on large models)"))
    return model


def _method_items(prep: Prepared) -> list[Item]:
    cfg = prep.config
    t = cfg.train
    method: list[Item] = [("stage", _STAGE[cfg.task], ""), ("do_train", True, "")]
    if t.method == "full":
        method.append(("finetuning_type", "full", ""))
        return method
    targets, target_note = lora_targets(cfg)
    lf_target = "all" if targets == "all-linear" else ",".join(targets)
    method += [
        ("finetuning_type", "lora", "qlora = lora on a 4-bit model" if t.method == "qlora" else ""),
        ("lora_rank", t.lora.r, ""),
        ("lora_alpha", int(t.lora.alpha) if float(t.lora.alpha).is_integer() else t.lora.alpha, ""),
        ("lora_dropout", t.lora.dropout, ""),
        ("lora_target", lf_target, target_note or ("hpscout all-linear" if lf_target == "all" else
                                                  f"hpscout preset {t.lora.target}" if isinstance(t.lora.target, str) else "")),
    ]
    if t.method == "qlora":
        method += [("quantization_bit", 4, ""), ("quantization_method", "bnb", "")]
    return method


def _dataset_items(prep: Prepared) -> list[Item]:
    cfg = prep.config
    data = cfg.data
    dataset: list[Item] = [
        ("dataset", "REPLACE_ME", f"register {data.train} in dataset_info.json and name it here"),
        ("dataset_dir", "data", "folder holding dataset_info.json"),
        ("template", "REPLACE_ME", "the model's chat template (llama3, qwen, mistral, ...)"),
        ("cutoff_len", data.max_length if cfg.task != "seq2seq" else data.max_length + data.max_target_length,
         "data.max_length" + (" + data.max_target_length" if cfg.task == "seq2seq" else "")),
        ("overwrite_cache", True, ""),
        ("preprocessing_num_workers", 16, ""),
    ]
    if data.eval is None:
        dataset.append(("val_size", data.eval_split, "data.eval_split (scouting held this share of train out)"))
    else:
        dataset.append(("eval_dataset", "REPLACE_ME", f"register {data.eval} and name it here"))
    return dataset


def _output_items(prep: Prepared) -> list[Item]:
    cfg, plan = prep.config, prep.plan
    t = cfg.train
    output: list[Item] = [
        ("output_dir", f"saves/{cfg.name}/{t.method}/sft", ""),
        ("logging_steps", plan.logging_steps, ""),
        ("plot_loss", True, ""),
        ("overwrite_output_dir", True, ""),
    ]
    output += _logger_items(cfg.name, list(t.report_to))
    if plan.eval_strategy == "steps":
        output += [("save_strategy", "steps", ""), ("save_steps", plan.save_steps, "= eval_steps")]
    else:
        output.append(("save_strategy", "epoch", ""))
    output.append(("save_total_limit", 2, ""))
    return output


def _logger_items(name: str, report_to: list[str]) -> list[Item]:
    """``report_to``, with SwanLab the LLaMA-Factory way: ``use_swanlab`` and its project / run name (LLaMA-Factory
    adds its own SwanLab callback for it, so ``swanlab`` also in ``report_to`` would log every step twice)."""
    others = [r for r in report_to if r != "swanlab"]
    items: list[Item] = [("report_to", ",".join(others) if others else "none", "")]
    if "swanlab" in report_to:
        items += [
            ("use_swanlab", True, "train.report_to has swanlab: LLaMA-Factory's own SwanLab callback"),
            ("swanlab_project", name, "the hpscout run name"),
            ("swanlab_run_name", f"{name}-full", "the full-data run (scouting trials are trial-N@fraction)"),
        ]
    return items


def _lr_comment(prep: Prepared) -> str:
    """How the learning rate was set: as scouted, or lowered for the full run's horizon / by the LR law."""
    c = prep.provenance.lr_correction
    if not c.applied:
        return "as scouted"
    if c.mode == "horizon":
        return f"scouted {c.scouted_lr:.3g} x{c.factor:.2f} for the full run's {c.x_full:,.0f} steps (lr_correction: horizon)"
    return "corrected by the LR law"


def _train_items(prep: Prepared, settings: TrainerSettings) -> list[Item]:
    cfg, plan = prep.config, prep.plan
    t = cfg.train
    train: list[Item] = [
        ("per_device_train_batch_size", t.batch_size, ""),
        ("gradient_accumulation_steps", plan.grad_accum,
         f"effective batch {plan.effective_batch_size} on {plan.devices} device(s)"),
        ("learning_rate", float(f"{t.learning_rate:.6g}"),
         _lr_comment(prep)),
    ]
    if plan.max_steps:
        train.append(("max_steps", plan.max_steps, ""))
    else:
        train.append(("num_train_epochs", float(t.epochs), f"{plan.total_steps:,} optimizer steps" if plan.total_steps else ""))
    train.append(("lr_scheduler_type", settings.scheduler, ""))
    if settings.scheduler_kwargs:
        train.append(("lr_scheduler_kwargs", settings.scheduler_kwargs, ""))
    warm_key = settings.warmup_key
    train.append((warm_key, settings.warmup,
                  (f"= ceil({plan.warmup_ratio:.4g} x {plan.total_steps:,}) steps" if warm_key == "warmup_steps"
                   and plan.warmup_ratio is not None and plan.total_steps else "")))
    optim = LEGACY_OPTIMIZERS.get(t.optimizer, t.optimizer)
    train += [
        ("weight_decay", t.weight_decay, ""),
        ("max_grad_norm", t.max_grad_norm, ""),
        ("optim", optim, "" if optim == t.optimizer else f"{t.optimizer} was removed in transformers 5; same optimizer"),
    ]
    on = [key for key, value in settings.precision_flags.items() if value]
    train += [(key, True, "see the header") for key in on] or [("bf16", False, "fp32: see the header")]
    train.append(("seed", cfg.seed, ""))
    train.append(("ddp_timeout", 180000000, "LLaMA-Factory's examples: long dataset preprocessing on rank 0"))
    return train


def _eval_items(prep: Prepared, settings: TrainerSettings) -> list[Item]:
    plan = prep.plan
    evaluation: list[Item] = [
        ("per_device_eval_batch_size", prep.config.train.eval_batch_size, ""),
        ("eval_strategy", plan.eval_strategy, ""),
    ]
    if plan.eval_strategy == "steps":
        evaluation.append(("eval_steps", plan.eval_steps, ""))
    return evaluation + _best_model_items(settings.best) + _generation_items(prep)


def _best_model_items(best: BestModel) -> list[Item]:
    """load_best_model_at_end, metric_for_best_model, early stopping; comments where LLaMA-Factory differs."""
    items: list[Item] = []
    if best.load_best:
        items.append(("load_best_model_at_end", True, "save_strategy/save_steps match the evaluation"))
    if best.metric is not None:
        if best.metric == _LF_TRAINING_METRIC:
            items += [("metric_for_best_model", best.metric, ""), ("greater_is_better", best.greater_is_better, "")]
        else:
            items += [
                (_COMMENT, None, f"scouting ranked by {best.metric}, which LLaMA-Factory does not compute while training "
                                 "(it refuses predict_with_generate with do_train; evaluations report the loss), so the"),
                (_COMMENT, None, f"best checkpoint{' and early stopping' if best.patience is not None else ''} "
                                 f"follow {_LF_TRAINING_METRIC} here"),
                ("metric_for_best_model", _LF_TRAINING_METRIC, f"scouted: {best.metric}"),
                ("greater_is_better", False, ""),
            ]
    if best.patience is not None:
        items.append(("early_stopping_steps", best.patience,
                      "train.early_stopping.patience: evaluations without improvement (LLaMA-Factory passes it to "
                      "EarlyStoppingCallback as early_stopping_patience)"))
        if best.threshold:
            items.append((_COMMENT, None, f"train.early_stopping.threshold {best.threshold:g} has no LLaMA-Factory key: "
                                          "its EarlyStoppingCallback counts any improvement (threshold 0)"))
    return items


def _generation_items(prep: Prepared) -> list[Item]:
    """seq2seq generation settings: LLaMA-Factory generates only in a separate do_predict run."""
    cfg = prep.config
    if cfg.task != "seq2seq":
        return []
    gen = generation_args(cfg)
    if not gen["predict_with_generate"]:
        return []
    return [
        (_COMMENT, None, "predict_with_generate: scouting scored generated text, but LLaMA-Factory refuses it while "
                         "training (do_train);"),
        (_COMMENT, None, "score ROUGE afterwards with do_predict: true, predict_with_generate: true and these keys"),
        ("max_new_tokens", gen["generation_max_length"], "train.generation_max_length"),
        ("num_beams", gen["generation_num_beams"], "train.generation_num_beams"),
    ]
