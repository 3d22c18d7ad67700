"""Per-task data handling for the HF runner: tokenisation, collators and metrics.

=========================  ==========================================  ===========================
task                       rows -> features                            metrics
=========================  ==========================================  ===========================
sequence-classification    text (+ text pair) -> input_ids; labels     eval_loss, eval_accuracy,
                           mapped to ids                               eval_f1 (macro)
causal-lm                  alpaca prompt + output; prompt tokens get   eval_loss, eval_perplexity
                           label -100 (no loss on the prompt)
seq2seq                    source -> input_ids; target -> labels       eval_loss, eval_rouge1,
                                                                       eval_rouge2, eval_rougeL
                                                                       (ROUGE: with generation,
                                                                       any script, _rouge.py)
=========================  ==========================================  ===========================

Rows are tokenised without padding; the collator pads each batch to its longest
row (dynamic padding), which is much faster than padding to ``max_length`` when
texts are short.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpscout._errors import DataError, RunnerError
from hpscout.runner._rouge import ROUGE_TYPES, check_references, rouge_scorer_for, rouge_tokenizer

__all__ = [
    "TASK_METRICS",
    "IGNORE_INDEX",
    "LabelMap",
    "check_metric",
    "label_map",
    "alpaca_prompt",
    "tokenize",
    "make_collator",
    "classification_metrics",
    "make_rouge_metrics",
    "is_rouge_metric",
    "generates_for_eval",
    "generation_args",
    "check_generation",
    "decode_targets",
    "argmax_logits",
    "perplexity",
]

#: metrics each task's evaluation produces (names as the Trainer reports them)
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "sequence-classification": ("eval_loss", "eval_accuracy", "eval_f1"),
    "causal-lm": ("eval_loss", "eval_perplexity"),
    "seq2seq": ("eval_loss", "eval_rouge1", "eval_rouge2", "eval_rougeL"),
}

#: label id the loss ignores (prompt tokens, padding)
IGNORE_INDEX = -100

_ALPACA_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
)
_ALPACA_NO_INPUT = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:\n"
)


def check_metric(task: str, metric: str) -> None:
    """Raise :class:`RunnerError` when ``search.metric`` is not one ``task`` produces."""
    known = TASK_METRICS.get(task)
    if known is not None and metric not in known:
        raise RunnerError(
            f"search.metric must be a metric the {task} task reports, but got {metric!r}; available: {', '.join(known)}"
        )


@dataclass(frozen=True)
class LabelMap:
    """Class values as found in the data (index = label id)."""

    values: tuple[Any, ...]

    @property
    def num_labels(self) -> int:
        return len(self.values)

    @property
    def names(self) -> list[str]:
        return [str(v) for v in self.values]

    def to_ids(self, column: list[Any]) -> list[int]:
        index = {v: i for i, v in enumerate(self.values)}
        return [index[_label_key(v)] for v in column]


def _label_key(v: Any) -> Any:
    # 1.0 and 1 are the same class; strings stay strings
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return int(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def label_map(train: Any, eval_: Any, column: str, num_labels: int | None = None) -> LabelMap:
    """Classes of ``column`` in train and eval.

    Integer labels ``0..k-1`` keep their ids (``num_labels`` may add unseen classes);
    anything else (strings, ``-1/1``) is mapped to ids in sorted order.
    """
    for name, ds in (("train", train), ("eval", eval_)):
        if column not in ds.column_names:
            raise DataError(f"data.label_column {column!r} is not a column of the {name} data; columns: {', '.join(ds.column_names)}")
    raw = [_label_key(v) for v in list(train[column]) + list(eval_[column])]
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in raw):
        raise DataError(f"label column {column!r} has missing values")
    kinds = {type(v) for v in raw}
    if kinds == {int} and min(raw) >= 0:
        k = max(raw) + 1
        if num_labels is not None:
            if num_labels < k:
                raise DataError(f"model.num_labels is {num_labels}, but label column {column!r} holds ids up to {k - 1}")
            k = num_labels
        values: tuple[Any, ...] = tuple(range(k))
    else:
        try:
            values = tuple(sorted(set(raw)))
        except TypeError:
            values = tuple(sorted(set(raw), key=str))
        if num_labels is not None and num_labels != len(values):
            raise DataError(f"model.num_labels is {num_labels}, but label column {column!r} has {len(values)} classes: {values[:20]}")
    if len(values) < 2:
        raise DataError(f"sequence classification needs at least 2 classes, but label column {column!r} has {list(values)}")
    return LabelMap(values)


def alpaca_prompt(instruction: str, input_: str | None) -> str:
    """The Alpaca prompt (without the response) for one record."""
    if input_ and str(input_).strip():
        return _ALPACA_WITH_INPUT.format(instruction=instruction, input=input_)
    return _ALPACA_NO_INPUT.format(instruction=instruction)


def _require_columns(ds: Any, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in ds.column_names]
    if missing:
        raise DataError(f"the {what} data lacks column(s) {missing} named in the data config; columns: {', '.join(ds.column_names)}")


def _sft_features(prompt_ids: list[int], response_ids: list[int], max_length: int) -> tuple[list[int], list[int]]:
    """Join prompt and response; the prompt's labels are IGNORE_INDEX.

    When the pair is too long, the prompt keeps at most ``max_length - len(response)``
    tokens but never fewer than half of ``max_length``, and the response is cut to fit,
    so a row always keeps some supervised tokens.
    """
    if len(prompt_ids) + len(response_ids) > max_length:
        keep = max(max_length - len(response_ids), max_length // 2)
        prompt_ids = prompt_ids[:keep]
        response_ids = response_ids[: max_length - len(prompt_ids)]
    input_ids = prompt_ids + response_ids
    labels = [IGNORE_INDEX] * len(prompt_ids) + response_ids
    return input_ids, labels


def tokenize(task: str, ds: Any, tokenizer: Any, data: Any, *, labels: LabelMap | None = None, what: str = "train") -> Any:
    """Tokenise a raw dataset for ``task``; returns a dataset of model features (unpadded)."""
    if task == "sequence-classification":
        cols = [data.text_column] + ([data.text_pair_column] if data.text_pair_column else []) + [data.label_column]
        _require_columns(ds, cols, what)

        def fn(batch: dict[str, list[Any]]) -> dict[str, Any]:
            texts = [str(t) for t in batch[data.text_column]]
            pairs = [str(t) for t in batch[data.text_pair_column]] if data.text_pair_column else None
            enc = tokenizer(texts, pairs, truncation=True, max_length=data.max_length)
            enc["labels"] = labels.to_ids(batch[data.label_column]) if labels is not None else batch[data.label_column]
            return dict(enc)

    elif task == "causal-lm":
        _require_columns(ds, [data.instruction_column, data.output_column], what)
        has_input = data.input_column in ds.column_names
        eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id
        bos = tokenizer.bos_token_id

        def fn(batch: dict[str, list[Any]]) -> dict[str, Any]:
            n = len(batch[data.instruction_column])
            inputs = batch[data.input_column] if has_input else [""] * n
            prompts = [alpaca_prompt(str(i), x) for i, x in zip(batch[data.instruction_column], inputs, strict=True)]
            p_ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
            r_ids = tokenizer([str(o) for o in batch[data.output_column]], add_special_tokens=False)["input_ids"]
            out: dict[str, list[Any]] = {"input_ids": [], "attention_mask": [], "labels": []}
            for p, r in zip(p_ids, r_ids, strict=True):
                p = ([bos] if bos is not None else []) + list(p)
                r = list(r) + ([eos] if eos is not None else [])
                ids, lab = _sft_features(p, r, data.max_length)
                out["input_ids"].append(ids)
                out["attention_mask"].append([1] * len(ids))
                out["labels"].append(lab)
            return out

    elif task == "seq2seq":
        _require_columns(ds, [data.text_column, data.target_column], what)

        def fn(batch: dict[str, list[Any]]) -> dict[str, Any]:
            enc = tokenizer([str(t) for t in batch[data.text_column]], truncation=True, max_length=data.max_length)
            target = tokenizer(
                text_target=[str(t) for t in batch[data.target_column]], truncation=True, max_length=data.max_target_length
            )
            out = dict(enc)
            out["labels"] = target["input_ids"]
            return out

    else:
        raise RunnerError(f"the HF runner does not handle task {task!r}")
    # keep_in_memory: subsets are small, and cache files per trial would pile up on disk. A fresh
    # fingerprint skips hashing the closure, which pickles the whole tokenizer (about 0.7 s a call)
    return ds.map(
        fn, batched=True, remove_columns=ds.column_names, keep_in_memory=True, new_fingerprint=f"hpscout-{uuid.uuid4().hex}"
    )


def make_collator(task: str, tokenizer: Any, *, pad_to_max_length: int | None = None) -> Callable[..., Any]:
    """Pad each batch to its longest row (or to ``pad_to_max_length``, for comparisons only)."""
    import transformers

    padding: Any = "max_length" if pad_to_max_length else True
    if task == "sequence-classification":
        return transformers.DataCollatorWithPadding(tokenizer, padding=padding, max_length=pad_to_max_length)
    # pads labels with IGNORE_INDEX so padding never counts in the loss
    return transformers.DataCollatorForSeq2Seq(
        tokenizer, padding=padding, max_length=pad_to_max_length, label_pad_token_id=IGNORE_INDEX
    )


def argmax_logits(logits: Any, labels: Any) -> Any:
    """``preprocess_logits_for_metrics``: keep class ids, not the logits, across eval batches."""
    if isinstance(logits, (tuple, list)):
        logits = logits[0]
    return logits.argmax(dim=-1)


def classification_metrics(eval_pred: Any) -> dict[str, float]:
    """Accuracy and macro-F1 (over the classes present in labels or predictions, as sklearn does)."""
    preds, labels = eval_pred.predictions, eval_pred.label_ids
    if isinstance(preds, (tuple, list)):
        preds = preds[0]
    preds = np.asarray(preds)
    if preds.ndim > 1:
        preds = preds.argmax(axis=-1)
    labels = np.asarray(labels)
    accuracy = float((preds == labels).mean()) if labels.size else float("nan")
    f1s = []
    for c in np.union1d(preds, labels):
        tp = float(np.sum((preds == c) & (labels == c)))
        fp = float(np.sum((preds == c) & (labels != c)))
        fn = float(np.sum((preds != c) & (labels == c)))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return {"accuracy": accuracy, "f1": float(np.mean(f1s)) if f1s else float("nan")}


def is_rouge_metric(metric: str) -> bool:
    """True for the ROUGE metrics seq2seq reports (``eval_rouge1``, ``eval_rouge2``, ``eval_rougeL``)."""
    return metric.startswith("eval_rouge")


def generates_for_eval(config: Any) -> bool:
    """Whether seq2seq evaluation generates text: ``train.predict_with_generate``, unset = on for ROUGE objectives."""
    if config.task != "seq2seq":
        return False
    chosen = config.train.predict_with_generate
    return bool(chosen) if chosen is not None else is_rouge_metric(config.search.metric)


def generation_args(config: Any) -> dict[str, Any]:
    """``Seq2SeqTrainingArguments`` generation fields for a seq2seq config.

    ``generation_max_length`` defaults to ``data.max_target_length``: for encoder-decoder
    models ``max_length`` counts generated tokens, so evaluation stays as short as the targets.
    """
    t = config.train
    return {
        "predict_with_generate": generates_for_eval(config),
        "generation_max_length": t.generation_max_length or config.data.max_target_length,
        "generation_num_beams": t.generation_num_beams,
    }


def check_generation(config: Any) -> None:
    """Raise :class:`RunnerError` when a ROUGE objective is asked for without generation."""
    if config.task == "seq2seq" and is_rouge_metric(config.search.metric) and config.train.predict_with_generate is False:
        raise RunnerError(
            f"search.metric {config.search.metric} scores generated text, but train.predict_with_generate is false; "
            "set it to true (or leave it unset), or use search.metric eval_loss"
        )


def decode_targets(label_ids: Any, tokenizer: Any) -> list[str]:
    """Label id rows (IGNORE_INDEX padding allowed) back to text, special tokens dropped."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    rows = [[pad if int(i) < 0 else int(i) for i in row] for row in label_ids]
    return [t.strip() for t in tokenizer.batch_decode(rows, skip_special_tokens=True)]


