"""Starting configs and search spaces by task, data size, model size and method.

The numbers live in :data:`PRESET_TABLE` (one row per method and model size:
learning rates, batch, LoRA shape) with a comment per row saying where they
come from. Two small tables add what depends on the data size
(:data:`DATA_TABLE`: epochs, warmup) and on the budget (:data:`BUDGET_TABLE`:
trials, scouting rows, what is searched). The lint rules read their learning-rate
limits from the same :data:`PRESET_TABLE`, so recommendation and lint never disagree.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from hpscout._errors import ConfigError
from hpscout.plan._ladder import WorstCase, plan_ladder

__all__ = [
    "TASK_CHOICES",
    "METHOD_CHOICES",
    "PRESET_CHOICES",
    "PresetRow",
    "DataRow",
    "BudgetRow",
    "PRESET_TABLE",
    "DATA_TABLE",
    "BUDGET_TABLE",
    "Recommendation",
    "recommend",
    "parse_model_size",
    "model_size_bucket",
    "data_size_bucket",
    "preset_row",
    "guess_model_params",
]

TASK_CHOICES = ("sequence-classification", "causal-lm", "seq2seq")
METHOD_CHOICES = ("lora", "qlora", "full")
PRESET_CHOICES = ("quick", "balanced", "best")
MODEL_SIZE_BUCKETS = ("<1B", "1-10B", ">10B")
DATA_SIZE_BUCKETS = ("<1k", "1k-10k", ">10k")


@dataclass(frozen=True)
class PresetRow:
    """Learning rates and batch shape for one (method, model size bucket).

    ``lr`` is the starting point, ``lr_low..lr_high`` the log-scale search range.
    The lint warns above ``lr_warn_above``, errors above ``lr_error_above`` and
    notes (info) LRs below ``lr_info_below`` when the model size is known.
    """

    method: str
    size: str
    lr: float
    lr_low: float
    lr_high: float
    lr_warn_above: float
    lr_error_above: float
    lr_info_below: float
    batch_size: int
    grad_accum: int
    weight_decay: float
    lora_r: int | None
    lora_alpha: float | None
    lora_target: str | None
    source: str


# fmt: off
PRESET_TABLE: tuple[PresetRow, ...] = (
    # Full fine-tuning of encoders / small models: BERT (Devlin et al. 2019) searched {2e-5, 3e-5, 5e-5} at batch
    # 16/32; RoBERTa used 1e-5..3e-5. Above ~1e-4 BERT-size runs collapse often (Mosbach et al. 2021).
    PresetRow("full", "<1B", 3e-5, 1e-5, 1e-4, 1e-4, 1e-3, 5e-6, 16, 1, 0.01, None, None, None,
              "BERT/RoBERTa fine-tuning grids (2e-5..5e-5); >1e-4 tends to collapse (Mosbach et al. 2021)"),
    # Full fine-tuning of 1-10B LLMs: Alpaca 7B used 2e-5 at global batch 128; Llama-2 SFT used 2e-5.
    PresetRow("full", "1-10B", 1e-5, 5e-6, 5e-5, 5e-5, 5e-4, 1e-6, 4, 8, 0.0, None, None, None,
              "Alpaca 7B and Llama-2 SFT used 2e-5 for full fine-tuning"),
    # Full fine-tuning of >10B LLMs: Llama-2-70B SFT 2e-5; bigger models want smaller steps, so start lower.
    PresetRow("full", ">10B", 1e-5, 3e-6, 3e-5, 5e-5, 5e-4, 1e-6, 1, 16, 0.0, None, None, None,
              "Llama-2 70B SFT used 2e-5; larger models tolerate less"),
    # LoRA on small encoders (MiniLM 22M, BERT-base 110M): measured in this project on MiniLM-L6 classification,
    # 2e-3..3e-3 worked and 5e-4 stayed at chance; the LoRA paper used 4e-4..5e-4 on RoBERTa-base/large with
    # many epochs. Hence a high start and a wide log range; only above 1e-2 is it unusual.
    PresetRow("lora", "<1B", 2e-3, 3e-4, 1e-2, 1e-2, 1e-1, 1e-3, 16, 1, 0.0, 8, 16, "qv",
              "measured on MiniLM-L6 (22M): 2e-3..3e-3 worked, 5e-4 stayed at chance; LoRA paper 4e-4..5e-4 on RoBERTa"),
    # LoRA on 1-10B LLMs: QLoRA paper 2e-4 for 7B/13B; LLaMA-Factory's LoRA SFT examples use 1e-4.
    PresetRow("lora", "1-10B", 2e-4, 5e-5, 1e-3, 1e-3, 1e-2, 1e-5, 4, 4, 0.0, 16, 32, "all-linear",
              "QLoRA paper 2e-4 for 7B/13B; LLaMA-Factory LoRA SFT examples 1e-4"),
    # LoRA on >10B LLMs: QLoRA paper 1e-4 for 33B/65B.
    PresetRow("lora", ">10B", 1e-4, 3e-5, 5e-4, 5e-4, 5e-3, 5e-6, 1, 16, 0.0, 16, 32, "all-linear",
              "QLoRA paper 1e-4 for 33B/65B"),
    # QLoRA on <1B: quantising a small model rarely pays; the adapter behaves like LoRA on the same model.
    PresetRow("qlora", "<1B", 2e-3, 3e-4, 1e-2, 1e-2, 1e-1, 1e-3, 16, 1, 0.0, 8, 16, "qv",
              "same as LoRA on small models (the adapter is the same; only the frozen base is 4-bit)"),
    # QLoRA on 1-10B: QLoRA paper 2e-4 (7B/13B), LLaMA-Factory QLoRA examples 1e-4.
    PresetRow("qlora", "1-10B", 2e-4, 5e-5, 5e-4, 1e-3, 1e-2, 1e-5, 4, 4, 0.0, 16, 32, "all-linear",
              "QLoRA paper 2e-4 for 7B/13B; LLaMA-Factory QLoRA examples 1e-4"),
    # QLoRA on >10B: QLoRA paper 1e-4 (33B/65B).
    PresetRow("qlora", ">10B", 1e-4, 3e-5, 3e-4, 5e-4, 5e-3, 5e-6, 1, 16, 0.0, 16, 32, "all-linear",
              "QLoRA paper 1e-4 for 33B/65B"),
)
# fmt: on


@dataclass(frozen=True)
class DataRow:
    """Epochs and warmup for one data size bucket."""

    bucket: str
    epochs_classification: float
    epochs_generation: float
    warmup_ratio: float
    source: str


DATA_TABLE: tuple[DataRow, ...] = (
    # Small sets need more passes and more warmup to be stable: Mosbach et al. 2021 train RTE/MRPC/CoLA for 20
    # epochs; LIMA (Zhou et al. 2023) trains 15 epochs on 1k examples.
    DataRow("<1k", 10, 5, 0.1, "small sets need more epochs (Mosbach et al. 2021; LIMA trains 15 epochs on 1k)"),
    # Medium sets: RoBERTa's 6% warmup; a handful of epochs.
    DataRow("1k-10k", 5, 3, 0.06, "RoBERTa's 6% warmup; a handful of epochs"),
    # Large sets: BERT's 2-4 epochs on GLUE; Alpaca/Vicuna SFT used 3 epochs with 3% warmup.
    DataRow(">10k", 3, 2, 0.03, "BERT 2-4 epochs on GLUE; Alpaca/Vicuna SFT 3% warmup"),
)


@dataclass(frozen=True)
class BudgetRow:
    """How much scouting a preset buys."""

    preset: str
    trials: int
    scout_rows: int
    search: tuple[str, ...]
    source: str


BUDGET_TABLE: tuple[BudgetRow, ...] = (
    # TPE needs ~10 trials per searched dimension to beat random search (Optuna docs; Bergstra et al. 2011).
    BudgetRow("quick", 12, 500, ("learning_rate",), "one dimension: ~10 trials suffice for TPE"),
    BudgetRow("balanced", 30, 1000, ("learning_rate", "warmup_ratio", "lora_r_or_weight_decay"),
              "three dimensions at ~10 trials each"),
    BudgetRow("best", 60, 2000, ("learning_rate", "warmup_ratio", "lora_r_or_weight_decay", "batch_size", "lr_scheduler"),
              "five dimensions; larger rungs so rankings transfer"),
)


@dataclass(frozen=True)
class Recommendation:
    """A starting configuration plus a search space, in hpscout's config format."""

    task: str
    samples: int
    model_params: int
    method: str
    preset: str
    data_bucket: str
    size_bucket: str
    scout: dict[str, Any]
    train: dict[str, Any]
    search: dict[str, Any]
    sources: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """The config sections: ``{"task", "scout", "train", "search"}``."""
        return {"task": self.task, "scout": dict(self.scout), "train": dict(self.train), "search": dict(self.search)}

    def to_yaml(self) -> str:
        """The sections as YAML with a comment header saying what was assumed and why."""
        head = [
            f"hpscout recommend: task {self.task}, {self.samples:,} samples ({self.data_bucket}), "
            f"{_human_params(self.model_params)} parameters ({self.size_bucket}), method {self.method}, preset {self.preset}",
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
    """The :data:`PRESET_TABLE` row for ``method`` and a model size (``None``: the <1B row)."""
    if method not in METHOD_CHOICES:
        raise ConfigError(f"method must be one of {', '.join(METHOD_CHOICES)}, but got {method!r}")
    size = model_size_bucket(model_params) if model_params is not None else "<1B"
    for row in PRESET_TABLE:
        if row.method == method and row.size == size:
            return row
    raise ConfigError(f"no preset row for method {method} and model size {size}")  # pragma: no cover


def _data_row(samples: int) -> DataRow:
    bucket = data_size_bucket(samples)
    return next(r for r in DATA_TABLE if r.bucket == bucket)


def _budget_row(preset: str) -> BudgetRow:
    for row in BUDGET_TABLE:
        if row.preset == preset:
            return row
    raise ConfigError(f"preset must be one of {', '.join(PRESET_CHOICES)}, but got {preset!r}")


# --------------------------------------------------------------------------- recommend

#: the objective recommend proposes per task: (search.metric, search.direction)
_OBJECTIVE = {
    "sequence-classification": ("eval_accuracy", "maximize"),
    "causal-lm": ("eval_loss", "minimize"),
    # summaries are judged by ROUGE-L of generated text (the guides' Seq2SeqTrainer + Optuna setup), not the loss
    "seq2seq": ("eval_rougeL", "maximize"),
}


def recommend(task: str, samples: int, model_params: int | str, method: str = "lora", preset: str = "balanced") -> Recommendation:
    """Recommend a starting config and a search space.

    Args:
        task: ``sequence-classification``, ``causal-lm`` or ``seq2seq``.
        samples: training rows.
        model_params: parameter count (int) or a size like ``"22M"`` / ``"7B"``.
        method: ``lora``, ``qlora`` or ``full``.
        preset: ``quick``, ``balanced`` or ``best`` (how much scouting to buy).

    Example:
        >>> rec = recommend("sequence-classification", 5000, "22M", "lora", "balanced")
        >>> rec.train["learning_rate"]
        0.002
    """
    if task not in TASK_CHOICES:
        raise ConfigError(f"task must be one of {', '.join(TASK_CHOICES)}, but got {task!r}")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ConfigError(f"samples must be an integer >= 1, but got {samples!r}")
    params = parse_model_size(model_params)
    row = preset_row(method, params)
    data = _data_row(samples)
    budget = _budget_row(preset)
    classification = task == "sequence-classification"
    notes: list[str] = []

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

    space: dict[str, dict[str, Any]] = {
        "train.learning_rate": {"type": "float", "low": row.lr_low, "high": row.lr_high, "log": True},
    }
    if "warmup_ratio" in budget.search:
        space["train.warmup_ratio"] = {"type": "categorical", "choices": [0.0, 0.03, 0.06, 0.1]}
    if "lora_r_or_weight_decay" in budget.search:
        if method in ("lora", "qlora") and row.lora_r is not None:
            r = row.lora_r
            space["train.lora.r"] = {"type": "categorical", "choices": [r // 2, r, r * 2]}
        else:
            space["train.weight_decay"] = {"type": "categorical", "choices": [0.0, 0.01, 0.1]}
    if "batch_size" in budget.search:
        b = row.batch_size
        space["train.batch_size"] = {"type": "categorical", "choices": sorted({max(1, b // 2), b, b * 2})}
    if "lr_scheduler" in budget.search:
        space["train.lr_scheduler"] = {"type": "categorical", "choices": ["linear", "cosine", "constant_with_warmup"]}

    search: dict[str, Any] = {
        "trials": budget.trials,
        "pruner": "hyperband",
        "metric": _OBJECTIVE[task][0],
        "direction": _OBJECTIVE[task][1],
        "space": space,
    }
    scout = _scout_section(samples, budget.scout_rows, train, space)
    if scout.pop("raised_for_steps"):
        notes.append(
            f"the scouting fraction is {scout['fraction']:g}, not the ~{budget.scout_rows:,} rows of the budget: "
            f"below {scout['min_steps']} optimizer steps a rung ranks learning rates by how fast they move "
            "(scout.min_steps)"
        )
    if scout["fraction"] == 1.0:
        notes.append(f"{samples:,} rows is small enough to scout on all of it")

    return Recommendation(
        task=task,
        samples=samples,
        model_params=params,
        method=method,
        preset=preset,
        data_bucket=data.bucket,
        size_bucket=row.size,
        scout=scout,
        train=train,
        search=search,
        sources=(f"learning rate, batch: {row.source}", f"epochs, warmup: {data.source}", f"budget: {budget.source}"),
        notes=tuple(notes),
    )


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
    from hpscout.config import ScoutConfig

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
        fraction, raised = min(1.0, _round2_up(floor_fraction)), True
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


def _round2_up(x: float) -> float:
    """``x`` rounded up to 2 significant digits."""
    exp = math.floor(math.log10(x)) - 1
    return math.ceil(x / 10**exp - 1e-9) * 10**exp if x > 0 else x


def _round2(x: float) -> float:
    return float(f"{x:.2g}")


def _human_params(n: int) -> str:
    for unit, scale in (("T", 10**12), ("B", 10**9), ("M", 10**6), ("k", 10**3)):
        if n >= scale:
            return f"{n / scale:g}{unit}"
    return str(n)
