"""Starting configs and search spaces by task, data size, model size, method, use case and GPU.

The numbers live in :mod:`hpscout.plan._preset_table` (one row per case, each with its
source); this module combines them. The lint reads its learning-rate limits from the
same tables (:mod:`hpscout.plan._lr_ranges`), so recommendation and lint never disagree.

Layers, each overriding the one before and saying so in the notes:

1. the tables: LR, batch and LoRA shape by method and model size (causal LMs take the LLM rows of
   :data:`~hpscout.plan._lr_ranges.CAUSAL_LM_LIMITS`); epochs and warmup by data size; the budget's search;
2. ``use_case``: the guides' LLM LoRA SFT starting point (chatbot, summarization, prototype, code, creative);
3. ``preset``: the guides' quick / balanced / best hyperparameter set (seq2seq guide);
4. warmup: the guides' rule (LoRA 3-5%, at least 50 steps, at most 20%) on the resulting step count;
5. ``gpu`` / ``gpu_mem``: per-device batch and accumulation that keep the effective batch
   (:func:`hpscout.plan._hardware.device_batch`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from hpscout._errors import ConfigError
from hpscout.config import ScoutConfig
from hpscout.plan import _preset_table as tables
from hpscout.plan._guides import (
    apply_gpu,
    apply_hyperparameter_set,
    apply_use_case,
    apply_warmup_rule,
    gpu_label,
    human_params,
    round2_up,
    warmup_ratio_for,
)
from hpscout.plan._ladder import WorstCase, plan_ladder
from hpscout.plan._lr_ranges import lr_limits
from hpscout.plan._preset_table import BudgetRow, DataRow, HyperparameterSet, PresetRow, UseCase

__all__ = [
    "Recommendation",
    "recommend",
    "parse_model_size",
    "model_size_bucket",
    "data_size_bucket",
    "preset_row",
    "guess_model_params",
    "warmup_ratio_for",
]


@dataclass(frozen=True)
class Recommendation:
    """A starting configuration plus a search space, in hpscout's config format."""

    task: str
    samples: int
    model_params: int
    method: str
    budget: str
    data_bucket: str
    size_bucket: str
    scout: dict[str, Any]
    train: dict[str, Any]
    search: dict[str, Any]
    sources: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)
    preset: str | None = None
    use_case: str | None = None
    gpu: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The config sections: ``{"task", "scout", "train", "search"}``."""
        return {"task": self.task, "scout": dict(self.scout), "train": dict(self.train), "search": dict(self.search)}

    def to_yaml(self) -> str:
        """The sections as YAML with a comment header saying what was assumed and why."""
        extra = "".join(
            f", {what} {value}" for what, value in (("use case", self.use_case), ("preset", self.preset), ("GPU", self.gpu))
            if value
        )
        head = [
            f"hpscout recommend: task {self.task}, {self.samples:,} samples ({self.data_bucket}), "
            f"{human_params(self.model_params)} parameters ({self.size_bucket}), method {self.method}, "
            f"budget {self.budget}{extra}",
            "Merge these sections into an experiment config (add name, model and data).",
        ]
        head += [f"why: {s}" for s in self.sources]
        head += [f"note: {n}" for n in self.notes]
        body = yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False)
        return "".join(f"# {line}\n" for line in head) + body


# --------------------------------------------------------------------------- lookups


_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMbBtT]?)\s*$")
_SUFFIX = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "t": 10**12}


def parse_model_size(text: str | int | float) -> int:
    """Parse a parameter count like ``22M``, ``1.1B``, ``7B``, ``70b`` or ``350000000``.

    Example:
        >>> parse_model_size("22M"), parse_model_size("7B")
        (22000000, 7000000000)
    """
    if isinstance(text, bool):
        raise ConfigError(f"model size must be a count like 22M, 7B or 70B, but got {text!r}")
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        m = _SIZE_RE.match(str(text))
        if not m:
            raise ConfigError(f"model size must be a count like 22M, 7B or 70B, but got {text!r}")
        value = float(m.group(1)) * _SUFFIX[m.group(2).lower()]
    if not math.isfinite(value) or value < 1:
        raise ConfigError(f"model size must be >= 1 parameter, but got {text!r}")
    return int(round(value))


_NAME_SIZE_RE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*([mMbB])(?![a-zA-Z])")
# model aliases hpscout knows without reading the weights
_KNOWN_MODELS = {"minilm": 22_700_000}


def guess_model_params(name: str | None) -> int | None:
    """Read a parameter count from a model name (``Qwen2.5-7B-Instruct`` -> 7e9), or None.

    Example:
        >>> guess_model_params("meta-llama/Llama-2-70b-hf"), guess_model_params("bert-base-uncased")
        (70000000000, None)
    """
    if not isinstance(name, str) or not name:
        return None
    if name.lower() in _KNOWN_MODELS:
        return _KNOWN_MODELS[name.lower()]
    last = name.rstrip("/").split("/")[-1]
    found = _NAME_SIZE_RE.findall(last)
    if not found:
        return None
    num, unit = found[-1]
    return int(round(float(num) * _SUFFIX[unit.lower()]))


def model_size_bucket(params: int) -> str:
    """``<1B``, ``1-10B`` or ``>10B``."""
    if params < 10**9:
        return "<1B"
    if params <= 10 * 10**9:
        return "1-10B"
    return ">10B"


def data_size_bucket(samples: int) -> str:
    """``<1k``, ``1k-10k`` or ``>10k``."""
    if samples < 1_000:
        return "<1k"
    if samples <= 10_000:
        return "1k-10k"
    return ">10k"


def preset_row(method: str, model_params: int | None) -> PresetRow:
    """The :data:`~hpscout.plan._preset_table.PRESET_TABLE` row for ``method`` and a model size (``None``: the <1B row)."""
    if method not in tables.METHOD_CHOICES:
        raise ConfigError(f"method must be one of {', '.join(tables.METHOD_CHOICES)}, but got {method!r}")
    size = model_size_bucket(model_params) if model_params is not None else "<1B"
    for row in tables.PRESET_TABLE:
        if row.method == method and row.size == size:
            return row
    raise ConfigError(f"no preset row for method {method} and model size {size}")  # pragma: no cover


def _data_row(samples: int) -> DataRow:
    bucket = data_size_bucket(samples)
    return next(r for r in tables.DATA_TABLE if r.bucket == bucket)


def _budget_row(budget: str) -> BudgetRow:
    for row in tables.BUDGET_TABLE:
        if row.budget == budget:
            return row
    raise ConfigError(f"budget must be one of {', '.join(tables.BUDGET_CHOICES)}, but got {budget!r}")


def _choice(rows: tuple[Any, ...], name: str | None, what: str, choices: tuple[str, ...]) -> Any:
    if name is None:
        return None
    for row in rows:
        if row.name == name:
            return row
    raise ConfigError(f"{what} must be one of {', '.join(choices)}, but got {name!r}")


# --------------------------------------------------------------------------- recommend

#: the objective recommend proposes per task: (search.metric, search.direction)
_OBJECTIVE = {
    "sequence-classification": ("eval_accuracy", "maximize"),
    "causal-lm": ("eval_loss", "minimize"),
    # summaries are judged by ROUGE-L of generated text (the guides' Seq2SeqTrainer + Optuna setup), not the loss
    "seq2seq": ("eval_rougeL", "maximize"),
}


def recommend(
    task: str,
    samples: int | None,
    model_params: int | str,
    method: str | None = None,
    budget: str = "medium",
    *,
    preset: str | None = None,
    use_case: str | None = None,
    gpu: str | None = None,
    gpu_mem: float | None = None,
) -> Recommendation:
    """Recommend a starting config and a search space.

    Args:
        task: ``sequence-classification``, ``causal-lm`` or ``seq2seq``.
        samples: training rows (None with a ``use_case``: the guides' typical size for it, said in a note).
        model_params: parameter count (int) or a size like ``"22M"`` / ``"7B"``.
        method: ``lora``, ``qlora`` or ``full`` (default: the use case's, else ``lora``).
        budget: ``small``, ``medium`` or ``large``: how much scouting to buy (trials, rows, searched keys).
        preset: the guides' hyperparameter set ``quick``, ``balanced`` or ``best`` (seq2seq guide).
        use_case: the guides' LLM LoRA SFT starting point: ``chatbot``, ``summarization``, ``prototype``,
            ``code`` or ``creative``.
        gpu: a GPU name (``A100``, ``H100``, ``4090``, ``V100``, ``3090``, ``3080``, ``4060``): per-device batch
            and accumulation for it, keeping the effective batch.
        gpu_mem: GPU memory in GB (instead of, or overriding, the GPU's).

    Example:
        >>> rec = recommend("sequence-classification", 5000, "22M", "lora", "medium")
        >>> rec.train["learning_rate"]
        0.002
        >>> rec = recommend("causal-lm", None, "7B", use_case="chatbot")
        >>> rec.samples, rec.train["learning_rate"], rec.train["lr_scheduler"], rec.train["grad_accum"]
        (5000, 5e-05, 'cosine', 8)
    """
    notes: list[str] = []
    case, hp, samples = _check_inputs(task, samples, preset, use_case, notes)
    method = method or (case.method if case is not None else "lora")
    params = parse_model_size(model_params)
    row = _lr_row(task, method, params)
    data = _data_row(samples)
    spend = _budget_row(budget)
    sources = [f"learning rate, batch: {row.source}", f"epochs, warmup: {data.source}", f"budget: {spend.source}"]

    train = _base_train(task, method, row, data, notes)
    if case is not None:
        apply_use_case(train, case, row, notes, sources)
    if hp is not None:
        apply_hyperparameter_set(train, hp, task, samples, row, notes, sources)
    explicit_warmup = (case is not None and case.warmup_ratio is not None) or hp is not None
    apply_warmup_rule(train, samples, method, explicit=explicit_warmup, notes=notes)
    space = _space(spend, method, row, train)
    if gpu is not None or gpu_mem is not None:
        apply_gpu(train, space, params, method, gpu, gpu_mem, notes, sources)

    search: dict[str, Any] = {
        "trials": spend.trials,
        "pruner": "hyperband",
        "metric": _OBJECTIVE[task][0],
        "direction": _OBJECTIVE[task][1],
        "space": space,
    }
    scout = _scout_section(samples, spend.scout_rows, train, space)
    if scout.pop("raised_for_steps"):
        notes.append(
            f"the scouting fraction is {scout['fraction']:g}, not the ~{spend.scout_rows:,} rows of the budget: "
            f"below {scout['min_steps']} optimizer steps a rung ranks learning rates by how fast they move "
            "(scout.min_steps)"
        )
    if scout["fraction"] == 1.0:
        notes.append(f"{samples:,} rows is small enough to scout on all of it")
    return Recommendation(
        task=task, samples=samples, model_params=params, method=method, budget=budget, data_bucket=data.bucket,
        size_bucket=row.size, scout=scout, train=train, search=search, sources=tuple(sources), notes=tuple(notes),
        preset=preset, use_case=use_case, gpu=gpu_label(gpu, gpu_mem),
    )


def _check_inputs(
    task: str, samples: int | None, preset: str | None, use_case: str | None, notes: list[str]
) -> tuple[UseCase | None, HyperparameterSet | None, int]:
    """The use case and hyperparameter set named (at most one), and the row count (a use case's when None)."""
    case: UseCase | None = _choice(tables.USE_CASES, use_case, "use case", tables.USE_CASE_CHOICES)
    hp: HyperparameterSet | None = _choice(tables.HYPERPARAMETER_SETS, preset, "preset", tables.PRESET_CHOICES)
    if case is not None and hp is not None:
        raise ConfigError(f"give a use case or a preset, not both (use case {case.name!r}, preset {hp.name!r})")
    if task not in tables.TASK_CHOICES:
        raise ConfigError(f"task must be one of {', '.join(tables.TASK_CHOICES)}, but got {task!r}")
    if samples is None and case is not None:
        samples = case.samples
        notes.append(f"assumed {samples:,} rows, the guides' size for the {case.name} case: pass --samples for yours")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ConfigError(f"samples must be an integer >= 1, but got {samples!r}")
    return case, hp, samples


def _lr_row(task: str, method: str, params: int) -> PresetRow:
    """The preset row; causal LMs take their learning rates from the LLM rows (CAUSAL_LM_LIMITS), since the
    ``<1B`` preset rows were measured on a 22M encoder."""
    row = preset_row(method, params)
    if task != "causal-lm":
        return row
    lim = lr_limits(method, row.size, causal_lm=True)
    return replace(row, lr=lim.start, lr_low=lim.low, lr_high=lim.high, source=lim.source)


def _base_train(task: str, method: str, row: PresetRow, data: DataRow, notes: list[str]) -> dict[str, Any]:
    classification = task == "sequence-classification"
    train: dict[str, Any] = {
        "method": method,
        "learning_rate": row.lr,
        # BERT-style linear decay for classifiers; cosine is the common choice for LLM SFT (Alpaca, LLaMA-Factory)
        "lr_scheduler": "linear" if task != "causal-lm" else "cosine",
        "warmup_ratio": data.warmup_ratio,
        "epochs": float(data.epochs_classification if classification else data.epochs_generation),
        "batch_size": row.batch_size,
        "grad_accum": row.grad_accum,
        "weight_decay": row.weight_decay,
        "max_grad_norm": 1.0,
        "precision": "auto",
    }
    if method in ("lora", "qlora"):
        train["lora"] = {"r": row.lora_r, "alpha": row.lora_alpha, "dropout": 0.05, "target": row.lora_target}
    if method == "qlora" and row.size == "<1B":
        notes.append("QLoRA rarely pays on models under 1B parameters; plain LoRA fits in memory and trains faster")
    if method == "full" and row.size == ">10B":
        notes.append("full fine-tuning above 10B parameters needs sharded training (FSDP/DeepSpeed); LoRA is the usual choice")
    return train


def _space(spend: BudgetRow, method: str, row: PresetRow, train: dict[str, Any]) -> dict[str, dict[str, Any]]:
    lr = float(train["learning_rate"])
    space: dict[str, dict[str, Any]] = {
        "train.learning_rate": {"type": "float", "low": min(row.lr_low, lr), "high": max(row.lr_high, lr), "log": True},
    }
    if "warmup_ratio" in spend.search:
        choices = sorted({0.0, 0.03, 0.06, 0.1, float(train["warmup_ratio"])})
        space["train.warmup_ratio"] = {"type": "categorical", "choices": choices}
    if "lora_r_or_weight_decay" in spend.search:
        if method in ("lora", "qlora") and row.lora_r is not None:
            r = row.lora_r
            space["train.lora.r"] = {"type": "categorical", "choices": [r // 2, r, r * 2]}
        else:
            space["train.weight_decay"] = {"type": "categorical", "choices": [0.0, 0.01, 0.1]}
    if "batch_size" in spend.search:
        b = int(train["batch_size"])
        space["train.batch_size"] = {"type": "categorical", "choices": sorted({max(1, b // 2), b, b * 2})}
    if "lr_scheduler" in spend.search:
        space["train.lr_scheduler"] = {"type": "categorical", "choices": ["linear", "cosine", "constant_with_warmup"]}
    return space


# scouting below ~100 rows per rung ranks configs mostly by noise
_MIN_RUNG_ROWS = 100


def _worst_case(train: dict[str, Any], space: dict[str, dict[str, Any]]) -> WorstCase:
    """The fewest-steps settings of a recommendation: its largest searched batch size."""
    batches = space.get("train.batch_size", {}).get("choices") or [train["batch_size"]]
    return WorstCase(
        batch_size=int(max(batches)), grad_accum=int(train["grad_accum"]), devices=1, epochs=float(train["epochs"]),
        max_steps=None,
    )


def _scout_section(
    samples: int, target_rows: int, train: dict[str, Any], space: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The scouting fraction and ladder: ~``target_rows`` rows, rungs at 1/4 and 1/2 of it, every rung
    meeting the step floor (``scout.min_steps``' default) in the worst case of the space."""
    min_steps = int(ScoutConfig.model_fields["min_steps"].default)
    worst = _worst_case(train, space)
    fraction = 1.0 if samples <= target_rows else _round2(target_rows / samples)
    fraction = min(1.0, max(fraction, 0.001))
    raised = False
    try:
        floor_fraction = plan_ladder([fraction], fraction, samples, worst, min_steps=min_steps).fraction
    except ConfigError:  # even all rows are under the floor: scout on all of them
        floor_fraction = 1.0
    if floor_fraction > fraction:
        fraction, raised = min(1.0, round2_up(floor_fraction)), True
    rungs: list[float] = []
    for div in (4, 2):
        f = _round2(fraction / div)
        if f * samples >= _MIN_RUNG_ROWS and f < fraction and (not rungs or f > rungs[-1]):
            rungs.append(f)
    rungs.append(fraction)
    try:
        kept = plan_ladder(rungs, fraction, samples, worst, min_steps=min_steps).fidelities
    except ConfigError:
        kept = [fraction]
    return {"fraction": fraction, "fidelities": kept, "min_steps": min_steps, "raised_for_steps": raised}


def _round2(x: float) -> float:
    return float(f"{x:.2g}")
