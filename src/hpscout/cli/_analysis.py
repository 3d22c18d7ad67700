"""``hpscout ablate`` and ``hpscout transfer``: effects around the best config, and whether the ranking holds at scale."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any

import typer

from hpscout._errors import ConfigError
from hpscout._imports import import_callable
from hpscout.cli._common import (
    ConfigArg,
    JsonOpt,
    QuietOpt,
    SetOpt,
    StorageOpt,
    echo_json,
    info,
    load_scouting,
    on_interrupt,
)

#: Ctrl-C during ablate / transfer: cells are trials of their own study
CELLS_INTERRUPT_NOTE = "finished cells are kept in the study; run the same command to run the missing ones"

BaselineOpt = Annotated[
    str | None,
    typer.Option(
        "--baseline",
        help="Config to ablate around: best (the best search trial), trial:N, or a YAML config file. "
        "Default: ablation.baseline.",
        show_default=False,
    ),
]
SeedsOpt = Annotated[
    int | None,
    typer.Option("--seeds", help="Seeds per cell, the baseline included (default from the config).", show_default=False),
]
KOpt = Annotated[int | None, typer.Option("--k", help="How many top configs to re-run (default transfer.k).", show_default=False)]
FractionOpt = Annotated[
    float | None,
    typer.Option(
        "--fraction",
        help="The larger data fraction (default transfer.fraction, else 4 x scout.fraction capped at 1); 1.0 = full data.",
        show_default=False,
    ),
]
# Ranges are checked by the library (ConfigError -> exit 2 with the allowed values), not by typer.
# Advanced/testing: replace training with a 'module:function' run_cell(config, out_dir, fraction) -> TrialResult.
RunCellOpt = Annotated[str | None, typer.Option("--run-cell", hidden=True, show_default=False)]


def _run_cell(ref: str | None) -> Callable[..., Any] | None:

    if ref is None:
        return None
    return import_callable(ref, "--run-cell", error=ConfigError)


def _num(v: Any, spec: str = ".4g") -> str:
    return "-" if v is None else format(v, spec)


def _mean_ci(r: Mapping[str, Any]) -> str:
    if r.get("mean") is None:
        return "-"
    if r.get("ci_low") is None:
        return _num(r["mean"])
    return f"{r['mean']:.4g} ± {(r['ci_high'] - r['ci_low']) / 2:.2g}"


def ablation_lines(section: Mapping[str, Any]) -> list[str]:
    """The ablation section as a plain-text table."""
    b = section["baseline"]
    src = b.get("source", "?") + (f", trial {b['trial']}" if b.get("trial") is not None else "")
    lines = [
        f"ablation of {section['metric']} ({section['direction']}), {section['seeds']} seed(s) per cell; "
        f"test: Welch's t-test vs the baseline, {section['correction'].capitalize()}-corrected across levels, "
        f"alpha {section['alpha']:g}",
        f"baseline ({src}): {_mean_ci(b)} (n={b['n']}" + (f", {b['n_failed']} failed)" if b.get("n_failed") else ")"),
    ]
    for key, f in section["factors"].items():
        match = {True: "matches", False: "does not match", None: "cannot tell"}[f["pattern_matches"]]
        lines.append("")
        lines.append(f"{key}: {f['verdict']}" + (f" (best level {f['best_level']})" if f.get("best_level") is not None else ""))
        if f.get("expected_pattern"):
            lines.append(f"  expected: {f['expected_pattern']}; observed {match} ({f['pattern_check']})")
        lines.append(f"  {'level':<18} {'mean ± CI':<20} {'delta':>10} {'p (holm)':>9} {'n':>3} {'failed':>6}  effect")
        for r in f["levels"]:
            level = str(r["level"])
            if isinstance(r["level"], str) and r["level"].startswith("x") and isinstance(r.get("value"), float):
                level += f" ({r['value']:.3g})"  # a multiplier level: show the value it stands for
            level += " *" if r["is_baseline"] else ""
            lines.append(
                f"  {level:<18} {_mean_ci(r):<20} {_num(r['delta'], '+.3g'):>10} {_num(r['p_adjusted'], '.3g'):>9} "
                f"{r['n']:>3} {r['n_failed']:>6}  {r['effect']}" + (f"  ({r['note']})" if r.get("note") and not r["is_baseline"] else "")
            )
    runs = section.get("runs", {})
    lines.append("")
    lines.append(f"* baseline; {runs.get('ran', 0)} run(s) now, {runs.get('reused', 0)} reused from the study")
    return lines


def transfer_lines(section: Mapping[str, Any]) -> list[str]:
    """The transfer section as plain text."""
    lines = [
        f"transfer of {section['metric']}: fraction {section['small_fraction']:g} -> {section['large_fraction']:g}, "
        f"{len(section['configs'])} configs x {section['seeds']} seed(s)",
        f"  {'trial':>6} {'small':>10} {'large':>10} {'rank small':>10} {'rank large':>10} {'failed':>6}",
    ]
    for c in section["configs"]:
        lines.append(
            f"  {c['trial']:>6} {_num(c['small_value']):>10} {_num(c['large_value']):>10} "
            f"{c['rank_small']:>10} {c['rank_large']:>10} {c['n_failed']:>6}"
        )
    lines.append(
        f"spearman {_num(section['spearman'], '.3f')}, kendall {_num(section['kendall'], '.3f')}, "
        f"top-1 agrees: {'yes' if section['top1_agree'] else 'no'}, top-{section['topk']} overlap {section['topk_overlap']:.2f}"
    )
    lines.append(f"verdict: {section['verdict']}: {section['trust']}")
    lines.append(f"noise: {section['noise']['message']}")
    for rung in section.get("rungs") or []:
        lines.append(
            f"rung {rung['fraction']:g} ({rung['steps'] or '?'} steps): spearman {_num(rung['spearman'], '.3f')}, "
            f"top-1 agrees: {'yes' if rung['top1_agree'] else 'no'}, epsilon {_num(rung['epsilon'])} -> {rung['decision']}"
        )
    pick = section.get("pick")
    if pick:
        trust = "trusted" if section.get("trusted") else "UNTRUSTED" + (
            f" (would need fraction {section['needed_fraction']:g} next)" if section.get("needed_fraction") else ""
        )
        lines.append(f"pick: {pick['why']}; {trust}")
    return lines


def cost_line(cost: Mapping[str, Any]) -> str:
    """One line: scouting seconds per study vs one projected full run."""
    parts = ", ".join(f"{k} {v['seconds']:.0f} s" for k, v in cost["by_study"].items() if v.get("exists"))
    head = f"cost: scouting {cost['scouting_seconds']:.0f} s ({parts or 'no studies'})"
    if cost.get("ratio") is None:
        return f"{head}; {cost['message']}"
    return f"{head} vs {cost['projected_full_seconds']:.0f} s projected for one full run: {cost['message']}"


def _run_and_print(
    config: Any, set_: Any, quiet: bool, storage: str | None, as_json: bool, name: str,
    run: Callable[[Any], dict[str, Any]], lines: Callable[[Mapping[str, Any]], list[str]],
) -> None:
    """Load the config, run one stage (its cells are trials of their own study), refresh the analysis, print."""
    from hpscout.analysis import analyze_search

    cfg = load_scouting(config, set_, quiet=quiet)
    on_interrupt(CELLS_INTERRUPT_NOTE)
    section = run(cfg)
    cost = analyze_search(cfg, storage=storage)["cost"]
    if as_json:
        echo_json({name: section, "cost": cost})
        return
    for line in lines(section):
        typer.echo(line)
    typer.echo(cost_line(cost))


def ablate(
    config: ConfigArg,
    baseline: BaselineOpt = None,
    seeds: SeedsOpt = None,
    storage: StorageOpt = None,
    set_: SetOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
    run_cell: RunCellOpt = None,
) -> None:
    """Vary one factor at a time around the baseline, each cell with several seeds; rerunning resumes.

    Factors come from ablation.factors (default: LoRA rank and targets, data fraction,
    LR multipliers, warmup, scheduler, weight decay). Results go to <run_dir>/analysis.json
    (section "ablation"), together with refreshed importance, LR scaling and cost.

    Examples:
        hpscout ablate sst2.yaml
        hpscout ablate sst2.yaml --baseline trial:12 --seeds 5
        hpscout ablate sst2.yaml --baseline runs/sst2/top/top1.yaml --storage env:HPSCOUT_STORAGE
    """
    from hpscout.analysis import run_ablation

    cell = _run_cell(run_cell)
    _run_and_print(
        config, set_, quiet, storage, as_json, "ablation",
        lambda cfg: run_ablation(cfg, baseline=baseline, seeds=seeds, storage=storage, run_cell=cell,
                                 progress=None if quiet else info),
        ablation_lines,
    )


def transfer(
    config: ConfigArg,
    k: KOpt = None,
    fraction: FractionOpt = None,
    seeds: SeedsOpt = None,
    storage: StorageOpt = None,
    set_: SetOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
    run_cell: RunCellOpt = None,
    climb: Annotated[
        bool | None,
        typer.Option(
            "--climb/--no-climb",
            help="Climb ~2x per rung until the two largest rungs agree (default: transfer.climb); "
            "--no-climb: one re-run at --fraction.",
        ),
    ] = None,
) -> None:
    """Re-run the top-k search configs on more data and check that their ranking holds; rerunning resumes.

    By default the check climbs: the top-k are re-run at ~2x the fraction, one rung at a time,
    until the two largest rungs order them alike (differences within seed noise are ties),
    transfer.max_fraction is reached or transfer.budget runs out. Reports each rung, the pick
    (the best at the highest rung), Spearman and Kendall correlations, top-1 agreement and a
    verdict in <run_dir>/analysis.json (section "transfer").

    Examples:
        hpscout transfer sst2.yaml
        hpscout transfer sst2.yaml --k 3 --fraction 1.0 --seeds 2 --no-climb
    """
    from hpscout.analysis import run_transfer

    cell = _run_cell(run_cell)
    _run_and_print(
        config, set_, quiet, storage, as_json, "transfer",
        lambda cfg: run_transfer(cfg, k=k, fraction=fraction, seeds=seeds, climb=climb, storage=storage, run_cell=cell,
                                 progress=None if quiet else info),
        transfer_lines,
    )


def register(app: typer.Typer) -> None:
    app.command("ablate")(ablate)
    app.command("transfer")(transfer)
