"""Planning commands: ``schedule``, ``plan``, ``lint``, and ``recommend`` (its body in ``_recommend.py``).

Thin on purpose: each command checks its flag combinations, calls one function of
:mod:`hpscout.plan` and prints. Heavy libraries load inside those functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hpscout._errors import ConfigError
from hpscout._format import text_table
from hpscout.cli._common import JsonOpt, echo_json, info, warn
from hpscout.cli._recommend import recommend
from hpscout.plan import (
    METRIC_DRIVEN_SCHEDULES,
    PLOT_FORMATS,
    SCHEDULE_NAMES,
    compute_schedule,
    lint_file,
    metric_driven_explanation,
    parse_model_size,
    plan_steps,
    plot_schedules,
    schedule_options,
)

__all__ = ["register"]

# scheduler option flag -> the keyword compute_schedule takes
_SCHEDULE_FLAGS = {
    "num_cycles": "--num-cycles",
    "power": "--power",
    "lr_end": "--lr-end",
    "min_lr_rate": "--min-lr-rate",
    "min_lr": "--min-lr",
    "num_decay_steps": "--num-decay-steps",
    "decay_ratio": "--decay-ratio",
    "num_stable_steps": "--num-stable-steps",
    "warmup_type": "--warmup-type",
    "decay_type": "--decay-type",
    "timescale": "--timescale",
    "div_factor": "--div-factor",
    "final_div_factor": "--final-div-factor",
}

WarmupStepsOpt = Annotated[int | None, typer.Option("--warmup-steps", help="Warmup in optimizer steps.", show_default=False)]
WarmupRatioOpt = Annotated[
    float | None,
    typer.Option("--warmup-ratio", help="Warmup as a share of total steps, rounded up like the Trainer.", show_default=False),
]
SamplesOpt = Annotated[int | None, typer.Option("--samples", help="Training rows per epoch.", show_default=False)]


def register(app: typer.Typer) -> None:
    """Add the planning commands to ``app``."""
    app.command("schedule")(schedule)
    app.command("plan")(plan)
    app.command("lint")(lint)
    app.command("recommend")(recommend)


# --------------------------------------------------------------------------- schedule


def schedule(
    type_: Annotated[
        str | None, typer.Option("--type", "-t", help="Schedule name (linear, cosine, polynomial, ...).", show_default=False)
    ] = None,
    compare: Annotated[
        str | None, typer.Option("--compare", help="Several schedules on one plot: linear,cosine,polynomial.", show_default=False)
    ] = None,
    compare_warmup: Annotated[
        str | None, typer.Option("--compare-warmup", help="Several warmup ratios on one plot: 0,0.05,0.1.", show_default=False)
    ] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Peak learning rate (required).", show_default=False)] = None,
    total_steps: Annotated[
        int | None, typer.Option("--total-steps", help="Optimizer steps of the run (required).", show_default=False)
    ] = None,
    warmup_steps: WarmupStepsOpt = None,
    warmup_ratio: WarmupRatioOpt = None,
    at: Annotated[str | None, typer.Option("--at", help="Steps to print: 250,500,750.", show_default=False)] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a plot (.png, .svg or .pdf).", show_default=False)] = None,
    num_cycles: Annotated[float | None, typer.Option("--num-cycles", help="cosine: waves (0.5 = one decay). cosine_with_restarts: cosine decays, so N gives N - 1 restarts.", show_default=False)] = None,
    power: Annotated[float | None, typer.Option("--power", help="polynomial: power of the decay (transformers default 1).", show_default=False)] = None,
    lr_end: Annotated[float | None, typer.Option("--lr-end", help="polynomial: final LR (transformers default 1e-7).", show_default=False)] = None,
    min_lr_rate: Annotated[float | None, typer.Option("--min-lr-rate", help="cosine_with_min_lr: floor as a share of --lr (warmup_stable_decay: its min_lr_ratio).", show_default=False)] = None,
    min_lr: Annotated[float | None, typer.Option("--min-lr", help="cosine_with_min_lr: absolute floor.", show_default=False)] = None,
    num_decay_steps: Annotated[int | None, typer.Option("--num-decay-steps", help="warmup_stable_decay: decay steps.", show_default=False)] = None,
    decay_ratio: Annotated[float | None, typer.Option("--decay-ratio", help="warmup_stable_decay: decay as a share of total steps.", show_default=False)] = None,
    num_stable_steps: Annotated[int | None, typer.Option("--num-stable-steps", help="warmup_stable_decay: stable steps (default: the rest).", show_default=False)] = None,
    warmup_type: Annotated[str | None, typer.Option("--warmup-type", help="warmup_stable_decay: linear, cosine or 1-sqrt.", show_default=False)] = None,
    decay_type: Annotated[str | None, typer.Option("--decay-type", help="warmup_stable_decay: linear, cosine or 1-sqrt.", show_default=False)] = None,
    timescale: Annotated[int | None, typer.Option("--timescale", help="inverse_sqrt: time scale (default: warmup steps).", show_default=False)] = None,
    div_factor: Annotated[float | None, typer.Option("--div-factor", help="one_cycle: start LR = lr / div_factor.", show_default=False)] = None,
    final_div_factor: Annotated[float | None, typer.Option("--final-div-factor", help="one_cycle: end LR = start / final_div_factor.", show_default=False)] = None,
    json_: JsonOpt = False,
) -> None:
    """Compute and plot learning-rate curves with the scheduler objects training uses.

    The LR at step s is the LR the optimizer uses for update s (0-based), read off
    a real optimizer stepped by transformers' get_scheduler (torch's OneCycleLR for
    one_cycle). reduce_lr_on_plateau and greedy follow a metric: the command
    explains them and exits 0 (in --compare they are skipped with a note).

    \b
    Examples:
      hpscout schedule --type cosine --lr 5e-5 --total-steps 1000 --warmup-steps 0 --at 250,500,750
      hpscout schedule --type polynomial --power 2 --lr-end 0 --lr 5e-5 --total-steps 1000 --json
      hpscout schedule --compare linear,cosine,polynomial --lr 5e-5 --total-steps 1000 --plot out.png
      hpscout schedule --type cosine --compare-warmup 0,0.05,0.1 --lr 2e-3 --total-steps 600 --plot w.svg
    """

    names = _schedule_names(type_, compare)
    ratios = _check_schedule_numbers(lr, total_steps, warmup_steps, warmup_ratio, compare_warmup, plot)
    assert lr is not None and total_steps is not None  # checked above
    steps_at = _parse_steps(at, total_steps) if at is not None else None
    options = {
        "num_cycles": num_cycles, "power": power, "lr_end": lr_end, "min_lr_rate": min_lr_rate, "min_lr": min_lr,
        "num_decay_steps": num_decay_steps, "decay_ratio": decay_ratio, "num_stable_steps": num_stable_steps,
        "warmup_type": warmup_type, "decay_type": decay_type, "timescale": timescale, "div_factor": div_factor,
        "final_div_factor": final_div_factor,
    }
    given = _check_schedule_options(type_, names, {k: v for k, v in options.items() if v is not None})

    plottable = [n for n in names if n not in METRIC_DRIVEN_SCHEDULES]
    for n in names:
        if n in METRIC_DRIVEN_SCHEDULES and plottable:
            warn(f"{n} skipped: {metric_driven_explanation(n)}")
    if not plottable:
        if json_:
            echo_json({"schedule": names[0], "metric_driven": True, "explanation": metric_driven_explanation(names[0])})
        else:
            typer.echo(metric_driven_explanation(names[0]))
        return

    ws = warmup_steps if compare_warmup is None else None
    curves = _compute_curves(plottable, lr, total_steps, ws, ratios, given)
    _print_curves(curves, steps_at, total_steps, json_)
    if plot is not None:
        plot_schedules(curves, plot)
        info(f"wrote {plot}")


def _schedule_names(type_: str | None, compare: str | None) -> list[str]:
    """The schedule names of ``--type`` or ``--compare``, checked."""

    allowed = ", ".join(SCHEDULE_NAMES)
    if type_ is not None and compare is not None:
        raise ConfigError("give --type NAME or --compare NAME,NAME, not both")
    if type_ is None and compare is None:
        raise ConfigError(f"give --type NAME or --compare NAME,NAME; names: {allowed}")
    flag = "--type" if type_ is not None else "--compare"
    names = [n.strip() for n in (type_ or compare or "").split(",") if n.strip()]
    if not names:
        raise ConfigError(f"{flag} needs at least one schedule name; names: {allowed}")
    for n in names:
        if n not in SCHEDULE_NAMES:
            raise ConfigError(f"{flag} must name schedules from: {allowed}; but got {n!r}")
    if type_ is not None and len(names) > 1:
        raise ConfigError("--type takes one schedule; use --compare for several")
    return names


def _check_schedule_numbers(
    lr: float | None, total_steps: int | None, warmup_steps: int | None, warmup_ratio: float | None,
    compare_warmup: str | None, plot: Path | None,
) -> list[float | None]:
    """Check the numeric flags; the warmup ratios to draw (one, or ``--compare-warmup``'s)."""

    if lr is None or total_steps is None:
        raise ConfigError("--lr (peak learning rate) and --total-steps (optimizer steps) are required")
    if not lr > 0:
        raise ConfigError(f"--lr must be > 0, but got {lr}")
    if total_steps < 1:
        raise ConfigError(f"--total-steps must be >= 1, but got {total_steps}")
    if warmup_steps is not None and warmup_ratio is not None:
        raise ConfigError("give --warmup-steps or --warmup-ratio, not both")
    if warmup_steps is not None and warmup_steps < 0:
        raise ConfigError(f"--warmup-steps must be >= 0, but got {warmup_steps}")
    if warmup_ratio is not None and not 0 <= warmup_ratio < 1:
        raise ConfigError(f"--warmup-ratio must be in [0, 1), but got {warmup_ratio}")
    ratios: list[float | None] = [warmup_ratio]
    if compare_warmup is not None:
        if warmup_steps is not None or warmup_ratio is not None:
            raise ConfigError("--compare-warmup replaces --warmup-steps / --warmup-ratio; give one of them")
        ratios = [_parse_float(x, "--compare-warmup") for x in compare_warmup.split(",") if x.strip()]
        if not ratios or any(not 0 <= r < 1 for r in ratios if r is not None):
            raise ConfigError(f"--compare-warmup takes ratios in [0, 1) like 0,0.05,0.1, but got {compare_warmup!r}")
    if plot is not None and plot.suffix.lower().lstrip(".") not in PLOT_FORMATS:
        raise ConfigError(f"--plot must end in {', '.join('.' + f for f in PLOT_FORMATS)}, but got {str(plot)!r}")
    return ratios


def _check_schedule_options(type_: str | None, names: list[str], given: dict[str, Any]) -> dict[str, Any]:
    """Schedule options given on the command line: an error for ``--type`` that does not take one, a warning
    for ``--compare`` when no compared schedule does."""

    if type_ is not None:
        takes = schedule_options(type_)
        for key in given:
            if key not in takes:
                flags = ", ".join(_SCHEDULE_FLAGS.get(k, k) for k in takes if k in _SCHEDULE_FLAGS) or "no options"
                raise ConfigError(f"{_SCHEDULE_FLAGS[key]} does not apply to {type_}; {type_} takes: {flags}")
    else:
        for key in given:
            if not any(key in schedule_options(n) for n in names):
                warn(f"{_SCHEDULE_FLAGS[key]} applies to none of {', '.join(names)}; ignored")
    return given


def _compute_curves(
    names: list[str], lr: float, total_steps: int, warmup_steps: int | None, ratios: list[float | None],
    given: dict[str, Any],
) -> list[Any]:

    curves = []
    for n in names:
        kwargs = {k: v for k, v in given.items() if k in schedule_options(n)}
        for r in ratios:
            curves.append(compute_schedule(n, lr, total_steps, warmup_steps=warmup_steps, warmup_ratio=r, **kwargs))
    for c in curves:
        for note in c.notes:
            warn(f"{c.name}: {note}")
    return curves


def _print_curves(curves: list[Any], steps_at: list[int] | None, total_steps: int, json_: bool) -> None:
    show = steps_at if steps_at is not None else _default_steps({c.warmup_steps for c in curves}, total_steps)
    single = len(curves) == 1
    if json_:
        steps = steps_at if steps_at is not None else list(range(total_steps + 1))
        if single:
            echo_json({**_describe(curves[0]), "steps": steps, "lr": [curves[0].lr_at(s) for s in steps]})
        else:
            echo_json(
                {
                    "schedules": [{"label": c.label, **_describe(c)} for c in curves],
                    "steps": steps,
                    "lr": {c.label: [c.lr_at(s) for s in steps] for c in curves},
                }
            )
    elif single:
        for s in show:
            typer.echo(f"{s}  {curves[0].lr_at(s):.4e}")
    else:
        _print_table(curves, show)


def _describe(curve: Any) -> dict[str, Any]:
    """What makes a curve: its schedule name and every parameter in effect (defaults filled in)."""
    d = curve.to_dict()
    return {
        "schedule": d["name"],
        "peak_lr": d["lr"],
        "total_steps": d["total_steps"],
        "warmup_steps": d["warmup_steps"],
        "warmup_ratio": d["warmup_ratio"],
        "params": d["params"],
        "notes": d["notes"],
    }


def _parse_float(text: str, flag: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise ConfigError(f"{flag} takes comma-separated numbers, but got {text.strip()!r}") from None


def _parse_steps(text: str, total: int) -> list[int]:
    steps = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            s = int(part)
        except ValueError:
            raise ConfigError(f"--at takes comma-separated step numbers like 250,500,750, but got {part!r}") from None
        if not 0 <= s <= total:
            raise ConfigError(f"--at steps must be in 0..{total} (--total-steps), but got {s}")
        steps.append(s)
    if not steps:
        raise ConfigError("--at needs at least one step, like 250,500,750")
    return steps


def _default_steps(warmups: set[int], total: int) -> list[int]:
    marks = {0, total} | warmups | {round(total * f) for f in (0.1, 0.25, 0.5, 0.75, 0.9)}
    return sorted(s for s in marks if 0 <= s <= total)


def _print_table(curves: list[Any], steps: list[int]) -> None:
    short = [c.short_label for c in curves]
    labels = short if len(set(short)) == len(short) else [c.label for c in curves]
    rows = [[s, *(f"{c.lr_at(s):.4e}" for c in curves)] for s in steps]
    typer.echo(text_table(["step", *labels], rows, right=range(len(labels) + 1)))


# --------------------------------------------------------------------------- plan


def plan(
    samples: SamplesOpt = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Per-device train batch size (required).", show_default=False)] = None,
    grad_accum: Annotated[int, typer.Option("--grad-accum", help="Gradient accumulation steps.")] = 1,
    devices: Annotated[int, typer.Option("--devices", help="Data-parallel devices.")] = 1,
    epochs: Annotated[float | None, typer.Option("--epochs", help="Training epochs.", show_default=False)] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="Total optimizer steps (wins over --epochs).", show_default=False)] = None,
    warmup_ratio: WarmupRatioOpt = None,
    warmup_steps: WarmupStepsOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Step math as the transformers Trainer does it: effective batch, steps per epoch, total and warmup steps.

    Batches per device = ceil(samples / (batch x devices)); a trailing partial
    accumulation window still makes an optimizer step, so steps per epoch =
    ceil(batches / grad_accum); warmup = ceil(ratio x total). The naive figures
    (floor(samples / effective batch)) are shown when they differ.

    \b
    Examples:
      hpscout plan --samples 10000 --batch-size 8 --grad-accum 4 --devices 2 --epochs 3 --warmup-ratio 0.1
      hpscout plan --samples 10000 --batch-size 8 --max-steps 500 --warmup-steps 30 --json
    """

    if batch_size is None:
        raise ConfigError("--batch-size (per-device train batch size) is required")
    if samples is not None and samples < 1:
        raise ConfigError(f"--samples must be >= 1, but got {samples}")
    if warmup_steps is not None and warmup_ratio is not None:
        raise ConfigError("give --warmup-steps or --warmup-ratio, not both")
    if epochs is None and max_steps is None:
        raise ConfigError("give --epochs or --max-steps; the run length is unknown without one")
    if samples is None and max_steps is None:
        raise ConfigError("--samples is needed to turn --epochs into steps (or give --max-steps)")
    for flag, value in (("--batch-size", batch_size), ("--grad-accum", grad_accum), ("--devices", devices)):
        if value < 1:
            raise ConfigError(f"{flag} must be >= 1, but got {value}")
    if max_steps is not None and max_steps < 1:
        raise ConfigError(f"--max-steps must be >= 1, but got {max_steps}")
    if epochs is not None and not epochs > 0:
        raise ConfigError(f"--epochs must be > 0, but got {epochs}")
    if warmup_ratio is not None and not 0 <= warmup_ratio < 1:
        raise ConfigError(f"--warmup-ratio must be in [0, 1), but got {warmup_ratio}")
    if warmup_steps is not None and warmup_steps < 0:
        raise ConfigError(f"--warmup-steps must be >= 0, but got {warmup_steps}")

    p = plan_steps(samples, batch_size, grad_accum, devices, epochs=epochs, max_steps=max_steps,
                   warmup_ratio=warmup_ratio, warmup_steps=warmup_steps)
    if json_:
        echo_json(p.to_dict())
        return
    typer.echo(f"effective batch size  {p.effective_batch_size}  ({batch_size} per device x {grad_accum} accumulation x {devices} devices)")
    if p.steps_per_epoch is not None:
        typer.echo(f"batches per device    {p.batches_per_epoch} per epoch")
        typer.echo(f"steps per epoch       {p.steps_per_epoch}")
    if max_steps is None:
        run = f"{epochs:g} epochs"
    elif p.train_epochs is not None:
        run = f"max_steps; {p.train_epochs} pass(es) over the data"
    else:
        run = "max_steps"
    typer.echo(f"total steps           {p.total_steps}  ({run})")
    how = f"ceil({warmup_ratio:g} x {p.total_steps})" if warmup_ratio is not None else "given"
    typer.echo(f"warmup steps          {p.warmup_steps}  ({how})")
    if p.differs_from_naive:
        typer.echo(
            f"naive figures differ: {p.naive_steps_per_epoch} steps/epoch, {p.naive_total_steps} total, "
            f"{p.naive_warmup_steps} warmup (floor(samples / effective batch)); the Trainer runs the figures above"
        )


# --------------------------------------------------------------------------- lint


def lint(
    file: Annotated[
        Path | None,
        typer.Argument(help="hpscout experiment config, or a LLaMA-Factory / HF training YAML.", show_default=False),
    ] = None,
    samples: SamplesOpt = None,
    devices: Annotated[int | None, typer.Option("--devices", help="Data-parallel devices (default: the file's, else 1).", show_default=False)] = None,
    model_size: Annotated[str | None, typer.Option("--model-size", help="Model parameters (22M, 7B) when the name does not tell.", show_default=False)] = None,
    json_: JsonOpt = False,
) -> None:
    """Lint training settings: keys, warmup share, LR range for the method, restarts on short runs, precision, clipping, batch.

    Keys: unknown keys (not LLaMA-Factory 0.9.x or TrainingArguments keys) are
    errors with a did-you-mean; a LLaMA-Factory training YAML must name
    model_name_or_path, dataset, template, finetuning_type and output_dir.
    Exit code 1 when any finding is an error, else 0. Step-based rules need the
    total steps: from --samples, max_steps, or LLaMA-Factory's max_samples.

    \b
    Examples:
      hpscout lint llamafactory_sft.yaml
      hpscout lint hpscout.yaml --samples 20000 --json
    """

    if file is None:
        raise ConfigError("lint needs a FILE: an hpscout config or a LLaMA-Factory / HF training YAML")
    if samples is not None and samples < 1:
        raise ConfigError(f"--samples must be >= 1, but got {samples}")
    if devices is not None and devices < 1:
        raise ConfigError(f"--devices must be >= 1, but got {devices}")
    params = parse_model_size(model_size) if model_size is not None else None
    findings = lint_file(file, samples=samples, devices=devices, model_params=params)
    if json_:
        echo_json([f.to_dict() for f in findings])
    else:
        for f in findings:
            typer.echo(str(f))
        counts = {s: sum(f.severity == s for f in findings) for s in ("error", "warning", "info")}
        info(f"{file}: {counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} info")
    if any(f.severity == "error" for f in findings):
        # SystemExit, not typer.Exit: in non-standalone mode click turns Exit into a return value
        raise SystemExit(1)