def make_rouge_metrics(tokenizer: Any, mode: str = "words") -> Callable[[Any], dict[str, float]]:
    """``compute_metrics`` for seq2seq: mean ROUGE-1/2/L F-measures of generated vs reference text.

    ``mode`` is ``train.rouge_tokenizer`` (:mod:`hpscout.runner._rouge`); a reference
    that tokenizes to nothing raises :class:`DataError` instead of scoring 0.
    """
    split = rouge_tokenizer(mode, tokenizer)
    scorer = rouge_scorer_for(split)

    def compute(eval_pred: Any) -> dict[str, float]:
        preds, labels = eval_pred.predictions, eval_pred.label_ids
        if isinstance(preds, (tuple, list)):
            preds = preds[0]
        pred_text = decode_targets(np.asarray(preds), tokenizer)
        ref_text = decode_targets(np.asarray(labels), tokenizer)
        check_references(ref_text, split)
        totals = dict.fromkeys(ROUGE_TYPES, 0.0)
        for p, r in zip(pred_text, ref_text, strict=True):
            scores = scorer.score(r, p)
            for key in totals:
                totals[key] += scores[key].fmeasure
        n = max(len(pred_text), 1)
        return {key: value / n for key, value in totals.items()}

    return compute


def perplexity(loss: float) -> float:
    """``exp(loss)``, inf when it overflows."""
    try:
        return math.exp(loss)
    except OverflowError:
        return float("inf")
