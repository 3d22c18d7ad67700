"""Guards every runner shares: divergence, OOM and exception handling, memory release.

Fault injection (tests and smoke checks only)
---------------------------------------------
``HPSCOUT_FAULT_INJECT=<kind>@<step>`` makes the HF and plain-torch runners fake a
fault at optimizer step ``<step>`` (1-based), so every guard can be exercised on
a tiny CPU model:

* ``nan@3``     the training loss of step 3 becomes NaN (before backward)
* ``inf@3``     ... +inf
* ``explode@3`` ... 1e6 times its value (the "exploding loss" guard)
* ``oom@3``     ``torch.cuda.OutOfMemoryError`` is raised
* ``error@3``   ``RuntimeError`` is raised

Unset (the default) costs nothing. A malformed value is a :class:`RunnerError`.
"""

from __future__ import annotations

import gc
import math
import os
import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from hpscout._errors import RunnerError
from hpscout._io import atomic_write_text
from hpscout.runner._base import TrialStatus

__all__ = [
    "FAULT_ENV",
    "Fault",
    "LossGuard",
    "chance_loss",
    "fault_from_env",
    "is_oom",
    "status_from_exception",
    "release_memory",
    "write_traceback",
]

FAULT_ENV = "HPSCOUT_FAULT_INJECT"
TRACEBACK_FILE = "traceback.txt"
_FAULT_KINDS = ("nan", "inf", "explode", "oom", "error")
_MAX_MESSAGE = 2000
_FAULT_RE = re.compile(r"^(?P<kind>[a-z]+)@(?P<step>\d+)$")


@dataclass(frozen=True)
class Fault:
    """A fault to fake at one optimizer step (see the module docstring)."""

    kind: str
    step: int

    def apply(self, loss, step: int):
        """Return ``loss`` altered for this fault at ``step`` (1-based), or raise the faked error."""
        if step != self.step:
            return loss
        origin = f"(injected by {FAULT_ENV}={self.kind}@{self.step})"
        if self.kind == "nan":
            return loss * float("nan")
        if self.kind == "inf":
            return loss * float("inf")
        if self.kind == "explode":
            return loss * 1e6
        import torch

        if self.kind == "oom":
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory. Tried to allocate 2.00 GiB {origin}")
        raise RuntimeError(f"fault {origin}")


def fault_from_env() -> Fault | None:
    """The fault requested by ``HPSCOUT_FAULT_INJECT``, or None."""
    raw = os.environ.get(FAULT_ENV, "").strip()
    if not raw:
        return None
    m = _FAULT_RE.match(raw)
    if not m or m["kind"] not in _FAULT_KINDS or int(m["step"]) < 1:
        raise RunnerError(f"{FAULT_ENV} must look like <kind>@<step> with kind in {', '.join(_FAULT_KINDS)} and step >= 1, but got {raw!r}")
    return Fault(m["kind"], int(m["step"]))


def chance_loss(num_classes: int | None) -> float | None:
    """Cross-entropy of a uniform guess over ``num_classes`` classes (``ln k``), or None below 2 classes.

    Example:
        >>> round(chance_loss(2), 4)
        0.6931
    """
    if num_classes is None or num_classes < 2:
        return None
    return math.log(num_classes)


class LossGuard:
    """Calls a run diverged on a non-finite loss or one far above a loss that cannot be diverged yet.

    Every optimizer step's loss is checked (the Trainer's logged loss is an average
    over ``logging_steps`` and, by default, silently skips NaN/inf steps). The
    reference is the loss of step 1, computed before the first update, so a learning
    rate that blows the loss up within the first logging window cannot raise its own
    bar (the Trainer's first *logged* loss already averages the exploded steps). For
    classification, ``chance_loss`` (``ln k``) is a floor under the reference: one
    lucky first batch with a tiny loss does not make ordinary noise look like a
    divergence.

    Example:
        >>> g = LossGuard(factor=10, chance_loss=chance_loss(2))
        >>> [g.check(s, v) for s, v in [(1, 0.5), (2, 3.0), (3, 50.0)]][-1]
        'loss 50 at step 3 exceeds 10 x the reference loss 0.6931 (chance level ln 2)'
    """

    def __init__(self, factor: float, *, chance_loss: float | None = None) -> None:
        self.factor = float(factor)
        self.chance_loss = chance_loss
        self.reference: float | None = None
        self._reference_note = ""
        self.diverged_step: int | None = None
        self.reason: str | None = None

    def check(self, step: int, loss: float) -> str | None:
        """Record the loss of optimizer step ``step``; return the reason when the run diverged."""
        if not math.isfinite(loss):
            return self._trip(step, f"loss is {loss} at step {step}")
        if self.reference is None:
            self.reference, self._reference_note = loss, f"the loss at step {step}, before any update"
            if self.chance_loss is not None and self.chance_loss > loss:
                classes = round(math.exp(self.chance_loss))
                self.reference, self._reference_note = self.chance_loss, f"chance level ln {classes}"
            return None
        # a non-positive reference (custom torch losses can be negative) makes a ratio meaningless
        if self.reference > 0 and loss > self.factor * self.reference:
            return self._trip(
                step,
                f"loss {loss:.4g} at step {step} exceeds {self.factor:g} x the reference loss "
                f"{self.reference:.4g} ({self._reference_note})",
            )
        return None

    def _trip(self, step: int, reason: str) -> str:
        if self.diverged_step is None:
            self.diverged_step, self.reason = step, reason
        return reason


def is_oom(exc: BaseException) -> bool:
    """True for CUDA (or host) out-of-memory errors."""
    if isinstance(exc, MemoryError):
        return True
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def status_from_exception(exc: BaseException) -> tuple[TrialStatus, str]:
    """Map an exception raised while training to a status and a ``type: message`` text."""
    text = str(exc).strip()
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 3] + "..."
    message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return (TrialStatus.OOM if is_oom(exc) else TrialStatus.FAILED), message


def write_traceback(exc: BaseException, out_dir: str | os.PathLike[str]) -> None:
    """Keep the full traceback of a failed trial as ``out_dir/traceback.txt``."""
    atomic_write_text(Path(out_dir) / TRACEBACK_FILE, "".join(traceback.format_exception(exc)))


def release_memory() -> None:
    """Free what the last trial left behind: Python garbage and the CUDA cache."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
