"""``hpscout run``: subsets -> search -> top-k -> transfer check -> ablation -> final config -> report.

Every stage is resumable and records its status in ``<run_dir>/state.json``; running the
same command again skips finished stages and continues unfinished ones (the search adds
trials up to its budget; transfer and ablation run only missing cells).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpscout._errors import ConfigError, HpscoutError
from hpscout.analysis import (
    analyze_search,
    apply_ablation_verdicts,
    preflight,
    read_analysis,
    run_ablation,
    run_transfer,
    transfer_trust,
    write_section,
)
from hpscout.config import ExperimentConfig, config_to_dict, load_config, save_config
from hpscout.data import write_run_subsets
from hpscout.export import export_run, exported_lr_correction
from hpscout.report import build_report
from hpscout.search import config_for_params, open_study, resolve_scout, run_staged_search, write_top_configs
from hpscout.store import RunLayout
from hpscout.workflow._state import STAGES, WorkflowState, config_fingerprint

__all__ = ["STAGES", "WorkflowResult", "final_verdict", "plan_scouting", "run_workflow", "select_stages"]


@dataclass
class WorkflowResult:
    run_dir: Path
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    elapsed: float = 0.0
    #: one line on whether the final config can be trusted (None until the final stage ran)
    verdict: str | None = None


def select_stages(until: str | None = None, only: list[str] | None = None) -> list[str]:
    """The stages to run for ``--until`` / ``--only`` (validated against :data:`STAGES`)."""
    for name in [until, *(only or [])]:
        if name is not None and name not in STAGES:
            raise ConfigError(f"unknown stage {name!r}; the stages are: {', '.join(STAGES)}")
    if until and only:
        raise ConfigError("--until and --only cannot be combined")
    if only:
        return [s for s in STAGES if s in only]
    if until:
        return list(STAGES[: STAGES.index(until) + 1])
    return list(STAGES)


def _say(msg: str) -> None:
    print(f"[hpscout] {msg}", file=sys.stderr, flush=True)


def run_workflow(
    config: ExperimentConfig,
    *,
    storage: str | None = None,
    until: str | None = None,
    only: list[str] | None = None,
    force: bool = False,
) -> WorkflowResult:
    """Run the scouting workflow for ``config``; returns what ran and where the outputs are.

    Example:
        >>> res = run_workflow(load_config("examples/sst2-minilm-lora.yaml"))  # doctest: +SKIP
        >>> res.outputs["report"]  # doctest: +SKIP
        'runs/sst2-minilm-lora/report/index.html'
    """
    t0 = time.time()
    stages = select_stages(until, only)
    config, ladder, pre = plan_scouting(config)  # before any write: an impossible floor leaves no folder behind
    layout = RunLayout.of(config)
    layout.root.mkdir(parents=True, exist_ok=True)
    _say(ladder.message())
    _say(pre["message"])
    if pre.get("advice"):
        _say(f"preflight: {pre['advice']}")
    state = WorkflowState.load(layout.state)
    fp = config_fingerprint(config_to_dict(config))
    if state.fingerprint and state.fingerprint != fp:
        _say(
            "the config changed since this run folder was started: finished stages are re-run; "
            "the search study continues with its existing trials"
        )
        state.stages = {}
    state.fingerprint = fp
    save_config(config, layout.config, header=f"resolved config of run {config.name} (written by hpscout run)")
    state.save()
    write_section(config, "ladder", [r.to_dict() for r in ladder.rungs])
    write_section(config, "preflight", {**pre, "ladder": ladder.to_dict()})

    result = WorkflowResult(run_dir=layout.root)
    for stage in stages:
        if state.done(stage) and not force and stage not in ("report",):
            _say(f"{stage}: done earlier, skipped")
            result.skipped.append(stage)
            continue
        _say(f"{stage}: running")
        t = time.time()
        state.mark(stage, "running")
        try:
            detail = _STAGE_FUNCS[stage](config, layout, storage)
        except HpscoutError as exc:
            state.mark(stage, "failed", error=str(exc))
            raise
        except KeyboardInterrupt:
            state.mark(stage, "interrupted")
            raise
        state.mark(stage, "done", seconds=round(time.time() - t, 2), **(detail or {}))
        result.ran.append(stage)
        _say(f"{stage}: done in {time.time() - t:.1f}s")
    result.outputs = _outputs(layout)
    result.elapsed = time.time() - t0
    if (layout.final_dir / "config.yaml").exists():
        result.verdict = final_verdict(layout)
    return result


def plan_scouting(config: ExperimentConfig) -> tuple[ExperimentConfig, Any, dict[str, Any]]:
    """The config with the ladder in force, the ladder plan and the cost preflight (reads the data file).

    Raises:
        ConfigError: ``scout.min_steps`` cannot be met even on the full data.
    """
    config, ladder = resolve_scout(config)
    return config, ladder, preflight(config, ladder)


# --------------------------------------------------------------------------- stages


def _stage_subsets(config: ExperimentConfig, layout: RunLayout, storage: str | None) -> dict[str, Any]:
    manifest, report = write_run_subsets(config, layout.subsets_dir)
    return {"manifest": str(manifest), "report": str(report)}


def _stage_search(config: ExperimentConfig, layout: RunLayout, storage: str | None) -> dict[str, Any]:
    summary = run_staged_search(config, storage=storage, progress=True, say=_say)
    return {"n_complete": summary.n_complete, "n_pruned": summary.n_pruned, "n_failed": summary.n_failed,
            "best_value": summary.best_value, "best_trial": summary.best_trial}


def _stage_top(config: ExperimentConfig, layout: RunLayout, storage: str | None) -> dict[str, Any]:
    study = open_study(config, storage=storage)
    paths = write_top_configs(config, study)
    if not paths:
        raise HpscoutError(
            f"no trial of study {config.name} completed, so there is no top-k to carry on with; "
            f"see `hpscout trials {layout.config}` for the failures"
        )
    return {"top": [str(p) for p in paths]}


def _stage_transfer(config: ExperimentConfig, layout: RunLayout, storage: str | None) -> dict[str, Any]:
    if not config.transfer.climb_fractions(config.scout.fraction):
        _say(
            f"transfer: no fraction above scout.fraction {config.scout.fraction:g} within transfer.max_fraction "
            f"{config.transfer.max_fraction:g}; the check is skipped and the final config is the search's top-1"
        )
        return {"skipped": "no larger fraction"}
    out = run_transfer(config, storage=storage, progress=_say)
    return {
        "verdict": out.get("verdict"),
        "final_fraction": out.get("final_fraction"),
        "trusted": out.get("trusted"),
    }


def _stage_ablation(config: ExperimentConfig, layout: RunLayout, storage: str | None) -> dict[str, Any]:
    # ablate around the config the run will hand over: the transfer check's pick, when it made one
    baseline = None
    pick = (read_analysis(layout.analysis).get("transfer") or {}).get("pick") or {}
    if config.ablation.baseline == "best" and isinstance(pick.get("trial"), int):
        baseline = f"trial:{pick['trial']}"
        _say(f"ablation: around the transfer check's pick, trial {pick['trial']}")
    run_ablation(config, baseline=baseline, storage=storage, progress=_say)
    analyze_search(config, storage=storage)
    return {"baseline": baseline or config.ablation.baseline}


def choose_final(config: ExperimentConfig, layout: RunLayout) -> tuple[ExperimentConfig, str]:
    """The final config and why: the transfer check's pick (the best at the highest rung it
    reached: larger-scale evidence beats small-scale evidence), else the search's top-1."""
    analysis = read_analysis(layout.analysis)
    transfer = analysis.get("transfer") or {}
    pick = transfer.get("pick")
    if pick and pick.get("params") is not None:
        trusted, warning = transfer_trust(transfer)
        why = pick["why"] if trusted else f"{warning}. {pick['why']}"
        final, applied = apply_ablation_verdicts(
            config_for_params(config, pick["params"]), analysis.get("ablation") or {}, baseline_trial=pick.get("trial")
        )
        if applied:
            why += "; ablation verdicts applied (significant at the scouting fraction): " + "; ".join(applied)
        return final, why
    scored = [c for c in transfer.get("configs", []) if c.get("large_value") is not None]
    if scored:
        sign = 1 if config.greater_is_better else -1
        best = max(scored, key=lambda c: sign * float(c["large_value"]))
        why = (
            f"trial {best['trial']}: best {config.search.metric} {best['large_value']:.4g} at the transfer fraction "
            f"{transfer.get('large_fraction')} (ranked {best.get('rank_small')} at {transfer.get('small_fraction')}); "
            f"transfer verdict: {transfer.get('verdict')}"
        )
        return config_for_params(config, best.get("params") or {}), why
    top1 = layout.top_dir / "top1.yaml"
    if not top1.exists():
        raise HpscoutError(f"{top1} is missing: run the search and top stages first")
    return load_config(top1), "the search's top-1 trial (no transfer check ran)"


