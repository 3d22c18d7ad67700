"""The competitors of bench/peers.py, and the per-trial fixed-cost probe; each runs in its own process.

Every competitor trains MiniLM + LoRA on the same data (the embedded SST-2 sample, or in --quick and
--smoke a stratified slice of it), evaluates on the same stratified slice of dev (``data.max_eval_samples``,
seed 42: the example's), searches the example's space (learning rate, LoRA r, warmup) for eval_accuracy:

- ``hf-scout`` / ``hf-full``: ``Trainer.hyperparameter_search(backend="optuna")`` as the Hugging Face guide
  sets it up (``model_init`` builds the LoRA model and samples its rank, ``hp_space`` the learning rate and
  warmup, TPE + MedianPruner fed by per-epoch evaluation), at hpscout's scouting fraction and at 100%.
  Plain transformers + PEFT code, as a user writes it; only the data subset comes from hpscout
  (``hpscout.data.prepare_data``), so every competitor sees the same rows.
- ``tpe`` / ``tpe-hyperband``: a plain Optuna study whose objective trains through hpscout's own trial
  runner (``hpscout.runner.run_trial``) on 100% of the sample, so its training code is exactly what hpscout's
  trials and the full-scale retrains run (the comparison is between search strategies, not training loops).
  Hyperband uses epochs as the resource (each per-epoch evaluation is reported at step = epoch).
- ``hpscout``: ``hpscout.workflow.run_workflow`` on the example config with its defaults (the ladder, the
  search, the climbing transfer check, the final pick); the ablation and report stages are left out because
  they do not change the pick. Its pick is retrained as the export hands it off: the learning rate lowered
  for the full run's horizon (``hpscout export``'s default ``--lr-correction horizon``).

The peers get a hard wall-clock budget: Optuna's ``timeout`` stops new trials, and a trial still training
when the budget ends is stopped (SIGALRM) and recorded as ``cut``; it never becomes the incumbent.
hpscout runs to completion with its defaults; its wall time is what it took.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import sys
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
from _peers_result import CompetitorRun, TrialRecord, best_complete_changes, climb_changes
from _peers_setup import (
    SAMPLE_ROWS,
    BudgetSpent,
    Clock,
    Deadline,
    Setup,
    competitor_config,
    eval_seconds,
    normal_params,
    scouting_fraction,
    versions,
)

#: hpscout's stages that lead to the final pick (ablation and report do not change it)
HPSCOUT_STAGES = ["subsets", "search", "top", "transfer", "final"]


# --------------------------------------------------------------------------- plain Optuna over hpscout's runner


class EpochReporter:
    """hpscout runner reporter that hands each per-epoch evaluation to an Optuna trial at step = epoch."""

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial, self.epoch = trial, 0

    def report(self, value: float, step: int) -> None:
        self.epoch += 1
        self.trial.report(value, self.epoch)

    def should_prune(self) -> bool:
        return self.trial.should_prune()


def run_optuna_peer(setup: Setup, name: str, clock: Clock, *, hyperband: bool) -> CompetitorRun:
    """TPE (``hyperband``: + HyperbandPruner over epochs) with every trial on 100% of the sample."""
    from hpscout.config import apply_updates
    from hpscout.runner import run_trial
    from hpscout.search import suggest_updates

    config = competitor_config(setup)
    epochs = max(1, int(config.train.epochs))
    pruner: optuna.pruners.BasePruner = (
        optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs, reduction_factor=3)
        if hyperband
        else optuna.pruners.NopPruner()
    )
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=config.seed), pruner=pruner)
    deadline = Deadline(clock, setup.budget_s)
    records: list[TrialRecord] = []
    trials_dir = setup.scratch / "trials" / name

    def objective(trial: optuna.Trial) -> float:
        cfg = apply_updates(config, suggest_updates(trial, config.search.space, config))
        out = trials_dir / f"t{trial.number:04d}"
        start = clock.now()
        result = None
        with contextlib.suppress(BudgetSpent):
            with deadline.training():
                result = run_trial(cfg, out_dir=out, fraction=1.0, reporter=EpochReporter(trial) if hyperband else None)
        end = clock.now()
        state = _state_of(result, deadline)
        records.append(_runner_record(trial.number, normal_params(trial.params), result, state, out, start, end))
        if state == "complete":
            return float(result.objective)  # type: ignore[union-attr]
        if state in ("pruned", "cut"):
            raise optuna.TrialPruned(state)
        raise RuntimeError(f"trial {trial.number} ended {result.status.value}: {result.message}")  # type: ignore[union-attr]

    deadline.arm()
    try:
        study.optimize(objective, timeout=deadline.remaining(), callbacks=[deadline.stop_study], catch=(RuntimeError,))
    except BudgetSpent:
        pass  # the budget ended between trials (in the sampler): nothing was training
    finally:
        deadline.disarm()
    complete = [r for r in records if r.state == "complete"]
    best = max(complete, key=lambda r: (r.value, -r.number)) if complete else None
    label = "Optuna TPE + Hyperband (epochs), 100%" if hyperband else "Optuna TPE, 100%"
    return CompetitorRun(
        name=name,
        label=label,
        budget_s=setup.budget_s,
        wall_s=math.nan,
        trials=records,
        incumbents=best_complete_changes(records),
        pick=None if best is None else dict(best.params),
        best_value=None if best is None else best.value,
        notes=[
            "trains through hpscout.runner.run_trial (the same code as hpscout's trials and the retrains)",
            f"pruner: HyperbandPruner(min_resource=1, max_resource={epochs}, reduction_factor=3), step = epoch"
            if hyperband
            else "no pruner",
        ],
        extra={"versions": versions(), "study_best_value": study.best_value if complete else None},
    )


def _state_of(result: Any, deadline: Deadline) -> str:
    """complete | pruned | failed, or cut: the budget stopped it (no result, or a failure once the budget is spent)."""
    from hpscout.runner import TrialStatus

    ok = result is not None and result.ok
    if result is None or (deadline.expired and not ok):
        return "cut"
    if result.status is TrialStatus.PRUNED:
        return "pruned"
    return "complete" if ok else "failed"


def _runner_record(number: int, params: dict[str, Any], result: Any, state: str, out: Path, start: float, end: float) -> TrialRecord:
    """A run_trial call as a record: its setup is the wall time around it minus the runner's own elapsed time."""
    ev, n_evals = eval_seconds(out / "tb")
    elapsed = result.elapsed_seconds if result is not None and state != "cut" else None
    return TrialRecord(
        number=number,
        state=state,
        value=None if result is None else result.objective,
        params=params,
        fraction=1.0,
        start_s=start,
        end_s=end,
        samples=0 if result is None else int(result.samples_processed),
        setup_s=None if elapsed is None else end - start - elapsed,
        train_s=None if elapsed is None or ev is None else elapsed - ev,
        eval_s=ev,
        evals=n_evals,
    )


