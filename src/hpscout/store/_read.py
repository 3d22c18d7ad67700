"""Reading a run folder: its resolved config, the final config it recommends and a trial's result file.

Report and export both read a run through these, so "where does the final config come
from" and "where is trial N's result.json" are answered in one place.
"""

from __future__ import annotations

import os
from pathlib import Path

from hpscout._errors import StorageError
from hpscout.config import ExperimentConfig, apply_updates, load_config
from hpscout.store._layout import RunLayout

__all__ = ["final_config_paths", "load_run_config", "trial_result_path"]


def load_run_config(run_dir: str | os.PathLike[str]) -> ExperimentConfig:
    """The resolved config of a run folder (``<run_dir>/config.yaml``), pointed at ``run_dir``.

    The folder may have been moved since the run; ``output_dir`` is set to where it is now.

    Raises:
        StorageError: ``run_dir`` holds no ``config.yaml``.

    Example:
        >>> load_run_config("runs/sst2-minilm-lora").name  # doctest: +SKIP
        'sst2-minilm-lora'
    """
    root = Path(run_dir)
    path = RunLayout(root).config
    if not path.is_file():
        raise StorageError(f"{root} is not a run folder: {path} does not exist (run `hpscout search` first)")
    config = load_config(path)
    if config.output_dir is None or Path(config.output_dir).resolve() != root.resolve():
        config = apply_updates(config, {"output_dir": str(root)}, source=str(path))
    return config


def final_config_paths(run_dir: str | os.PathLike[str]) -> list[Path]:
    """The final config files that exist, preferred first: ``final/config.yaml``, then ``top/top1.yaml``.

    Example:
        >>> final_config_paths("/nonexistent/run")
        []
    """
    layout = RunLayout(Path(run_dir))
    return [p for p in (layout.final_dir / "config.yaml", layout.top_dir / "top1.yaml") if p.is_file()]


def trial_result_path(run_dir: str | os.PathLike[str], number: int, recorded: str | None = None) -> Path | None:
    """Trial ``number``'s ``result.json``, or None when there is none.

    Args:
        run_dir: the run folder.
        number: the Optuna trial number.
        recorded: the ``result_path`` the trial recorded (absolute, or relative to the run folder);
            tried first, then its part below ``trials/`` (the run folder may have moved), then
            ``trials/tNNNN/result.json``.

    Example:
        >>> trial_result_path("/nonexistent/run", 3) is None
        True
    """
    layout = RunLayout(Path(run_dir))
    candidates: list[Path] = []
    if isinstance(recorded, str) and recorded:
        p = Path(recorded)
        candidates.append(p if p.is_absolute() else layout.root / p)
        # a moved run folder: keep the part below trials/
        parts = p.parts
        if "trials" in parts:
            candidates.append(layout.root.joinpath(*parts[parts.index("trials"):]))
    candidates.append(layout.trials_dir / f"t{number:04d}" / "result.json")
    return next((path for path in candidates if path.is_file()), None)
