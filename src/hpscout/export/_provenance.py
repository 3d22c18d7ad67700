"""Where an exported config came from: the final config, the study and trial behind it, the LR correction.

Everything is read from the run folder and its stored study, never from a live search.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hpscout._errors import ConfigError, ExportError, HpscoutError, StorageError
from hpscout._version import __version__
from hpscout.analysis import read_analysis, transfer_trust
from hpscout.config import ExperimentConfig, load_config
from hpscout.report import open_run_study
from hpscout.runner import TrialResult
from hpscout.search import top_trials
from hpscout.store import RunLayout, final_config_paths, load_run_config, trial_result_path

__all__ = ["final_config", "final_config_source", "LrCorrection", "lr_correction", "Provenance", "ScoutInfo",
           "scout_info", "read_run_analysis"]


def final_config_source(run_dir: str | Path) -> Path:
    """The file the final config comes from: ``final/config.yaml``, else ``top/top1.yaml``.

    Raises:
        ExportError: neither exists (the search has not run).
    """
    paths = final_config_paths(run_dir)
    if paths:
        return paths[0]
    layout = RunLayout(Path(run_dir))
    raise ExportError(
        f"no final config in {layout.root}: neither {layout.final_dir / 'config.yaml'} nor "
        f"{layout.top_dir / 'top1.yaml'} exists; run `hpscout search` first"
    )


def final_config(run_dir: str | Path) -> ExperimentConfig:
    """The run's final config: ``<run_dir>/final/config.yaml`` if present, else the best trial's ``top/top1.yaml``.

    Example:
        >>> cfg = final_config("runs/sst2-minilm-lora")  # doctest: +SKIP
        >>> cfg.train.learning_rate  # doctest: +SKIP
        0.0022
    """
    path = final_config_source(run_dir)
    try:
        return load_config(path)
    except ConfigError as exc:
        raise ExportError(f"the final config {path} is not a valid hpscout config: {exc}") from exc


def read_run_analysis(run_dir: str | Path) -> dict[str, Any]:
    """``<run_dir>/analysis.json`` as a dict (empty when no analysis ran)."""
    return read_analysis(RunLayout(Path(run_dir)).analysis)


@dataclass(frozen=True)
class ScoutInfo:
    """The search study and its best trial, as stored."""

    study: str | None = None
    storage: str | None = None
    trial: int | None = None
    value: float | None = None
    fraction: float | None = None
    train_samples: int | None = None
    n_trials: int = 0
    note: str | None = None


def scout_info(run_dir: str | Path, storage: str | None = None) -> ScoutInfo:
    """The best complete trial of the run's search study; a note (not an error) when the study cannot be read."""
    try:
        config = load_run_config(run_dir)
        study, shown = open_run_study(config, storage)
    except HpscoutError as exc:
        return ScoutInfo(note=f"the search study could not be read ({exc})")
    trials = study.get_trials(deepcopy=False)
    best = top_trials(study, 1, config.search.direction)
    if not best:
        return ScoutInfo(study=study.study_name, storage=shown, n_trials=len(trials), note="no complete trial in the study")
    t = best[0]
    samples = t.user_attrs.get("train_samples")
    if not isinstance(samples, int):
        samples = _samples_from_result(run_dir, t.number)
    fraction = t.user_attrs.get("fraction")
    return ScoutInfo(
        study=study.study_name,
        storage=shown,
        trial=t.number,
        value=t.value,
        fraction=float(fraction) if isinstance(fraction, (int, float)) else None,
        train_samples=samples,
        n_trials=len(trials),
    )


def _samples_from_result(run_dir: str | Path, number: int) -> int | None:
    path = trial_result_path(run_dir, number)
    if path is None:
        return None
    try:
        return TrialResult.load(path).train_samples or None
    except (StorageError, KeyError, TypeError, ValueError):
        return None


