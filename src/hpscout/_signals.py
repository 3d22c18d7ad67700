"""SIGTERM behaves like Ctrl-C: the running trial is re-queued, files are flushed, and the exit code is 143."""

from __future__ import annotations

import signal
import threading
from typing import Any

__all__ = ["Terminated", "install_sigterm_handler", "received"]

_received: list[int] = []


def received() -> int | None:
    """The last signal turned into :class:`Terminated`, if any (typer hides the exception)."""
    return _received[-1] if _received else None


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM.

    A KeyboardInterrupt subclass, so every Ctrl-C path (re-queue the running trial,
    mark the workflow stage interrupted) handles it the same way.
    """


def _raise_terminated(signum: int, frame: Any) -> None:
    _received.append(signum)
    raise Terminated(f"terminated by signal {signum}")


def install_sigterm_handler() -> None:
    """Turn SIGTERM into :class:`Terminated` (main thread only; a no-op elsewhere)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)
