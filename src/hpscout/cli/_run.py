"""``hpscout run``: the whole scouting workflow as resumable stages."""

from __future__ import annotations

from typing import Annotated

import typer

from hpscout.cli._common import STUDY_INTERRUPT_NOTE, ConfigArg, SetOpt, StorageOpt, load, on_interrupt
from hpscout.store import check_writable


def run(
    config: ConfigArg,
    set_: SetOpt = None,
    storage: StorageOpt = None,
    until: Annotated[str | None, typer.Option("--until", help="Stop after this stage.")] = None,
    only: Annotated[list[str] | None, typer.Option("--only", help="Run only this stage (repeatable).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Re-run stages marked done.")] = False,
) -> None:
    """Run subsets -> search -> top -> transfer -> ablation -> final -> report; rerun to resume.

    Example:
        hpscout run examples/sst2-minilm-lora.yaml
        hpscout run my.yaml --until search
        hpscout run my.yaml --only report
    """
    from hpscout.search import storage_url
    from hpscout.workflow import run_workflow

    cfg = load(config, set_)
    check_writable(cfg.run_dir)  # before anything is written: a refused folder leaves nothing behind
    storage_url(cfg, storage)  # an env:NAME storage must name a set variable
    on_interrupt(STUDY_INTERRUPT_NOTE)
    res = run_workflow(cfg, storage=storage, until=until, only=only, force=force)
    typer.echo(f"run folder: {res.run_dir}  ({res.elapsed:.0f}s; ran: {', '.join(res.ran) or 'nothing'})")
    labels = {
        "report": "report",
        "final_config": "final config",
        "llamafactory": "LLaMA-Factory YAML",
        "training_args": "TrainingArguments JSON",
        "analysis": "analysis",
    }
    for key, label in labels.items():
        if key in res.outputs:
            typer.echo(f"{label + ':':24s}{res.outputs[key]}")
    if res.verdict:
        typer.echo(res.verdict)


def register(app: typer.Typer) -> None:
    app.command("run")(run)