@dataclass(frozen=True)
class LrCorrection:
    """The learning rate of the full run, moved along the fitted LR law or left as scouted.

    The law (``hpscout.analysis``, section ``lr_scaling``) is ``LR* ∝ x^-beta`` with ``x``
    optimizer steps or training rows; the scouted LR is moved by the ratio of ``x``
    between the full run and the scouting run: ``corrected = scouted x (x_full / x_scout)^-beta``.
    """

    applied: bool
    scouted_lr: float
    corrected_lr: float
    reason: str
    beta: float | None = None
    beta_ci: list[float] | None = None
    x_kind: str | None = None
    x_scout: float | None = None
    x_full: float | None = None
    fractions_used: list[float] = field(default_factory=list)
    predicted_full_lr: float | None = None
    #: the LR the law gives for the full run, applied or not (None when there is no usable law)
    law_lr: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One line for a header comment."""
        if not self.applied:
            return f"lr_correction: not applied ({self.reason}); learning_rate {self.scouted_lr:.3g} as scouted"
        ci = f" (95% CI {self.beta_ci[0]:.3g}..{self.beta_ci[1]:.3g})" if self.beta_ci else ""
        return (f"lr_correction: scouted_lr {self.scouted_lr:.3g} -> corrected_lr {self.corrected_lr:.3g}; "
                f"LR ∝ {self.x_kind}^-beta, beta {self.beta:.3g}{ci}, {self.x_kind} {self.x_scout:,.0f} -> "
                f"{self.x_full:,.0f}; fractions_used {', '.join(f'{f:g}' for f in self.fractions_used)}")


def lr_correction(
    config: ExperimentConfig,
    section: dict[str, Any] | None,
    *,
    enabled: bool,
    full_total_steps: int | None,
    full_samples: int | None,
    scout_fraction: float | None,
) -> LrCorrection:
    """Decide the full run's learning rate from analysis.json's ``lr_scaling`` section.

    Args:
        config: the final config (its ``train.learning_rate`` is the scouted LR).
        section: ``analysis.json["lr_scaling"]`` or None.
        enabled: True for ``--lr-correction`` (off by default).
        full_total_steps: optimizer steps of the full run (from the full-data plan).
        full_samples: training rows of the full run.
        scout_fraction: fraction the final config was scouted at (default ``scout.fraction``).
    """
    lr = float(config.train.learning_rate)

    def skip(reason: str, **kw: Any) -> LrCorrection:
        return LrCorrection(False, lr, lr, reason, **kw)

    if not isinstance(section, dict):
        return skip("analysis.json has no lr_scaling section: the LR law was not fitted")
    if section.get("status") not in (None, "ok"):
        return skip(f"the LR law was refused: {section.get('message') or 'no reason given'}")
    beta = section.get("beta")
    kind = section.get("x_kind")
    if not isinstance(beta, (int, float)) or not math.isfinite(beta) or kind not in ("steps", "samples"):
        return skip("the lr_scaling section has no fitted exponent")
    fractions = [float(p["fraction"]) for p in section.get("points") or [] if isinstance(p.get("fraction"), (int, float))]
    ci = section.get("beta_ci") if isinstance(section.get("beta_ci"), list) else None
    extra = {"beta": float(beta), "beta_ci": ci, "x_kind": kind, "fractions_used": fractions,
             "predicted_full_lr": section.get("predicted_full_lr")}
    frac = scout_fraction or config.scout.fraction
    x_scout = _x_at(section, kind, frac)
    if x_scout is None:
        return skip(f"lr_scaling has no {kind} figure for the scouting fraction {frac:g}", **extra)
    full = _sub(section, "full")
    if kind == "steps":
        x_full = full_total_steps or full.get("steps") or full.get("x")
    else:
        x_full = full_samples or full.get("train_rows") or full.get("x")
    if not isinstance(x_full, (int, float)) or x_full <= 0:
        return skip(f"the full run's {kind} are unknown (pass --full-samples N)", **extra)
    law_lr = lr * (float(x_full) / float(x_scout)) ** (-float(beta))
    extra.update(law_lr=law_lr, x_scout=float(x_scout), x_full=float(x_full))
    if not enabled:
        return skip(f"off by default (on SST-2 the corrected LR did not beat the scouted one at 25% of the data, "
                    f"docs/benchmarks.md); the law gives {law_lr:.3g}; --lr-correction applies it", **extra)
    # Extrapolating a law whose slope is not told apart from 0 moves the LR by noise
    # (seen on the SST-2 demo: beta 1.14, 95% CI -5.4..7.7, would cut the LR 30x). Apply it only
    # when the interval is known and excludes 0.
    if ci is None or len(ci) != 2 or not all(isinstance(c, (int, float)) for c in ci):
        return skip("beta has no confidence interval (fewer than 3 fractions with a usable optimum)", **extra)
    if ci[0] <= 0 <= ci[1]:
        return skip(f"beta's 95% interval [{ci[0]:.3g}, {ci[1]:.3g}] includes 0: no detectable LR drift", **extra)
    return LrCorrection(True, lr, law_lr, "applied", **extra)


def _x_at(section: dict[str, Any], kind: str, fraction: float) -> float | None:
    """The law's x (steps or rows) at ``fraction``: from the fitted points, else from the rung table."""
    for p in section.get("points") or []:
        if isinstance(p.get("fraction"), (int, float)) and math.isclose(p["fraction"], fraction, rel_tol=1e-9):
            return float(p["x"])
    key = "steps" if kind == "steps" else "train_rows"
    for r in section.get("rungs") or []:
        if isinstance(r.get("fraction"), (int, float)) and math.isclose(r["fraction"], fraction, rel_tol=1e-9):
            if isinstance(r.get(key), (int, float)):
                return float(r[key])
    return None


