"""``hpscout search``, ``hpscout worker`` and ``hpscout trials``: run, join and list a study."""

from __future__ import annotations

from typing import Annotated

import typer

from hpscout.cli._common import (
    STUDY_INTERRUPT_NOTE,
    ConfigArg,
    JsonOpt,
    QuietOpt,
    SetOpt,
    StorageOpt,
    echo_json,
    info,
    load,
    load_scouting,
    on_interrupt,
    warn,
)

TrialsOpt = Annotated[
    int | None,
    typer.Option("--trials", min=1, help="The study's budget: total finished trials (default search.trials).", show_default=False),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option("--workers", min=1, max=256, help="Local worker processes (default search.workers); with GPUs, each is pinned to one (round-robin).", show_default=False),
]
# Advanced/testing: replace training with a 'module:function' objective(trial, config) -> float.
ObjectiveOpt = Annotated[str | None, typer.Option("--objective", hidden=True, show_default=False)]


def search(
    config: ConfigArg,
    trials: TrialsOpt = None,
    workers: WorkersOpt = None,
    storage: StorageOpt = None,
    set_: SetOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
    objective: ObjectiveOpt = None,
) -> None:
    """Search hyperparameters on the nested data fractions; running it again resumes the study.

    Writes the best trials as ready-to-train configs to <run_dir>/top/top1.yaml ...

    Examples:
        hpscout search sst2.yaml --trials 30
        hpscout search sst2.yaml --workers 4 --storage postgresql://user@db-host/hpscout
        hpscout search sst2.yaml --storage env:HPSCOUT_STORAGE   # the URL is in $HPSCOUT_STORAGE
    """
    from hpscout.search import mask_url, run_staged_search, storage_url, storage_warnings

    cfg = load_scouting(config, set_, quiet=quiet)
    n_workers = workers if workers is not None else cfg.search.workers
    for message in storage_warnings(cfg, storage, n_workers):
        warn(message)
    on_interrupt(STUDY_INTERRUPT_NOTE)
    summary = run_staged_search(
        cfg, storage=storage, trials=trials, workers=workers, objective=objective, progress=not quiet,
        say=None if quiet else info,
    )
    if as_json:
        echo_json(summary.to_dict())
        return
    best = "no complete trial yet" if summary.best_value is None else (
        f"best {cfg.search.metric} {summary.best_value:.6g} (trial {summary.best_trial})"
    )
    typer.echo(
        f"study '{summary.study_name}': {summary.n_finished}/{summary.budget or '-'} finished "
        f"({summary.n_complete} complete, {summary.n_pruned} pruned, {summary.n_failed} failed; "
        f"{summary.n_new} new in {summary.elapsed:.1f} s); {best}"
    )
    for path in summary.top_paths:
        typer.echo(f"  {path}")
    if not quiet:
        info(f"browse it: optuna-dashboard {mask_url(storage_url(cfg, storage))}")


def worker(
    config: ConfigArg,
    storage: StorageOpt = None,
    trials: TrialsOpt = None,
    set_: SetOpt = None,
    quiet: QuietOpt = False,
    objective: ObjectiveOpt = None,
) -> None:
    """Join a running study from this or another machine and add trials until its budget is reached.

    Use the same config as `hpscout search`; --trials sets the study's total budget.
    Keep the password out of the command line (ps shows it): PGPASSWORD, ~/.pgpass or --storage env:NAME.

    Examples:
        hpscout worker sst2.yaml --storage postgresql://user@db-host/hpscout
        hpscout worker sst2.yaml --storage env:HPSCOUT_STORAGE
    """
    import os

    from hpscout.search import Progress, budget_of, mask_url, run_worker, storage_url

    cfg = load_scouting(config, set_, quiet=quiet)
    if storage is None and cfg.storage is None:
        warn(f"no --storage: joining the local study file {storage_url(cfg)} (other machines cannot reach it)")
    on_interrupt(STUDY_INTERRUPT_NOTE)
    budget = budget_of(cfg, trials)
    progress = Progress(
        budget=budget, metric=cfg.search.metric, direction=cfg.search.direction, enabled=not quiet, timeout=cfg.search.timeout
    )
    # parallel workers must not share a sampler seed, or their random start-up trials coincide
    offset = (os.getpid() % 100_000) + 1
    try:
        n = run_worker(cfg, storage=storage, trials=trials, objective=objective, progress=progress, seed_offset=offset)
    finally:
        progress.close()
    typer.echo(f"worker done: ran {n} trials on study '{cfg.name}' in {mask_url(storage_url(cfg, storage))}")


def trials(
    config: ConfigArg,
    storage: StorageOpt = None,
    set_: SetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the trials of a study: number, state, value, fraction reached, parameters, and the loss curve.

    Under each trial with a result file: its training curve's class (healthy, diverged,
    oscillating, plateaued early, too slow to learn) and the suggested change. When most
    of the top trials learn too slowly, a last line proposes widening the LR range.

    Example:
        hpscout trials sst2.yaml --json
    """
    from hpscout.analysis import diagnose_trials
    from hpscout.search import format_table, trials_table

    cfg = load(config, set_)
    rows = trials_table(cfg, storage)
    lr = cfg.search.space.get("train.learning_rate")
    lr_range = (lr.low, lr.high) if lr is not None and lr.low is not None and lr.high is not None else None
    curves = diagnose_trials(rows, direction=cfg.search.direction, top_k=cfg.search.top_k, lr_range=lr_range)
    if as_json:
        for row in rows:
            found = curves.by_trial.get(row["number"])
            row["curve"] = found.to_dict() if found is not None else None
        echo_json(rows)
        if curves.note:
            info(curves.note)  # stdout stays the list of rows
        return
    if not rows:
        typer.echo(f"study '{cfg.name}' has no trials yet")
        return
    lines = format_table(rows).splitlines()  # a header, then one line per row
    out = lines[:1]
    for row, line in zip(rows, lines[1:], strict=True):
        out.append(line)
        found = curves.by_trial.get(row["number"])
        if found is not None:
            out.append(f"{'':7}curve: {found.label}" + (f"; {found.suggestion}" if found.suggestion else ""))
    if curves.note:
        out.append(curves.note)
    typer.echo("\n".join(out))


def register(app: typer.Typer) -> None:
    app.command("search")(search)
    app.command("worker")(worker)
    app.command("trials")(trials)
