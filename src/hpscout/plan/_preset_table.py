"""The tables behind ``recommend`` and the lint's LR limits, one row per case, each with its source.

- :data:`PRESET_TABLE`: learning rates, batch and LoRA shape by method and model size;
- :data:`DATA_TABLE`: epochs and warmup by data size (warmup per the guides, with their 50-step floor and
  20% cap, :data:`WARMUP_MIN_STEPS`, :data:`WARMUP_MAX_SHARE`, and LoRA's 3-5%);
- :data:`BUDGET_TABLE`: how much scouting a budget (small, medium, large) buys;
- :data:`HYPERPARAMETER_SETS`: the guides' quick / balanced / best hyperparameter sets (seq2seq);
- :data:`USE_CASES`: the guides' LLM LoRA SFT starting points (chatbot, summarization, prototype, code, creative).

Pure data: no logic beyond the dataclasses (see :mod:`hpscout.plan._presets`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "TASK_CHOICES",
    "METHOD_CHOICES",
    "BUDGET_CHOICES",
    "PRESET_CHOICES",
    "USE_CASE_CHOICES",
    "MODEL_SIZE_BUCKETS",
    "DATA_SIZE_BUCKETS",
    "PresetRow",
    "DataRow",
    "BudgetRow",
    "HyperparameterSet",
    "UseCase",
    "PRESET_TABLE",
    "DATA_TABLE",
    "BUDGET_TABLE",
    "HYPERPARAMETER_SETS",
    "USE_CASES",
    "WARMUP_MIN_STEPS",
    "WARMUP_MAX_SHARE",
    "WARMUP_LORA_SHARE",
]

TASK_CHOICES = ("sequence-classification", "causal-lm", "seq2seq")
METHOD_CHOICES = ("lora", "qlora", "full")
BUDGET_CHOICES = ("small", "medium", "large")
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
    # Epochs: small sets need more passes (Mosbach et al. 2021 train RTE/MRPC/CoLA for 20 epochs; LIMA trains
    # 15 epochs on 1k examples); BERT used 2-4 epochs on GLUE, Alpaca/Vicuna SFT 3.
    # Warmup follows the guides (warmup article): 10% of total steps by default, small data 3-5%, large data 5-10%;
    # at least 50 steps and at most 20% are applied on top (warmup_ratio_for). hpscout's own grid (MiniLM LoRA,
    # SST-2 20k rows, bench/results/finetune_grid.csv) found warmup 0 and 10% within seed noise at the good LRs,
    # so nothing measured here argues against the guides.
    DataRow("<1k", 10, 5, 0.05, "epochs: small sets need more passes (Mosbach et al. 2021; LIMA 15 epochs on 1k); "
            "warmup: the guides' 3-5% for small data"),
    DataRow("1k-10k", 5, 3, 0.1, "epochs: a handful (RoBERTa, BERT GLUE grids); warmup: the guides' default 10%"),
    DataRow(">10k", 3, 2, 0.1, "epochs: BERT 2-4 on GLUE, Alpaca/Vicuna SFT 3; warmup: the guides' 5-10% for large data"),
)

#: the guides' warmup rule on top of the data-size ratio (warmup article): at least this many steps ...
WARMUP_MIN_STEPS = 50
#: ... at most this share of the run ...
WARMUP_MAX_SHARE = 0.2
#: ... and LoRA/QLoRA at 3-5%: the adapter starts at zero (B = 0), so it needs less warmup
WARMUP_LORA_SHARE = 0.05


@dataclass(frozen=True)
class BudgetRow:
    """How much scouting a budget buys."""

    budget: str
    trials: int
    scout_rows: int
    search: tuple[str, ...]
    source: str


BUDGET_TABLE: tuple[BudgetRow, ...] = (
    # TPE needs ~10 trials per searched dimension to beat random search (Optuna docs; Bergstra et al. 2011).
    BudgetRow("small", 12, 500, ("learning_rate",), "one dimension: ~10 trials suffice for TPE"),
    BudgetRow("medium", 30, 1000, ("learning_rate", "warmup_ratio", "lora_r_or_weight_decay"),
              "three dimensions at ~10 trials each"),
    BudgetRow("large", 60, 2000, ("learning_rate", "warmup_ratio", "lora_r_or_weight_decay", "batch_size", "lr_scheduler"),
              "five dimensions; larger rungs so rankings transfer"),
)


@dataclass(frozen=True)
class HyperparameterSet:
    """One of the guides' named hyperparameter sets (Seq2SeqTrainer + Optuna guide: quick, balanced, best)."""

    name: str
    learning_rate: float
    batch_size: int
    grad_accum: int
    epochs: float
    warmup_ratio: float
    lr_scheduler: str
    precision: str  # as the guide writes it; recommend maps fp16 to hpscout's "auto" unless the GPU lacks bf16
    early_stopping_patience: int | None
    source: str


# fmt: off
HYPERPARAMETER_SETS: tuple[HyperparameterSet, ...] = (
    HyperparameterSet("quick", 5e-5, 32, 1, 10, 0.1, "linear", "fp16", None,
                      "the Seq2SeqTrainer guide's quick set: LR 5e-5, batch 32, 10 epochs, warmup 0.1, fp16"),
    HyperparameterSet("balanced", 3e-5, 16, 2, 20, 0.1, "cosine", "fp16", None,
                      "the Seq2SeqTrainer guide's balanced set: LR 3e-5, batch 16, accumulation 2, 20 epochs, "
                      "warmup 0.1, cosine"),
    HyperparameterSet("best", 2e-5, 8, 4, 30, 0.15, "cosine_with_restarts", "fp16", 5,
                      "the Seq2SeqTrainer guide's best set: LR 2e-5, batch 8, accumulation 4, 30 epochs, warmup 0.15, "
                      "cosine_with_restarts, early stopping patience 5"),
)
# fmt: on

PRESET_CHOICES = tuple(s.name for s in HYPERPARAMETER_SETS)


@dataclass(frozen=True)
class UseCase:
    """The guides' starting point for one LLM LoRA SFT use case (training-optimization guide).

    ``None`` marks a value the guides do not give; recommend fills it from the tables above and says so.
    """

    name: str
    samples: int
    method: str
    learning_rate: float | None
    lr_scheduler: str | None
    batch_size: int | None
    grad_accum: int | None
    warmup_ratio: float | None
    guide: str  # the guides' words, printed as they are


# fmt: off
USE_CASES: tuple[UseCase, ...] = (
    UseCase("chatbot", 5_000, "lora", 5e-5, "cosine", 4, 8, 0.1,
            "chatbot: 5k pairs, LR 5e-5, cosine, batch 4 x accumulation 8, generous warmup"),
    UseCase("summarization", 50_000, "lora", 3e-5, None, 8, 4, 0.1,
            "summarization: 50k documents, LR 3e-5, batch 8 x accumulation 4, warmup about 10%"),
    UseCase("prototype", 1_000, "qlora", None, None, None, None, None,
            "fast prototype: QLoRA 4-bit on 1k samples"),
    UseCase("code", 5_000, "lora", 3e-5, "cosine", None, None, 0.1,
            "code generation: LR 3e-5, cosine, careful (longer) warmup"),
    UseCase("creative", 5_000, "lora", 5e-5, "constant_with_warmup", None, None, 0.03,
            "creative writing: LR 5e-5, constant, short warmup"),
)
# fmt: on

USE_CASE_CHOICES = tuple(u.name for u in USE_CASES)