def _stage_final(config: ExperimentConfig, layout: RunLayout, storage: str | None) -> dict[str, Any]:
    final_cfg, why = choose_final(config, layout)
    final = layout.final_dir / "config.yaml"
    if why.startswith("UNTRUSTED"):
        _say(why)
    save_config(
        final_cfg,
        final,
        header=f"final config of run {config.name}, chosen by hpscout run: {why}\n"
        "Hyperparameters as scouted; the full-scale exports beside it recompute step-based settings "
        "for the full data and lower the LR for the full run's longer horizon (their header says by how much; "
        "`hpscout export --lr-correction off` keeps it).",
    )
    outs = {"config": str(final), "why": why}
    for fmt in ("llamafactory", "hf", "json"):
        outs[fmt] = str(export_run(layout.root, fmt, storage=storage))
    lr = _export_lr_line(exported_lr_correction(layout.root))
    if lr:
        _say(f"exports: {lr}")
    return outs


def _export_lr_line(corr: dict[str, Any] | None) -> str | None:
    """The exports' learning-rate line: lowered for the full run's horizon, or as scouted and why."""
    if corr is None:
        return None
    if corr.get("applied"):
        return (f"learning_rate {corr['scouted_lr']:.3g} -> {corr['corrected_lr']:.3g} for the full run's "
                f"{corr['x_full']:,.0f} optimizer steps (scouted at {corr['x_scout']:,.0f}; lr_correction "
                f"{corr['mode']}; `hpscout export --lr-correction off` keeps it)")
    return f"learning_rate {corr.get('scouted_lr', 0):.3g} as scouted ({corr.get('reason')})"


