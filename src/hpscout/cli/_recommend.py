"""``hpscout recommend``: a starting config and search space from the preset tables and the guides' presets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hpscout._errors import ConfigError
from hpscout._io import atomic_write_text
from hpscout.cli._common import JsonOpt, echo_json, info
from hpscout.plan import (
    BUDGET_CHOICES,
    METHOD_CHOICES,
    PRESET_CHOICES,
    TASK_CHOICES,
    USE_CASE_CHOICES,
    parse_model_size,
)
from hpscout.plan import recommend as recommend_config

__all__ = ["recommend"]


def recommend(
    task: Annotated[str | None, typer.Option("--task", help="sequence-classification, causal-lm or seq2seq (default with --use-case: causal-lm).", show_default=False)] = None,
    samples: Annotated[int | None, typer.Option("--samples", help="Training rows (required, unless --use-case gives the guides' size).", show_default=False)] = None,
    model_size: Annotated[str | None, typer.Option("--model-size", help="Model parameters: 22M, 1.1B, 7B, 70B.", show_default=False)] = None,
    params: Annotated[int | None, typer.Option("--params", help="Model parameters as a number.", show_default=False)] = None,
    method: Annotated[str | None, typer.Option("--method", help="lora, qlora or full (default: lora, or the use case's).", show_default=False)] = None,
    budget: Annotated[str, typer.Option("--budget", help="small, medium or large: how much scouting to buy (trials, rows, searched keys).")] = "medium",
    preset: Annotated[str | None, typer.Option("--preset", help="The guides' hyperparameter set: quick, balanced or best (seq2seq guide).", show_default=False)] = None,
    use_case: Annotated[str | None, typer.Option("--use-case", help="The guides' LLM LoRA SFT starting point: chatbot, summarization, prototype, code or creative.", show_default=False)] = None,
    gpu: Annotated[str | None, typer.Option("--gpu", help="Per-device batch and accumulation for A100, H100, 4090, V100, 3090, 3080 or 4060.", show_default=False)] = None,
    gpu_mem: Annotated[float | None, typer.Option("--gpu-mem", help="GPU memory in GB (instead of, or overriding, --gpu's).", show_default=False)] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the YAML here (atomically) instead of printing it.", show_default=False)] = None,
    json_: JsonOpt = False,
) -> None:
    """Print a starting configuration and a search space as YAML in hpscout's config format.

    Chosen by task, data size (<1k, 1k-10k, >10k), model size (<1B, 1-10B, >10B)
    and method, from tables with a source per row (hpscout/plan/_preset_table.py);
    then, when asked, the guides' use case or hyperparameter set, their warmup rule
    (10% by default, LoRA 3-5%, at least 50 steps, at most 20%) and a GPU's batch.
    Every value that differs from hpscout's tables or measurements gets a note.

    \b
    Examples:
      hpscout recommend --task sequence-classification --samples 5000 --model-size 22M --method lora
      hpscout recommend --task causal-lm --samples 50000 --model-size 7B --method qlora --budget small --out rec.yaml
      hpscout recommend --use-case chatbot --model-size 7B --gpu A100
      hpscout recommend --task seq2seq --samples 12000 --model-size 124M --method full --preset balanced --gpu V100
    """

    for flag, value, allowed in (
        ("--use-case", use_case, USE_CASE_CHOICES), ("--preset", preset, PRESET_CHOICES),
        ("--budget", budget, BUDGET_CHOICES), ("--method", method, METHOD_CHOICES),
    ):
        if value is not None and value not in allowed:
            hint = " (the scouting budget moved to --budget small|medium|large)" if flag == "--preset" and value in ("small", "medium", "large") else ""
            raise ConfigError(f"{flag} must be one of {', '.join(allowed)}, but got {value!r}{hint}")
    if use_case is not None and preset is not None:
        raise ConfigError("give --use-case or --preset, not both")
    if task is None and use_case is not None:
        task = "causal-lm"
    if task is None or (samples is None and use_case is None):
        raise ConfigError(f"--task ({', '.join(TASK_CHOICES)}) and --samples (training rows) are required")
    if task not in TASK_CHOICES:
        raise ConfigError(f"--task must be one of {', '.join(TASK_CHOICES)}, but got {task!r}")
    if samples is not None and samples < 1:
        raise ConfigError(f"--samples must be >= 1, but got {samples}")
    if (model_size is None) == (params is None):
        raise ConfigError("give the model size with --model-size (22M, 7B) or --params (a number), exactly one")
    if params is not None and params < 1:
        raise ConfigError(f"--params must be >= 1, but got {params}")
    if gpu_mem is not None and not gpu_mem > 0:
        raise ConfigError(f"--gpu-mem must be a positive number of GB, but got {gpu_mem}")
    n_params = parse_model_size(model_size) if model_size is not None else int(params or 0)

    rec = recommend_config(task, samples, n_params, method, budget, preset=preset, use_case=use_case, gpu=gpu, gpu_mem=gpu_mem)
    if json_:
        text = None
        echo_json(rec.to_dict())
    else:
        text = rec.to_yaml()
    if out is not None:
        atomic_write_text(out, text if text is not None else rec.to_yaml())
        info(f"wrote {out}")
    elif text is not None:
        typer.echo(text, nl=False)
