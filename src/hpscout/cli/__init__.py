"""The ``hpscout`` command line. Thin commands over the library; see :mod:`hpscout.cli._app`."""

from hpscout.cli._app import app, main

__all__ = ["app", "main"]