def _stage_report(config: ExperimentConfig, layout: RunLayout, storage: str | None) -> dict[str, Any]:
    return {"report": str(build_report(layout.root, storage=storage))}


_STAGE_FUNCS: dict[str, Callable[[ExperimentConfig, RunLayout, str | None], dict[str, Any] | None]] = {
    "subsets": _stage_subsets,
    "search": _stage_search,
    "top": _stage_top,
    "transfer": _stage_transfer,
    "ablation": _stage_ablation,
    "final": _stage_final,
    "report": _stage_report,
}


def _outputs(layout: RunLayout) -> dict[str, str]:
    out = {}
    for key, path in (
        ("report", layout.report_dir / "index.html"),
        ("llamafactory", layout.final_dir / "llamafactory.yaml"),
        ("training_args", layout.final_dir / "training_args.json"),
        ("final_config", layout.final_dir / "config.yaml"),
        ("analysis", layout.analysis),
    ):
        if path.exists():
            out[key] = str(path)
    return out


def final_verdict(layout: RunLayout) -> str:
    """The last console line of a run: which fraction the final config was chosen at, and whether to trust it."""
    transfer = read_analysis(layout.analysis).get("transfer") or {}
    trusted, warning = transfer_trust(transfer)
    if not trusted:
        return f"final config: {warning}"
    if transfer.get("pick"):
        return (
            f"final config: chosen at fraction {transfer.get('final_fraction'):g} "
            f"({transfer.get('stop_reason')}); trusted"
        )
    return "final config: the search's top-1 (no transfer check ran)"
