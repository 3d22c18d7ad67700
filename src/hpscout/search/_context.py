"""What a worker carries from one trial to the next: the config, the budget, the objective, the clock."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hpscout.config import ExperimentConfig
from hpscout.search._progress import Progress
from hpscout.store import RunLayout

__all__ = ["OUTAGE_TIMEOUT", "WorkerContext"]

#: how long a worker waits for an unreachable database before giving up
OUTAGE_TIMEOUT = 180.0


@dataclass
class WorkerContext:
    """The settings of one worker's loop (built by :func:`hpscout.search._claim.make_context`)."""

    config: ExperimentConfig
    layout: RunLayout
    ladder: list[float]
    budget: int | None
    cells: list[dict[str, Any]] | None
    objective: Callable[..., Any] | None
    deadline: float | None
    progress: Progress | None
    poll: float
    outage_timeout: float = OUTAGE_TIMEOUT
    last_stale_check: float = -math.inf
    #: the study's id in its storage, looked up once by the first claim
    study_id: int | None = None

    def say(self, message: str) -> None:
        """A note on stderr, only when this worker shows progress."""
        if self.progress is not None and self.progress.enabled:
            print(message, file=sys.stderr, flush=True)