# --------------------------------------------------------------------------- hpscout run


def run_hpscout(setup: Setup, clock: Clock) -> CompetitorRun:
    """``hpscout run`` on the example config with its defaults, up to the final pick."""
    from hpscout.analysis import compute_cost, read_analysis
    from hpscout.config import load_config
    from hpscout.export import exported_lr_correction
    from hpscout.search import load_study
    from hpscout.store import RunLayout
    from hpscout.workflow import run_workflow

    run_dir = setup.scratch / "hpscout-run"
    shutil.rmtree(run_dir, ignore_errors=True)  # a run is measured whole, never resumed
    config = competitor_config(setup, output_dir=run_dir)
    result = run_workflow(config, only=HPSCOUT_STAGES)
    layout = RunLayout(result.run_dir)
    resolved = load_config(layout.config)
    analysis = read_analysis(layout.analysis)
    transfer = analysis.get("transfer") or {}
    search = load_study(resolved)
    records = []
    for trial in search.get_trials(deepcopy=False):
        records.append(_hpscout_record(trial, clock, layout.trial_dir(f"t{trial.number:04d}"), "search", trial.params))
    params_of = {t.number: t.params for t in search.get_trials(deepcopy=False)}
    try:
        reruns = load_study(resolved, suffix="-transfer").get_trials(deepcopy=False)
    except Exception:  # noqa: BLE001 - no transfer study: the climb did not run
        reruns = []
    stage_done = _stage_done_at(layout.state, clock)
    previous = stage_done.get("top", math.nan)  # the climb starts when the top stage is done
    for trial in sorted(reruns, key=lambda t: t.datetime_complete or datetime.min):
        source = int(trial.user_attrs.get("source_trial", -1))
        rec = _hpscout_record(trial, clock, Path(str(trial.user_attrs.get("result_path", ""))).parent, "transfer", params_of.get(source, {}))
        rec.number = source
        # re-runs run one after another in the main process: each began when the previous one was recorded
        if math.isfinite(previous) and rec.train_s is not None:
            rec.start_s, rec.setup_s = previous, rec.end_s - previous - (rec.train_s + (rec.eval_s or 0.0))
        previous = rec.end_s
        records.append(rec)
    final = load_config(layout.final_dir / "config.yaml")
    # what the user trains at full scale: the export's learning rate (lowered for the full run's horizon)
    handoff = exported_lr_correction(layout.root)
    pick = {"learning_rate": handoff["corrected_lr"] if handoff else final.train.learning_rate,
            "lora_r": final.train.lora.r, "warmup_ratio": final.train.warmup_ratio}
    cost = compute_cost(resolved, write=False)
    complete = [r for r in records if r.state == "complete" and r.kind == "search"]
    best = max(complete, key=lambda r: (r.value, -r.number)) if complete else None
    picked = transfer.get("pick") or {}
    return CompetitorRun(
        name="hpscout",
        label="hpscout run (example defaults)",
        budget_s=setup.budget_s,
        wall_s=math.nan,
        trials=records,
        incumbents=climb_changes(records, transfer.get("rungs") or []),
        pick=pick,
        best_value=None if best is None else best.value,
        pick_value=picked.get("value"),
        pick_fraction=transfer.get("final_fraction"),
        notes=[
            f"stages {', '.join(HPSCOUT_STAGES)} (ablation and report do not change the pick)",
            analysis.get("preflight", {}).get("message", ""),
            result.verdict or "",
        ],
        extra={
            "versions": versions(),
            "ladder": analysis.get("ladder"),
            "scout_fraction": resolved.scout.fraction,
            "transfer": {k: transfer.get(k) for k in ("final_fraction", "stop_reason", "trusted", "verdict", "rungs", "pick")},
            "scouted_learning_rate": final.train.learning_rate,
            "lr_correction": handoff,
            "cost": cost,
            "stage_seconds": _stage_seconds(layout.state),
            "stage_done_s": stage_done,
        },
    )