@dataclass(frozen=True)
class Provenance:
    """What an exported config is based on; the header comment of every export."""

    run_name: str
    run_dir: str
    source: str
    study: str | None
    storage: str | None
    trial: int | None
    value: float | None
    metric: str
    direction: str
    scouting_fraction: float
    fidelities: list[float]
    seed: int
    ablation_seeds: list[int] | None
    transfer_verdict: str | None
    #: the fraction the final config was chosen at (the transfer climb's highest rung), and whether to trust it
    chosen_at_fraction: float | None
    trusted: bool
    untrusted_reason: str | None
    exported: str
    hpscout_version: str
    lr_correction: LrCorrection
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["lr_correction"] = self.lr_correction.to_dict()
        return d

    def header_lines(self) -> list[str]:
        """The provenance as comment lines (no leading '#')."""
        trial = (f"trial {self.trial} ({self.metric} = {self.value:.6g}, {self.direction})"
                 if self.trial is not None and self.value is not None else "best trial unknown")
        lines = [
            f"Exported by hpscout {self.hpscout_version} on {self.exported}",
            f"run: {self.run_name} ({self.run_dir})",
            f"final config: {self.source}",
            f"study: {self.study or 'unknown'}" + (f" in {self.storage}" if self.storage else "") + f"; best {trial}",
            f"scouting fraction: {self.scouting_fraction:g} (fidelities {', '.join(f'{f:g}' for f in self.fidelities)})",
            f"seeds: {self.seed}" + (f"; ablation seeds {', '.join(map(str, self.ablation_seeds))}" if self.ablation_seeds else ""),
            f"transfer check: {self.transfer_verdict or 'not run'}"
            + (f"; chosen at fraction {self.chosen_at_fraction:g}" if self.chosen_at_fraction is not None else ""),
            self.lr_correction.summary(),
        ]
        if not self.trusted:
            lines.insert(0, str(self.untrusted_reason))
        return lines + [f"note: {n}" for n in self.notes]


def build_provenance(
    run_dir: Path,
    config: ExperimentConfig,
    source: Path,
    info: ScoutInfo,
    analysis: dict[str, Any],
    correction: LrCorrection,
    notes: list[str],
) -> Provenance:
    ablation = _sub(analysis, "ablation")
    transfer = _sub(analysis, "transfer")
    trusted, warning = transfer_trust(transfer)
    seeds = ablation.get("seed_list")
    try:
        shown_source = str(source.relative_to(run_dir))
    except ValueError:
        shown_source = str(source)
    all_notes = list(notes)
    if info.note:
        all_notes.insert(0, info.note)
    return Provenance(
        run_name=config.name,
        run_dir=str(run_dir),
        source=shown_source,
        study=info.study,
        storage=info.storage,
        trial=info.trial,
        value=info.value,
        metric=config.search.metric,
        direction=config.search.direction,
        scouting_fraction=info.fraction or config.scout.fraction,
        fidelities=list(config.scout.fidelities),
        seed=config.seed,
        ablation_seeds=[int(s) for s in seeds] if isinstance(seeds, list) else None,
        transfer_verdict=transfer.get("verdict"),
        chosen_at_fraction=transfer.get("final_fraction"),
        trusted=trusted,
        untrusted_reason=warning,
        exported=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        hpscout_version=__version__,
        lr_correction=correction,
        notes=all_notes,
    )


def _sub(obj: Any, key: str) -> dict[str, Any]:
    """``obj[key]`` when it is a mapping, else an empty dict (analysis.json sections may be partial)."""
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, dict) else {}
