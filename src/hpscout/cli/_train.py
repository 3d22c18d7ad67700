"""``hpscout train``: run one trial of a config's training settings on the scouting subset."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from hpscout._checks import check_fraction
from hpscout._errors import RunnerError
from hpscout.cli._common import ConfigArg, JsonOpt, SetOpt, echo_json, info, load, on_interrupt
from hpscout.store import RunLayout, check_writable


def train(
    config: ConfigArg,
    set_: SetOpt = None,
    fraction: Annotated[
        float | None,
        typer.Option("--fraction", help="Data fraction in (0, 1] to train on; default scout.fraction.", show_default=False),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Trial folder; default <output_dir>/trials/train-<timestamp>.", show_default=False),
    ] = None,
    as_json: JsonOpt = False,
    force: Annotated[
        bool, typer.Option("--force", help="Train into an --out folder that already holds a result.json, replacing it.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
) -> None:
    """Train once with the config's train settings; write OUT/result.json, history.csv and tb/.

    Exits 0 whenever the trial ran, whatever its status (complete, pruned, diverged,
    oom, failed inside training); exits 2 on bad input, before any model loads (config,
    flags, metric name, factory, placeholders, data files, columns, encoding, one-class
    labels, an unwritable or already used --out).

    Example:

    \b
        hpscout train examples/sst2-minilm-lora.yaml --set train.learning_rate=3e-3 --fraction 0.01
        hpscout train my.yaml --out runs/my/trials/lr-check --json
    """
    from hpscout.runner import RESULT_FILE, TrainProgress, run_trial, validate_trial_config

    if fraction is not None:
        check_fraction(fraction, "--fraction", error=RunnerError)
    cfg = load(config, set_)
    validate_trial_config(cfg, fraction)

    out_dir = out or RunLayout.of(cfg).trial_dir(f"train-{datetime.now():%Y%m%d-%H%M%S}")
    if out_dir.exists() and not out_dir.is_dir():
        raise RunnerError(f"--out must be a folder, but {out_dir} is a file")
    check_writable(out_dir, what="--out") if out is not None else check_writable(cfg.run_dir)
    path = out_dir / RESULT_FILE
    earlier = path.exists()
    if earlier and not force:
        raise RunnerError(
            f"{out_dir} already holds a result.json from an earlier trial; choose another --out, "
            "or pass --force to train again and replace it"
        )
    used = cfg.scout.fraction if fraction is None else fraction
    left = f"the earlier result.json in {out_dir} is unchanged" if earlier else f"{out_dir} keeps the logs so far"
    on_interrupt(
        f"the trial stopped before it finished and wrote no result.json ({left}); "
        "run the same command to train it again from the start"
    )
    info(f"training {cfg.name} ({cfg.task}, {cfg.train.method}) on fraction {used:g} -> {out_dir}")
    with TrainProgress(metric=cfg.search.metric, live=None if not quiet else False) as progress:
        result = run_trial(cfg, out_dir=out_dir, fraction=fraction, reporter=None if quiet else progress)
    if as_json:
        echo_json({"result": str(path), **result.to_dict(), "history": len(result.history)})
        return
    metric = cfg.search.metric
    shown = f"{metric}={result.objective:.4g}" if result.objective is not None else f"{metric}=n/a"
    typer.echo(
        f"{result.status.value}: {shown}, {result.steps} steps, {result.elapsed_seconds:.1f} s, "
        f"{result.trainable_params or 0:,} trainable params"
        + (f" ({result.message.splitlines()[0]})" if result.message else "")
    )
    typer.echo(f"result: {path}")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
