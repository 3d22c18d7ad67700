"""``hpscout validate`` and ``hpscout init``: check a config, write a starter one."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Any

import typer

from hpscout.cli._common import ConfigArg, JsonOpt, SetOpt, echo_json, load, warn

TEMPLATES = ("sst2-minilm-lora", "alpaca-sft", "custom-script")


def _templates_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "templates"


def validate(config: ConfigArg, set_: SetOpt = None, as_json: JsonOpt = False) -> None:
    """Check a config file without running anything; exit 0 when valid, 2 with the message otherwise.

    Example:
        hpscout validate examples/sst2-minilm-lora.yaml --set train.learning_rate=3e-3
    """
    from hpscout.config import config_to_dict

    cfg = load(config, set_)
    _check_outputs(cfg)
    for key in ("train", "eval"):
        path = getattr(cfg.data, key)
        if path and "://" not in path and not Path(path).exists():
            warn(f"data.{key} {path} does not exist yet (in {config})")
    if as_json:
        echo_json(config_to_dict(cfg))
        return
    n_space = len(cfg.search.space)
    typer.echo(
        f"{config}: valid (task {cfg.task}, model {cfg.model.name_or_path}, scout {cfg.scout.fraction:g} "
        f"with rungs {', '.join(f'{f:g}' for f in cfg.scout.fidelities)}, {n_space} searched parameters, "
        f"outputs in {cfg.run_dir})"
    )


def _check_outputs(cfg: Any) -> None:
    """output_dir takes files (or can be created) and the study storage answers; nothing is created."""
    from hpscout.search import check_storage
    from hpscout.store import check_writable

    check_writable(cfg.run_dir)
    check_storage(cfg)


def init(
    template: Annotated[str, typer.Option("--template", help=f"One of: {', '.join(TEMPLATES)}.")] = "sst2-minilm-lora",
    out: Annotated[Path, typer.Option("--out", help="Where to write the config.")] = Path("hpscout.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter config.

    Example:
        hpscout init --template sst2-minilm-lora --out sst2.yaml && hpscout run sst2.yaml
    """
    from hpscout._errors import ConfigError
    from hpscout._io import atomic_write_text

    if template not in TEMPLATES:
        raise ConfigError(f"--template must be one of {', '.join(TEMPLATES)}, but got {template!r}")
    if out.exists() and not force:
        raise ConfigError(f"{out} exists; pass --force to overwrite it")
    text = (_templates_dir() / f"{template}.yaml").read_text(encoding="utf-8")
    atomic_write_text(out, text)
    typer.echo(f"wrote {out} (template {template}); check it with: hpscout validate {out}")
    if template == "custom-script":
        script = out.parent / "train.py"
        if not script.exists():
            shutil.copyfile(_templates_dir() / "train_script.py", script)
            typer.echo(f"wrote {script}: a minimal script that speaks hpscout's command protocol")


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
    app.command("init")(init)
