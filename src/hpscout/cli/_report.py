"""``hpscout report`` and ``hpscout export``: the HTML report and full-scale training configs of a run."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from hpscout.cli._common import StorageOpt, info, warn

RunDirArg = Annotated[Path, typer.Argument(help="The run folder (holds config.yaml), e.g. runs/sst2-minilm-lora.",
                                           show_default=False)]


class ExportFormat(str, Enum):
    llamafactory = "llamafactory"
    hf = "hf"
    json = "json"


class LrCorrectionMode(str, Enum):
    horizon = "horizon"
    law = "law"
    off = "off"


class ExportPrecision(str, Enum):
    bf16 = "bf16"
    fp16 = "fp16"
    fp32 = "fp32"


def report(
    run_dir: RunDirArg,
    storage: StorageOpt = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Print at most this many trials (the page has all).",
                                              show_default=False)] = None,
) -> None:
    """Rebuild the static HTML report of a run and print its trial table.

    Writes <run_dir>/report/index.html (self-contained: open it from disk).

    Examples:
        hpscout report runs/sst2-minilm-lora
        hpscout report runs/sst2-minilm-lora --storage env:HPSCOUT_STORAGE
    """
    from hpscout.report import report_data, summary_text, trial_table_text, write_report

    data = report_data(run_dir, storage=storage)
    out = write_report(data)
    typer.echo(summary_text(data))
    typer.echo("")
    typer.echo(trial_table_text(data, limit=limit))
    for row in data.failed:
        warn(f"{row.name} {row.status}: {row.message or 'no reason recorded'}")
    typer.echo("")
    typer.echo(f"report: {out}")


def export(
    run_dir: RunDirArg,
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f", help="llamafactory (YAML), hf (TrainingArguments JSON) "
                                              "or json (hpscout config + provenance + plan).", case_sensitive=False,
                                              show_default=False)],
    full_samples: Annotated[int | None, typer.Option("--full-samples", min=1, help="Training rows of the full data "
                                                     "(default: from analysis.json, else estimated from the scouting subset).",
                                                     show_default=False)] = None,
    devices: Annotated[int | None, typer.Option("--devices", min=1, help="Data-parallel devices of the full run "
                                                "(default train.devices).", show_default=False)] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output file (default <run_dir>/final/llamafactory.yaml, "
                                             "training_args.json or final.json).", show_default=False)] = None,
    lr_correction: Annotated[LrCorrectionMode, typer.Option("--lr-correction", help="The full run's learning rate: "
                                                            "horizon lowers it for the full run's longer horizon "
                                                            "(x (full steps / steps it was chosen at)^-0.3, at most 4x; "
                                                            "docs/benchmarks.md); law moves it along the fitted LR law "
                                                            "(only when beta's 95% interval excludes 0); off keeps the "
                                                            "scouted LR.", case_sensitive=False)] = LrCorrectionMode.horizon,
    storage: StorageOpt = None,
    precision: Annotated[ExportPrecision | None, typer.Option("--precision", help="Precision of the machine that "
                                                              "trains: bf16 (Ampere-or-newer GPUs), fp16 (V100, T4) or "
                                                              "fp32 (CPU). Default: as scouted, auto written as bf16.",
                                                              case_sensitive=False, show_default=False)] = None,
) -> None:
    """Export the final config for full-scale training, with its provenance and full-data step plan.

    The final config is <run_dir>/final/config.yaml, else the best trial's top/top1.yaml.

    Examples:
        hpscout export runs/alpaca-sft --format llamafactory --full-samples 52000 --devices 8
        hpscout export runs/sst2-minilm-lora --format hf --out training_args.json
        hpscout export runs/sst2-minilm-lora --format hf --precision fp32   # TrainingArguments on a CPU
        hpscout export runs/sst2-minilm-lora --format json --lr-correction off   # the scouted LR
    """
    from hpscout.export import export_precision, export_run, final_config, sidecar_path_for

    choice = None if precision is None else precision.value
    path = export_run(run_dir, fmt.value, full_samples=full_samples, devices=devices, out=out, storage=storage,
                      lr_correction=lr_correction.value, precision=None if precision is None else precision.value)
    final = final_config(run_dir)
    if fmt is not ExportFormat.json and final.task in ("sequence-classification", "causal-lm", "seq2seq"):
        info(export_precision(final, choice)[1])
    if fmt is ExportFormat.llamafactory:
        if final.task == "sequence-classification":
            warn("LLaMA-Factory has no sequence-classification stage; the file carries the training keys "
                 "(see its header)")
        if final.task != "llamafactory":  # a run made from the user's own file exports that file, complete
            info("fill in the REPLACE_ME keys (dataset, template) before training")
    typer.echo(f"wrote {path}")
    if fmt is ExportFormat.hf:
        typer.echo(f"wrote {sidecar_path_for(path)} (provenance, PEFT and data settings)")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
    app.command("export")(export)
