"""Where a run's files live. Every path stays under the run folder.

::

    runs/<name>/
      config.yaml            the resolved experiment config
      study.log | study.db   the default Optuna storage (see hpscout.search)
      subsets/subsets.json   nested subset manifest (+ report.json)
      trials/<label>/        one folder per trial: result.json, history.csv, tb/
      top/top1.yaml ...      ready-to-run configs of the best trials
      analysis.json          ablation, importance, transfer, cost, lr_scaling
      report/index.html      the static report
      final/                 config.yaml, llamafactory.yaml, training_args.json
      state.json             workflow stage status
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hpscout._errors import StorageError

__all__ = ["RunLayout", "check_writable", "run_label", "safe_label"]

_LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$")


def safe_label(label: str) -> str:
    """Validate a name used as one path component (no separators, no '..', no NUL, <= 120 chars)."""
    if not isinstance(label, str) or not _LABEL_RE.match(label) or ".." in label:
        shown = repr(label)[:80]
        raise StorageError(
            f"invalid name {shown}: use 1-120 letters, digits, '.', '_' or '-' (starting with a letter or digit, no '..')"
        )
    return label


def check_writable(folder: str | os.PathLike[str], *, what: str = "output_dir") -> None:
    """Check that ``folder`` takes new files, or can be created, and leave everything as it was.

    The probe is a temporary folder made and removed in ``folder`` (or in its nearest
    existing parent when ``folder`` does not exist yet), so read-only mounts, missing
    permissions and pseudo file systems such as ``/proc`` are all caught, root included.

    Raises:
        StorageError: naming ``folder`` (as ``what``) and why it cannot be written.

    Example:
        >>> check_writable("/proc/x")
        Traceback (most recent call last):
        ...
        hpscout._errors.StorageError: output_dir /proc/x cannot be created: /proc does not take new folders (No such file or directory)
    """
    target = Path(folder)
    probe = target.absolute()
    while not probe.exists() and not probe.is_symlink() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        kind = "a file" if probe.exists() else "a broken link"
        raise StorageError(f"{what} {target} cannot be created: {probe} is {kind}, not a folder")
    try:
        with tempfile.TemporaryDirectory(prefix=".hpscout-write-check-", dir=probe):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if probe == target.absolute():
            raise StorageError(f"{what} {target} is not writable ({reason})") from exc
        raise StorageError(f"{what} {target} cannot be created: {probe} does not take new folders ({reason})") from exc


@dataclass(frozen=True)
class RunLayout:
    """Paths of one run folder."""

    root: Path

    @classmethod
    def of(cls, config: object) -> RunLayout:
        return cls(Path(config.run_dir))  # type: ignore[attr-defined]

    def _child(self, *parts: str) -> Path:
        p = self.root.joinpath(*parts)
        root = self.root.resolve()
        if root not in p.resolve().parents and p.resolve() != root:
            raise StorageError(f"path {p} escapes the run folder {self.root}")
        return p

    @property
    def config(self) -> Path:
        return self._child("config.yaml")

    @property
    def subsets_dir(self) -> Path:
        return self._child("subsets")

    @property
    def trials_dir(self) -> Path:
        return self._child("trials")

    def trial_dir(self, label: str) -> Path:
        return self._child("trials", safe_label(label))

    @property
    def top_dir(self) -> Path:
        return self._child("top")

    @property
    def analysis(self) -> Path:
        return self._child("analysis.json")

    @property
    def report_dir(self) -> Path:
        return self._child("report")

    @property
    def final_dir(self) -> Path:
        return self._child("final")

    @property
    def state(self) -> Path:
        return self._child("state.json")

    def results(self) -> list[Path]:
        """Every ``result.json`` under ``trials/``, sorted by folder name."""
        if not self.trials_dir.exists():
            return []
        return sorted(self.trials_dir.glob("*/result.json"))


_RUNG_DIR = re.compile(r"^t(\d+)$")


def run_label(out_dir: str | os.PathLike[str], fraction: float) -> str:
    """The name loggers (W&B, MLflow) give one training run: ``trial-N@fraction`` for a search rung
    (``trials/tNNNN/f<fraction>``), else ``<folder>@fraction`` (transfer and ablation cells).

    Example:
        >>> run_label("runs/x/trials/t0007/f0.05", 0.05), run_label("runs/x/transfer/t7_f0.2_s42", 0.2)
        ('trial-7@0.05', 't7_f0.2_s42@0.2')
    """
    path = Path(out_dir)
    m = _RUNG_DIR.match(path.parent.name)
    if m and path.name.startswith("f") and path.parent.parent.name == "trials":
        return f"trial-{int(m.group(1))}@{fraction:g}"
    return f"{path.name}@{fraction:g}"
