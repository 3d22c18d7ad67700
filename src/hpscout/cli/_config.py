"""``hpscout validate`` and ``hpscout init``: check a config, write a starter one."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Any

import typer

from hpscout._errors import ConfigError
from hpscout._io import atomic_write_text
from hpscout.cli._common import ConfigArg, JsonOpt, SetOpt, echo_json, load, warn
from hpscout.config import config_to_dict
from hpscout.store import check_writable

TEMPLATES = ("sst2-minilm-lora", "alpaca-sft", "custom-script", "seq2seq-dialogue-summary")


def _templates_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "templates"


def validate(config: ConfigArg, set_: SetOpt = None, as_json: JsonOpt = False) -> None:
    """Check a config file without running anything; exit 0 when valid, 2 with the message otherwise.

    Example:
        hpscout validate examples/sst2-minilm-lora.yaml --set train.learning_rate=3e-3
    """

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
    for line in ladder_lines(cfg, config):
        typer.echo(line)


def ladder_lines(cfg: Any, source: Path) -> list[str]:
    """The ladder in force, one line per rung (fraction, rows, optimizer steps), the dropped rungs and the
    cost preflight; an impossible ``scout.min_steps`` raises (exit 2). Reads the training data."""
    from hpscout.workflow import plan_scouting

    train = cfg.data.train
    if "://" not in train and not train.startswith("builtin:") and not Path(train).exists():
        return [f"ladder: not planned: data.train {train} does not exist yet (in {source})"]
    cfg, ladder, pre = plan_scouting(cfg)
    floor = f"scout.min_steps {ladder.min_steps}" if ladder.min_steps else "no step floor (scout.min_steps 0)"
    lines = [f"ladder ({floor}; steps counted at {ladder.worst.describe()}; {ladder.train_rows} training rows):"]
    lines += [f"  rung {r.fraction:g}: {r.rows} rows, {r.steps} optimizer steps" for r in ladder.rungs]
    lines += [
        f"  dropped {r.fraction:g}: {r.rows} rows, {r.steps} optimizer steps (under {ladder.min_steps})"
        for r in ladder.dropped
        if r.fraction not in ladder.fidelities
    ]
    if ladder.raised:
        lines.append(f"  scout.fraction {ladder.requested_fraction:g} is under the floor: raised to {ladder.fraction:g}")
    climb = cfg.transfer.climb_fractions(cfg.scout.fraction)
    if not climb:
        lines.append("transfer: no fraction above the scouting fraction within transfer.max_fraction (skipped)")
    elif not cfg.transfer.climb:
        lines.append(f"transfer: one re-run of the top {cfg.transfer.k} at {climb[0]:g} (transfer.climb: false)")
    else:
        within = pre["transfer_rungs_worst"]
        lines.append(
            f"transfer: climbs {' -> '.join(f'{f:g}' for f in climb)} until two rungs agree"
            + (
                f"; transfer.budget {cfg.transfer.budget:g} full runs allows {' -> '.join(f'{f:g}' for f in within)}"
                if cfg.transfer.budget is not None and len(within) < len(climb)
                else ""
            )
        )
    lines.append(pre["message"])
    if pre.get("advice"):
        lines.append(f"preflight: {pre['advice']}")
    return lines


def _check_outputs(cfg: Any) -> None:
    """output_dir takes files (or can be created) and the study storage answers; nothing is created."""
    from hpscout.search import check_storage

    check_writable(cfg.run_dir)
    check_storage(cfg)


def init(
    template: Annotated[str, typer.Option("--template", help=f"One of: {', '.join(TEMPLATES)}.")] = "sst2-minilm-lora",
    out: Annotated[Path, typer.Option("--out", help="Where to write the config.")] = Path("hpscout.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    from_llamafactory: Annotated[
        Path | None,
        typer.Option("--from-llamafactory", help="Make the config from this LLaMA-Factory training YAML (docs/llamafactory.md)."),
    ] = None,
) -> None:
    """Write a commented starter config.

    Example:
        hpscout init --template sst2-minilm-lora --out sst2.yaml && hpscout run sst2.yaml
        hpscout init --from-llamafactory my_sft.yaml --out scout.yaml
    """

    if template not in TEMPLATES:
        raise ConfigError(f"--template must be one of {', '.join(TEMPLATES)}, but got {template!r}")
    if out.exists() and not force:
        raise ConfigError(f"{out} exists; pass --force to overwrite it")
    if from_llamafactory is not None:
        from hpscout.llamafactory import write_scout_config

        write_scout_config(from_llamafactory, out)
        typer.echo(f"wrote {out} from {from_llamafactory}; check it with: hpscout validate {out}")
        return
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