def _hpscout_record(trial: Any, clock: Clock, folder: Path, kind: str, params: Mapping[str, Any]) -> TrialRecord:
    state = {"COMPLETE": "complete", "PRUNED": "pruned"}.get(trial.state.name, "failed")
    attrs = trial.user_attrs
    tb = [p for p in sorted(folder.rglob("tb"))] if folder.exists() else []
    ev, n = 0.0, 0
    for d in tb:
        s, k = eval_seconds(d)
        ev, n = ev + (s or 0.0), n + k
    elapsed = attrs.get("elapsed_seconds")
    start, end = clock.of(trial.datetime_start), clock.of(trial.datetime_complete)
    setup = None
    if kind == "transfer" and elapsed is not None:
        start = end - float(elapsed)  # a re-run is recorded after it ran: only its training + evaluation time is known
    elif elapsed is not None:
        setup = end - start - float(elapsed)
    return TrialRecord(
        number=trial.number,
        state=state,
        value=trial.value if trial.value is not None else attrs.get("objective"),
        params=normal_params(params) if params else {},
        fraction=float(attrs.get("fraction") or 0.0),
        start_s=start,
        end_s=end,
        samples=int(attrs.get("samples_processed") or 0),
        setup_s=setup,
        train_s=None if elapsed is None else float(elapsed) - ev,
        eval_s=ev if tb else None,
        evals=n,
        kind=kind,
    )


def _stage_done_at(state_file: Path, clock: Clock) -> dict[str, float]:
    """When each stage was marked done (state.json ``at``, local time to the second), in seconds since launch."""
    from hpscout._io import read_json

    stages = read_json(state_file).get("stages", {})
    return {
        name: clock.of(datetime.fromisoformat(s["at"]))
        for name, s in stages.items()
        if isinstance(s, dict) and s.get("status") == "done" and s.get("at")
    }


