"""The task-specific sections: plain PyTorch, any command, LLaMA-Factory."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from hpscout.config._base import _Model

__all__ = ["TorchTaskConfig", "CommandTaskConfig", "LlamaFactoryTaskConfig"]


class TorchTaskConfig(_Model):
    """The plain-PyTorch path: your own nn.Module and data factories."""

    factory: str = Field(..., description="'module:function'; called as factory(config, info) (info: fraction, seed, out_dir, device), returns a hpscout.runner.TorchTask.")


class CommandTaskConfig(_Model):
    """The command path: any training script."""

    argv: list[str] = Field(..., min_length=1, description="The command; '{key}' placeholders take dotted config values ('{train.eval_strategy}' resolved: end, epoch or steps).")
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
