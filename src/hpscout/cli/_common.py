"""Option types and helpers shared by every command, defined once."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from hpscout._secrets import mask_secrets
from hpscout.config import load_config
from hpscout.store import check_writable

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
    typer.Option(
        "--storage",
        help=(
            "Optuna storage URL (e.g. postgresql://user@host/db, password from PGPASSWORD or ~/.pgpass), "
            "or env:NAME to read the URL from the environment variable NAME (keeps it out of ps). "
            "Default: a local file under the run folder."
        ),
        show_default=False,
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def load(config: Path, overrides: list[str] | None) -> Any:
    """Load and validate an experiment config with ``--set`` overrides applied."""

    return load_config(config, overrides or [])


def load_scouting(config: Path, overrides: list[str] | None, *, quiet: bool = False) -> Any:
    """:func:`load`, a check that the run folder can be written, then the ladder in force
    (``scout.min_steps``; reads the data file), as ``hpscout run`` resolves it: every command that
    trains rungs or reads them (search, worker, transfer, ablate) uses this."""
    from hpscout.search import resolve_scout

    cfg = load(config, overrides)
    check_writable(cfg.run_dir)  # these commands write into the run folder: say so before reading any data
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
    """Print a warning on stderr (URL passwords masked)."""

    typer.echo(f"warning: {mask_secrets(message)}", err=True)


def info(message: str) -> None:
    """Print progress on stderr so stdout stays clean for tables and JSON (URL passwords masked)."""

    print(mask_secrets(message), file=sys.stderr, flush=True)


DEFAULT_INTERRUPT_NOTE = "stopped; every file written so far is complete (hpscout writes atomically)"
_interrupt_note = [DEFAULT_INTERRUPT_NOTE]


def on_interrupt(note: str) -> None:
    """Set what the Ctrl-C / SIGTERM message says happened, for the command that is running."""
    _interrupt_note[0] = note


def interrupt_note() -> str:
    """What the Ctrl-C / SIGTERM message says happened (see :func:`on_interrupt`)."""
    return _interrupt_note[0]


#: Ctrl-C in a command that runs a study (search, worker, run)
STUDY_INTERRUPT_NOTE = "the running trial was re-queued and files are flushed; run the same command to resume"


class _StderrHandler(logging.Handler):
    """``warning: ...`` on the stderr of the moment (tests swap it), URL passwords masked."""

    def emit(self, record: logging.LogRecord) -> None:

        try:
            print(f"{record.levelname.lower()}: {mask_secrets(record.getMessage())}", file=sys.stderr, flush=True)
        except Exception:  # noqa: BLE001 - logging's own contract: report, never raise
            self.handleError(record)


def setup_logging() -> None:
    """What the library logs under ``hpscout`` (warnings about the data, ...) goes to stderr."""
    logger = logging.getLogger("hpscout")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        logger.addHandler(_StderrHandler())
    logger.setLevel(logging.INFO)
    logger.propagate = False