def _stage_seconds(state_file: Path) -> dict[str, float]:
    from hpscout._io import read_json

    stages = read_json(state_file).get("stages", {})
    return {name: float(s.get("seconds", 0.0)) for name, s in stages.items() if isinstance(s, dict) and "seconds" in s}


# --------------------------------------------------------------------------- fixed costs


def run_probe(setup: Setup, clock: Clock) -> dict[str, Any]:
    """Where one trial's time goes at each rung, measured in a fresh process with one thread (an hpscout worker).

    process start: launch to torch/transformers/peft/hpscout.runner imported; then per rung: reading and
    subsetting the data, tokenising, loading the model + LoRA (each timed alone, cold), and one real trial
    through ``run_trial``: its setup (wall - elapsed: data, tokenising and model load inside the runner),
    training and evaluation (the Trainer's ``eval/runtime``).
    """
    import peft  # noqa: F401
    import torch
    import transformers  # noqa: F401

    import hpscout.runner  # noqa: F401

    imported = clock.now()
    from _peers_hf import load_tokenizer_and_path, lora_classifier, tokenized

    torch.set_num_threads(1)
    from hpscout.data import prepare_data
    from hpscout.runner import run_trial

    config = competitor_config(setup, full_sample=setup.probe_full_sample)
    fractions = setup.probe_fractions or (scouting_fraction(config),)
    rungs = []
    for fraction in fractions:
        t0 = time.perf_counter()
        prepare_data(config, fraction)
        t1 = time.perf_counter()
        tokenizer, path = load_tokenizer_and_path(config)
        train_ds, _ = tokenized(config, fraction, tokenizer)
        t2 = time.perf_counter()
        lora_classifier(config, path, tokenizer, config.train.lora.r, num_labels=2)
        t3 = time.perf_counter()
        out = setup.scratch / "probe" / f"f{fraction:g}"
        shutil.rmtree(out, ignore_errors=True)
        result = run_trial(config, out_dir=out, fraction=fraction)
        t4 = time.perf_counter()
        ev, n_evals = eval_seconds(out / "tb")
        elapsed = result.elapsed_seconds
        trial_s = t4 - t3
        rungs.append(
            {
                "fraction": fraction,
                "rows": len(train_ds),
                "status": result.status.value,
                "data_s": t1 - t0,
                "tokenize_s": t2 - t1,
                "model_load_s": t3 - t2,
                "trial_wall_s": trial_s,
                "runner_setup_s": trial_s - elapsed,
                "train_s": elapsed - (ev or 0.0),
                "eval_s": ev,
                "evals": n_evals,
                "eval_rows": config.data.max_eval_samples,
                "samples": result.samples_processed,
                "eval_share": (ev or 0.0) / trial_s,
                "setup_share": (trial_s - elapsed) / trial_s,
                "process_start_share_if_one_per_trial": imported / (trial_s + imported),
            }
        )
    return {
        "process_start_s": imported,
        "threads": 1,
        "rungs": rungs,
        "versions": versions(),
        "sample_rows": SAMPLE_ROWS if setup.probe_full_sample or setup.train_rows is None else setup.train_rows,
    }


def main_piece(setup: Setup, piece: str, launched_at: float) -> Any:
    """Run one piece in this process; returns what it measured (the caller writes it)."""
    clock = Clock(launched_at)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    if piece == "probe":
        return run_probe(setup, clock)
    if piece == "hpscout":
        return run_hpscout(setup, clock)
    if setup.peer_threads is not None:
        from hpscout.search import apply_threads

        apply_threads(setup.peer_threads)
    if piece in ("hf-scout", "hf-full"):
        from _peers_hf import run_hf_peer

        return run_hf_peer(setup, piece, clock, fraction=None if piece == "hf-scout" else 1.0)
    if piece in ("tpe", "tpe-hyperband"):
        return run_optuna_peer(setup, piece, clock, hyperband=piece == "tpe-hyperband")
    raise SystemExit(f"unknown piece {piece!r}")
