"""``hpscout init --from-llamafactory``: a scouting config whose base is the user's LLaMA-Factory YAML.

The mapped keys (:data:`~hpscout.llamafactory.MAPPED_KEYS`) become hpscout keys, so the
search space, the ablation and the full-data export can change them; every other key is
kept verbatim in ``llamafactory.args``. The search space and the scouting fractions come
from :func:`hpscout.plan.recommend` for the model size and the dataset size read from the
file.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpscout._errors import ConfigError
from hpscout.config import ExperimentConfig, apply_updates, config_from_dict, load_yaml_file, save_config
from hpscout.data import load_table
from hpscout.export import llamafactory_keys
from hpscout.llamafactory._dataset import resolve_datasets
from hpscout.llamafactory._keys import MAPPED_KEYS, check_keys, updates_from_llamafactory
from hpscout.plan import guess_model_params, recommend
from hpscout.search import resolve_scout

__all__ = [
    "DEFAULT_VENV",
    "LlamaFactoryFile",
    "ScoutDraft",
    "model_params",
    "read_llamafactory_file",
    "scout_config_from_llamafactory",
    "write_scout_config",
]

#: where ``make setup-llamafactory`` puts LLaMA-Factory (its interpreter is the default when it exists)
DEFAULT_VENV = ".venv-llamafactory"
#: the size assumed when neither the folder nor the name tells it: LLaMA-Factory users mostly tune 1-10B models
_ASSUMED_PARAMS = 7_000_000_000


@dataclass(frozen=True)
class LlamaFactoryFile:
    """A LLaMA-Factory training YAML: where it is and its keys (checked against LLaMA-Factory's)."""

    path: Path
    args: dict[str, Any]
    lines: dict[str, int]


@dataclass(frozen=True)
class ScoutDraft:
    """The scouting config made from a LLaMA-Factory file, and what the header tells the user."""

    config: ExperimentConfig
    header: str


def read_llamafactory_file(path: str | Path) -> LlamaFactoryFile:
    """Read a LLaMA-Factory training YAML; ConfigError for keys LLaMA-Factory would reject or hpscout refuses."""

    p = Path(path)
    data, positions = load_yaml_file(p)
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{p} must hold a mapping of LLaMA-Factory keys (a training YAML for llamafactory-cli train)")
    check_keys(data, llamafactory_keys(), source=str(p), lines=positions)
    return LlamaFactoryFile(path=p.resolve(), args=dict(data), lines=dict(positions))


def _safetensors_params(folder: Path) -> int | None:
    """Parameters in a folder's ``*.safetensors`` files, from their JSON headers (no weights read)."""
    total = 0
    for file in sorted(folder.glob("*.safetensors")):
        try:
            with open(file, "rb") as fh:
                size = int.from_bytes(fh.read(8), "little")
                header = json.loads(fh.read(size))
        except (OSError, ValueError):
            return None
        total += sum(math.prod(v["shape"]) for k, v in header.items() if k != "__metadata__")
    return total or None


def model_params(name_or_path: str) -> tuple[int | None, str]:
    """The model's parameter count and how it was found: counted in a local folder, or read from the name.

    Example:
        >>> model_params("Qwen/Qwen2.5-0.5B-Instruct")
        (500000000, 'read from the model name')
    """

    folder = Path(name_or_path).expanduser()
    if folder.is_dir():
        counted = _safetensors_params(folder)
        if counted:
            return counted, f"counted in {folder}/*.safetensors"
    guessed = guess_model_params(name_or_path)
    return (guessed, "read from the model name") if guessed else (None, "unknown")


def _default_python() -> str:
    local = Path.cwd() / DEFAULT_VENV / "bin" / "python"
    return str(local) if local.exists() else "python3"


def _run_name(path: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-._")
    return name[:100] or "llamafactory"


def scout_config_from_llamafactory(path: str | Path, *, python: str | None = None, budget: str = "medium") -> ScoutDraft:
    """The scouting config for a LLaMA-Factory training YAML.

    Args:
        path: the LLaMA-Factory file (``llamafactory-cli train <path>``).
        python: interpreter with LLaMA-Factory; default ``./.venv-llamafactory/bin/python`` when it exists,
            else ``python3``.
        budget: how much scouting :func:`hpscout.plan.recommend` proposes (small, medium, large).

    Example:
        >>> draft = scout_config_from_llamafactory("examples/llamafactory_sft.yaml")  # doctest: +SKIP
        >>> sorted(draft.config.search.space)  # doctest: +SKIP
        ['train.learning_rate', 'train.lora.r', 'train.warmup_ratio']
    """

    lf = read_llamafactory_file(path)
    datasets = resolve_datasets(lf.args, lf.path)
    rows = int(load_table(str(datasets.train)).num_rows)
    updates, notes = updates_from_llamafactory(lf.args, rows=rows, source=str(lf.path))

    params, how = model_params(updates["model.name_or_path"])
    if params is None:
        notes.append(f"the size of {updates['model.name_or_path']} is unknown: the search space assumes 7B (the 1-10B row)")
    rec = recommend("causal-lm", rows, params or _ASSUMED_PARAMS, method=updates["train.method"], budget=budget)
    space = dict(rec.search["space"])
    if updates["train.warmup_steps"] is not None and space.pop("train.warmup_ratio", None) is not None:
        notes.append("warmup is given in steps (warmup_steps), so warmup_ratio is not searched")

    base: dict[str, Any] = {
        "name": _run_name(lf.path),
        "task": "llamafactory",
        "model": {"name_or_path": updates["model.name_or_path"]},
        "data": {"train": str(datasets.train), "eval": str(datasets.eval) if datasets.eval else None},
        "scout": rec.scout,
        "search": {k: v for k, v in rec.search.items() if k != "space"} | {"space": space},
        "llamafactory": {
            "base": str(lf.path),
            "args": {k: v for k, v in lf.args.items() if k not in MAPPED_KEYS},
            "dataset_info": datasets.info,
            "python": python or _default_python(),
        },
    }
    config = apply_updates(config_from_dict(base, source=str(lf.path)), updates, source=str(lf.path))
    config = _floor_ladder(config, notes)
    header = _header(lf, config, rows, params, how, rec.sources, notes)
    return ScoutDraft(config=config, header=header)


def _floor_ladder(config: ExperimentConfig, notes: list[str]) -> ExperimentConfig:
    """The ladder the step floor accepts with the file's own batch, accumulation and epochs
    (``recommend`` planned it with its own); a floor no fraction meets is left for ``validate`` to report."""

    try:
        floored, plan = resolve_scout(config)
    except ConfigError as exc:
        notes.append(f"the step floor cannot be met: {exc}")
        return config
    if plan.changed:
        notes.append(plan.message())
    return floored


def _header(
    lf: LlamaFactoryFile,
    config: ExperimentConfig,
    rows: int,
    params: int | None,
    how: str,
    sources: tuple[str, ...],
    notes: list[str],
) -> str:
    mapped = sorted(k for k in lf.args if k in MAPPED_KEYS)
    kept = sorted(k for k in lf.args if k not in MAPPED_KEYS)
    lines = [
        f"hpscout scouting config made from the LLaMA-Factory file {lf.path}",
        "(hpscout init --from-llamafactory). Each trial runs llamafactory-cli train with that file's keys,",
        "this config's values for the mapped keys, and its own data subset. Docs: docs/llamafactory.md",
        "",
        f"dataset: {config.data.train} ({rows:,} rows)",
        f"model size: {params:,} parameters ({how})" if params else "model size: unknown",
        "mapped (LLaMA-Factory key -> hpscout key): "
        + (", ".join(f"{k} -> {MAPPED_KEYS[k][0]}" for k in mapped) or "none"),
        "kept verbatim in llamafactory.args: " + (", ".join(kept) or "none"),
        f"LLaMA-Factory runs with: {config.llamafactory.python if config.llamafactory else ''}",
        "run it: hpscout run <this file>; then: hpscout export runs/<name> --format llamafactory",
    ]
    lines += [f"why: {s}" for s in sources] + [f"note: {n}" for n in notes]
    return "\n".join(lines)


def write_scout_config(path: str | Path, out: str | Path, *, python: str | None = None) -> ScoutDraft:
    """Make the scouting config for ``path`` and write it to ``out`` (atomically, with an explaining header)."""
    draft = scout_config_from_llamafactory(path, python=python)
    save_config(draft.config, out, header=draft.header)
    return draft
