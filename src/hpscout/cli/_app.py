"""The ``hpscout`` application: registers the commands and maps errors to exit codes.

Each command lives in its own module (``_plan.py``, ``_subset.py``, ...) and
exposes ``register(app)``. Command modules import the light packages at the top
(``hpscout.config``, ``hpscout.plan``, ``hpscout.store``); the packages that load
numpy, optuna, scipy, datasets or torch (``hpscout.data``, ``search``, ``runner``,
``analysis``, ``report``, ``export``, ``workflow``, ``llamafactory``) are imported
inside the command bodies, so ``hpscout --help`` stays fast (tested: it never
imports torch or optuna).
"""

from __future__ import annotations

import inspect
import os
import re
import sys

import typer

from hpscout._errors import HpscoutError
from hpscout._secrets import mask_secrets
from hpscout._signals import Terminated, install_sigterm_handler, received
from hpscout._version import __version__
from hpscout.cli import _analysis, _config, _plan, _report, _run, _search, _subset, _train
from hpscout.cli._common import DEFAULT_INTERRUPT_NOTE, interrupt_note, on_interrupt, setup_logging

app = typer.Typer(
    name="hpscout",
    help=(
        "Scout fine-tuning hyperparameters on small, representative, nested slices of the data, "
        "then hand the final config to full-scale training."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# The modules that define commands, in the order of the data flow: config -> plan -> subsets -> train ->
# search -> ablate/transfer -> report/export -> run (everything at once). Each exposes register(app).
_COMMAND_MODULES = (_config, _plan, _subset, _train, _search, _analysis, _report, _run)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"hpscout {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True, help="Print the version."),
) -> None:
    """Scout fine-tuning hyperparameters cheaply."""


for _module in _COMMAND_MODULES:
    _module.register(app)


def verbatim_examples(doc: str) -> str:
    """Mark each paragraph that starts with ``Example:`` / ``Examples:`` verbatim (click's ``\\b``),
    so ``--help`` prints the example commands line by line instead of re-wrapping them."""
    lines = doc.splitlines()
    out: list[str] = []
    for i, line in enumerate(lines):
        starts_paragraph = i == 0 or not lines[i - 1].strip()
        if re.fullmatch(r"\s*Examples?:\s*", line) and starts_paragraph:
            out.append(line[: len(line) - len(line.lstrip())] + "\b")
        out.append(line)
    return "\n".join(out)


for _info in app.registered_commands:
    if _info.help is None and _info.callback is not None and _info.callback.__doc__:
        _info.help = verbatim_examples(inspect.getdoc(_info.callback) or "")


def _interrupted(exc: KeyboardInterrupt) -> int:
    what, code = ("terminated (SIGTERM)", 143) if isinstance(exc, Terminated) else ("interrupted (Ctrl-C)", 130)
    typer.echo(f"{what}: {interrupt_note()}", err=True)
    return code


def _os_error_message(exc: OSError) -> str:
    """One line naming the path and the reason of a read or write the system refused."""
    path = exc.filename if exc.filename2 is None else f"{exc.filename} -> {exc.filename2}"
    return f"cannot write or read {path}: {exc.strerror or exc}"


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning :class:`HpscoutError` into a message and exit code 2."""
    debug = os.environ.get("HPSCOUT_DEBUG") == "1"
    install_sigterm_handler()
    setup_logging()
    on_interrupt(DEFAULT_INTERRUPT_NOTE)
    try:
        rc = app(args=argv, prog_name="hpscout", standalone_mode=False)
    except HpscoutError as exc:
        if debug:
            raise
        typer.echo(f"error: {mask_secrets(str(exc))}", err=True)
        return exc.exit_code
    except OSError as exc:
        # a folder or file the system refused (read-only, missing parent, /proc, full disk):
        # the user's to fix, so one line naming the path and exit 2, like any user error
        if debug or exc.filename is None:
            raise
        typer.echo(f"error: {mask_secrets(_os_error_message(exc))}", err=True)
        return 2
    except KeyboardInterrupt as exc:
        return _interrupted(exc)
    except typer.Exit as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, KeyboardInterrupt):  # typer turns an interrupt into Exit(130)
            return _interrupted(cause)
        return exc.exit_code
    except SystemExit as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):  # typer exits 130 on an interrupt
            return _interrupted(exc.__context__)
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    except Exception as exc:  # usage errors arrive here in non-standalone mode
        # click turns Ctrl-C (and our SIGTERM) into Abort; the original interrupt is its cause.
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, KeyboardInterrupt):
            return _interrupted(cause)
        # typer may bundle its own click (typer._click): match by shape, not by class identity.
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            return int(exc.exit_code)
        if type(exc).__name__ == "Abort":
            typer.echo("aborted", err=True)
            return 130
        raise
    if rc == 130:  # typer swallows the interrupt and returns 130

        return _interrupted(Terminated() if received() else KeyboardInterrupt())
    return int(rc or 0) if isinstance(rc, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
