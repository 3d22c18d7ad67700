"""Option types and helpers shared by every command, defined once."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

ConfigArg = Annotated[Path, typer.Argument(help="Experiment config (YAML).", show_default=False)]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Override a config key: --set train.learning_rate=3e-4 (value parsed as a YAML scalar). Repeatable.",
        show_default=False,
    ),
]
StorageOpt = Annotated[
    str | None,
    typer.Option("--storage", help="Optuna storage URL (e.g. postgresql://user:pw@host/db). Default: a local file under the run folder."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def load(config: Path, overrides: list[str] | None) -> Any:
    """Load and validate an experiment config with ``--set`` overrides applied."""
    from hpscout.config import load_config

    return load_config(config, overrides or [])


def load_scouting(config: Path, overrides: list[str] | None, *, quiet: bool = False) -> Any:
    """:func:`load`, then the ladder in force (``scout.min_steps``; reads the data file), as ``hpscout run``
    resolves it: every command that trains rungs or reads them (search, worker, transfer, ablate) uses this."""
    from hpscout.search import resolve_scout

    cfg = load(config, overrides)
    if cfg.scout.min_steps == 0:
        return cfg
    cfg, plan = resolve_scout(cfg)
    if not quiet:
        info(plan.message())
    return cfg


def echo_json(obj: Any) -> None:
    """Print ``obj`` as JSON on stdout."""
    typer.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


def warn(message: str) -> None:
    """Print a warning on stderr."""
    typer.echo(f"warning: {message}", err=True)


def info(message: str) -> None:
    """Print progress on stderr so stdout stays clean for tables and JSON."""
    print(message, file=sys.stderr, flush=True)
