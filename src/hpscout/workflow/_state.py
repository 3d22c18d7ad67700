"""Stage status of a workflow run, persisted in ``<run_dir>/state.json`` (atomic writes)."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpscout._io import atomic_write_json, read_json

__all__ = ["STAGES", "WorkflowState", "config_fingerprint"]

#: the workflow, in order; each stage reads what the previous ones stored
STAGES = ("subsets", "search", "top", "transfer", "ablation", "final", "report")


def config_fingerprint(config_dict: dict[str, Any]) -> str:
    """A short hash of the resolved config; a changed config is flagged when a run is resumed."""
    text = json.dumps(config_dict, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class WorkflowState:
    path: Path
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    fingerprint: str | None = None

    @classmethod
    def load(cls, path: Path) -> WorkflowState:
        if not path.exists():
            return cls(path)
        data = read_json(path)
        return cls(path, dict(data.get("stages", {})), data.get("fingerprint"))

    def save(self) -> None:
        atomic_write_json(self.path, {"fingerprint": self.fingerprint, "stages": self.stages})

    def done(self, stage: str) -> bool:
        return self.stages.get(stage, {}).get("status") == "done"

    def mark(self, stage: str, status: str, **detail: Any) -> None:
        entry = self.stages.setdefault(stage, {})
        entry["status"] = status
        entry["at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        entry.update(detail)
        self.save()
