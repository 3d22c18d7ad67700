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

__all__ = ["final_config", "final_config_source", "LR_CORRECTIONS", "LrCorrection", "lr_correction", "pick_steps",
           "Provenance", "ScoutInfo", "scout_info", "read_run_analysis"]


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


#: How the full run's learning rate is decided (``hpscout export --lr-correction``).
LR_CORRECTIONS = ("horizon", "law", "off")


@dataclass(frozen=True)
class LrCorrection:
    """The learning rate of the full run: moved for its longer horizon, along the fitted LR law, or as scouted.

    ``horizon`` (the default): ``corrected = scouted x (steps_full / steps_pick)^-HORIZON_BETA``
    (:func:`hpscout.analysis.horizon_lr`), where ``steps_pick`` are the optimizer steps of the
    run the final config was chosen on (the transfer climb's highest rung, else the scouting
    fraction). ``law``: the fitted law of analysis.json's ``lr_scaling`` (``LR* ∝ x^-beta``, ``x``
    optimizer steps or training rows), applied only when beta's 95% interval excludes 0.
    ``off``: the scouted LR.
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
    mode: str = "law"
    #: corrected / scouted
    factor: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One line for a header comment."""
        if not self.applied:
            return f"lr_correction ({self.mode}): not applied ({self.reason}); learning_rate {self.scouted_lr:.3g} as scouted"
        if self.mode == "horizon":
            return (f"lr_correction (horizon): scouted_lr {self.scouted_lr:.3g} -> corrected_lr {self.corrected_lr:.3g} "
                    f"(x{self.factor:.2f}) for {self.x_full:,.0f} optimizer steps instead of the {self.x_scout:,.0f} it "
                    f"was chosen at; LR ∝ steps^-{self.beta:g} ({self.reason})")
        ci = f" (95% CI {self.beta_ci[0]:.3g}..{self.beta_ci[1]:.3g})" if self.beta_ci else ""
        return (f"lr_correction (law): scouted_lr {self.scouted_lr:.3g} -> corrected_lr {self.corrected_lr:.3g}; "
                f"LR ∝ {self.x_kind}^-beta, beta {self.beta:.3g}{ci}, {self.x_kind} {self.x_scout:,.0f} -> "
                f"{self.x_full:,.0f}; fractions_used {', '.join(f'{f:g}' for f in self.fractions_used)}")


def lr_correction(
    config: ExperimentConfig,
    section: dict[str, Any] | None,
    *,
    mode: str = "horizon",
    full_total_steps: int | None,
    full_samples: int | None,
    scout_fraction: float | None,
    pick_steps: tuple[float, str] | None = None,
) -> LrCorrection:
    """Decide the full run's learning rate.

    Args:
        config: the final config (its ``train.learning_rate`` is the scouted LR).
        section: ``analysis.json["lr_scaling"]`` or None (``law`` reads it).
        mode: one of :data:`LR_CORRECTIONS`.
        full_total_steps: optimizer steps of the full run (from the full-data plan).
        full_samples: training rows of the full run.
        scout_fraction: fraction the final config was scouted at (default ``scout.fraction``).
        pick_steps: (optimizer steps of the run the final config was chosen on, where that figure comes
            from); ``horizon`` needs it.
    """
    if mode not in LR_CORRECTIONS:
        raise ExportError(f"--lr-correction must be one of {', '.join(LR_CORRECTIONS)}, but got {mode!r}")
    lr = float(config.train.learning_rate)
    if mode == "off":
        return LrCorrection(False, lr, lr, "--lr-correction off", mode="off")
    if mode == "horizon":
        return _horizon_correction(lr, full_total_steps, pick_steps)
    return _law_correction(config, section, lr, full_total_steps, full_samples, scout_fraction)


def _horizon_correction(lr: float, full_steps: int | None, pick: tuple[float, str] | None) -> LrCorrection:
    from hpscout.analysis import HORIZON_BETA, HORIZON_MIN_FACTOR, horizon_lr

    def skip(reason: str) -> LrCorrection:
        return LrCorrection(False, lr, lr, reason, beta=HORIZON_BETA, x_kind="steps", mode="horizon")

    if pick is None or not pick[0] > 0:
        return skip("the optimizer steps of the run the final config was chosen on are unknown")
    if not full_steps:
        return skip("the full run's optimizer steps are unknown (pass --full-samples N)")
    steps, where = pick
    corrected, factor = horizon_lr(lr, steps, full_steps)

    def made(applied: bool, reason: str) -> LrCorrection:
        return LrCorrection(applied, lr, corrected if applied else lr, reason, beta=HORIZON_BETA, x_kind="steps",
                            x_scout=float(steps), x_full=float(full_steps), mode="horizon", factor=factor)

    if factor >= 1.0:
        return made(False, f"the full run is no longer than the run it was chosen on ({where})")
    capped = f", capped at x{HORIZON_MIN_FACTOR:g}" if math.isclose(factor, HORIZON_MIN_FACTOR) else ""
    return made(True, f"steps from {where}{capped}; --lr-correction off keeps the scouted LR")


def _law_correction(
    config: ExperimentConfig,
    section: dict[str, Any] | None,
    lr: float,
    full_total_steps: int | None,
    full_samples: int | None,
    scout_fraction: float | None,
) -> LrCorrection:
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
    # Extrapolating a law whose slope is not told apart from 0 moves the LR by noise
    # (seen on the SST-2 demo: beta 1.14, 95% CI -5.4..7.7, would cut the LR 30x). Apply it only
    # when the interval is known and excludes 0.
    if ci is None or len(ci) != 2 or not all(isinstance(c, (int, float)) for c in ci):
        return skip("beta has no confidence interval (fewer than 3 fractions with a usable optimum)", **extra)
    if ci[0] <= 0 <= ci[1]:
        return skip(f"beta's 95% interval [{ci[0]:.3g}, {ci[1]:.3g}] includes 0: no detectable LR drift", **extra)
    return LrCorrection(True, lr, law_lr, "applied", **extra)


def pick_steps(analysis: dict[str, Any], scout_total_steps: int | None) -> tuple[float, str] | None:
    """(optimizer steps, source) of the run the final config was chosen on: the transfer climb's highest
    rung (analysis.json ``transfer``), else the scouting run (``scout_total_steps``); None when unknown."""
    transfer = _sub(analysis, "transfer")
    final = transfer.get("final_fraction")
    if isinstance(final, (int, float)):
        for rung in transfer.get("rungs") or []:
            steps = rung.get("steps") if isinstance(rung, dict) else None
            frac = rung.get("fraction") if isinstance(rung, dict) else None
            if isinstance(frac, (int, float)) and math.isclose(frac, final, rel_tol=1e-9) and isinstance(steps, (int, float)):
                return float(steps), f"the transfer climb's rung {final:g} ({steps:,.0f} steps)"
    if scout_total_steps:
        return float(scout_total_steps), f"the scouting run ({scout_total_steps:,} steps)"
    return None


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
