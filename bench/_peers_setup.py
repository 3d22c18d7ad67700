"""What every competitor of bench/peers.py shares: the benchmark's size, the data and config, the clock and the budget.

Each competitor trains on the example's config (examples/sst2-minilm-lora.yaml), sized by a :class:`Setup`:
the whole embedded 20,000-row SST-2 sample at full size, or a stratified slice of it in --quick and --smoke
(the step floor scaled with it, so hpscout's ladder keeps its shape). Times are seconds since the
competitor's process was launched (:class:`Clock`); the peers' budget is a :class:`Deadline`.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
from _peers_result import PARAM_NAMES

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "sst2-minilm-lora.yaml"
#: rows of the embedded SST-2 sample (builtin:sst2/train.tsv)
SAMPLE_ROWS = 20_000
#: --smoke's model: a randomly initialised 1-layer BERT (seconds per trial on a CPU)
TINY_BERT = {
    "model_type": "bert",
    "hidden_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 128,
}


@dataclass(frozen=True)
class Setup:
    """One size of the benchmark.

    Attributes:
        mode: full | quick | smoke.
        budget_s: each peer's wall-clock budget.
        seeds: the full-scale retrain seeds of each pick (the curve uses the first).
        train_rows: rows of the training sample (None: the whole 20,000-row sample).
        eval_rows: the stratified dev slice (``data.max_eval_samples``).
        tiny_model: a random tiny BERT instead of MiniLM.
        probe_fractions: where the fixed-cost probe measures a trial (None: hpscout's scouting fraction).
        probe_full_sample: the probe trains on the whole 20k sample (the real scouting rung) in any mode.
        work: where the pieces are kept (committed results).
        scratch: trial folders, run folders, logs (not committed).
        peer_threads: torch threads of each peer's process (None: torch's default, all cores).
    """

    mode: str
    budget_s: float
    seeds: tuple[int, ...]
    train_rows: int | None
    eval_rows: int
    tiny_model: bool
    probe_fractions: tuple[float, ...] | None
    probe_full_sample: bool
    work: Path
    scratch: Path
    #: torch threads of the peers' one process (None: torch's default, every core)
    peer_threads: int | None = None


# --------------------------------------------------------------------------- data and configs


def sample_file(setup: Setup) -> Path | None:
    """The training file of a reduced run: a stratified ``train_rows``-row slice of the SST-2 sample (seed 0)."""
    if setup.train_rows is None:
        return None
    path = setup.scratch / f"sst2-train-{setup.train_rows}.tsv"
    if path.exists():
        return path
    from hpscout._io import atomic_write_text
    from hpscout.config import load_config
    from hpscout.data import load_table, make_subsets

    table = load_table(load_config(EXAMPLE).data.train)
    subset = make_subsets(table, [setup.train_rows / table.num_rows], stratify=["label"], seed=0).subsets[0]
    frame = table.select(subset.indices).to_pandas()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, frame.to_csv(sep="\t", index=False))
    return path


def mode_updates(setup: Setup, *, full_sample: bool = False) -> dict[str, Any]:
    """Config updates that size the example for ``setup`` (none in full mode).

    A reduced sample scales the step floor with it, so the ladder keeps the shape it has on 20,000 rows.
    """
    updates: dict[str, Any] = {"data.max_eval_samples": setup.eval_rows}
    if setup.train_rows is not None and not full_sample:
        updates["data.train"] = str(sample_file(setup))
        from hpscout.config import load_config

        floor = load_config(EXAMPLE).scout.min_steps
        updates["scout.min_steps"] = max(1, round(floor * setup.train_rows / SAMPLE_ROWS))
    if setup.tiny_model:
        updates["model.from_config"] = TINY_BERT
    return updates


def competitor_config(setup: Setup, *, output_dir: Path | None = None, full_sample: bool = False) -> Any:
    """The example config, sized for ``setup``: what every competitor trains and searches."""
    from hpscout.config import apply_updates, load_config

    updates = mode_updates(setup, full_sample=full_sample)
    updates["output_dir"] = str(output_dir or setup.scratch / "runs")
    return apply_updates(load_config(EXAMPLE), updates, source="bench/peers.py")


def scouting_fraction(config: Any) -> float:
    """The fraction hpscout scouts at once the step floor has been applied (the ladder's top rung)."""
    from hpscout.search import resolve_scout

    return float(resolve_scout(config)[0].scout.fraction)


def normal_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """learning_rate, lora_r, warmup_ratio from hpscout's dotted keys (or already normal names)."""
    out = {}
    for dotted, name in PARAM_NAMES.items():
        value = params.get(dotted, params.get(name))
        out[name] = int(value) if name == "lora_r" else float(value)
    return out


# --------------------------------------------------------------------------- time and the budget


class Clock:
    """Seconds since the competitor's process was launched (the parent passes the launch time)."""

    def __init__(self, launched_at: float) -> None:
        self.launched_at = launched_at

    def now(self) -> float:
        return time.time() - self.launched_at

    def of(self, when: datetime | None) -> float:
        return math.nan if when is None else when.timestamp() - self.launched_at


class BudgetSpent(optuna.TrialPruned):
    """Raised in the trial that is training when the wall-clock budget ends (Optuna records it as pruned)."""


class Deadline:
    """The hard budget: after ``budget_s`` a SIGALRM stops the trial in training; between trials it only marks
    the budget spent (Optuna's ``timeout`` and a study callback then start nothing new)."""

    def __init__(self, clock: Clock, budget_s: float) -> None:
        self.clock, self.budget_s = clock, budget_s
        self.expired = False
        self.in_training = False
        #: True once the budget stopped a trial that was training (or about to)
        self.cut = False

    def remaining(self) -> float:
        return max(0.0, self.budget_s - self.clock.now())

    def arm(self) -> None:
        signal.signal(signal.SIGALRM, self._fire)
        signal.setitimer(signal.ITIMER_REAL, max(0.01, self.remaining()))

    def disarm(self) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)

    def _fire(self, signum: int, frame: Any) -> None:
        self.expired = True
        if self.in_training:
            self.in_training = False
            self.cut = True
            raise BudgetSpent(f"the {self.budget_s:.0f} s budget ran out during this trial")

    @contextlib.contextmanager
    def training(self) -> Iterator[None]:
        """Code that may be stopped when the budget ends."""
        self.begin_training()
        try:
            yield
        finally:
            self.in_training = False

    def begin_training(self) -> None:
        """Mark a trial's training as begun; stop it at once when the budget is already spent."""
        if self.expired:
            self.cut = True
            raise BudgetSpent("the budget ran out before this trial trained")
        self.in_training = True

    def stop_study(self, study: optuna.Study, trial: Any) -> None:
        """A ``study.optimize`` callback: no new trial once the budget is spent."""
        if self.expired or self.remaining() <= 0:
            study.stop()


def eval_seconds(tb_dir: Path) -> tuple[float | None, int]:
    """Time the Trainer spent evaluating, and how often: its ``eval/runtime`` logs in the trial's TensorBoard
    events (hpscout's runner writes them; the history CSV leaves speed keys out)."""
    if not tb_dir.exists():
        return None, 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tb_dir), size_guidance={"scalars": 0})
    events.Reload()
    if "eval/runtime" not in events.Tags()["scalars"]:
        return 0.0, 0
    values = [e.value for e in events.Scalars("eval/runtime")]
    return float(sum(values)), len(values)


def versions() -> dict[str, str]:
    """Versions of python, the training libraries, Optuna and the plotting stack, and the machine."""
    import importlib.metadata
    import platform

    from hpscout.runner import library_versions

    out = library_versions()
    for name in ("optuna", "matplotlib", "scipy", "tensorboard"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[name] = importlib.metadata.version(name)
    out["platform"] = f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores"
    return out
