"""Assemble the report: one static, self-contained HTML page.

plotly.js is embedded once in the page head; every figure is a ``<div>`` that
draws itself from inline JSON. No CDN, no network, no server: the file opens
from disk in any browser. The markup lives in Jinja2 templates
(``hpscout/report/templates``, autoescaped); this module hands them the data, the
number formatters and the figures.
"""

from __future__ import annotations

from functools import cache, partial
from pathlib import Path
from typing import Any, NamedTuple

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from hpscout._imports import try_import
from hpscout._io import atomic_write_text
from hpscout.report._data import PlotData, ReportData, report_data
from hpscout.report._figures import PALETTE, figure_for
from hpscout.report._format import (
    fmt_any,
    fmt_int,
    fmt_lr,
    fmt_seconds,
    fmt_value,
    table_cells,
    table_header,
)
from hpscout.store import RunLayout

__all__ = ["build_report", "render_html", "write_report"]

# plots drawn side by side (two per row); the others take the full width
_HALF = {"history", "lr", "lora_r", "trainable_params", "schedule", "lr_law", "transfer", "climb"}

_PLOT_HELP = {
    "history": "Each complete trial's objective; the line is the best value so far. Crosses: trials stopped early, at their last rung.",
    "lr": "The objective against the learning rate (log scale): look for a plateau, not a single point.",
    "lora_r": "The objective against the LoRA rank.",
    "trainable_params": "The objective against the number of trainable parameters.",
    "parallel": "One line per complete trial through its searched values; colour is the objective. Drag on an axis to filter.",
    "importance": "How much of the objective's variation each parameter explains (from analysis.json).",
    "curves": "Train loss and the eval metric over optimizer steps for the best trials (from result.json).",
    "schedule": "The learning rate at every step of the final config, stepped through the scheduler training uses.",
    "ablation": "Each level's mean over seeds with its confidence interval. Diamond: the baseline; green: better, "
    "red: worse, grey: no detectable effect, orange: seeds failed.",
    "transfer": "The top configs re-run on more data: points along a rising line mean the ranking held.",
    "climb": "Each top config at the scouting fraction and at every rung the climb reached; the thick line is the pick.",
    "lr_law": "The best LR at each fraction, the power law fitted through them and its extrapolation to the full run.",
}


_VERDICT_CLASS = {"matters": "good", "hurts": "bad", "no detectable effect": "neutral", "not enough seeds": "warn",
                  "held": "good", "partly held": "warn", "did not hold": "bad"}


class Card(NamedTuple):
    """One summary card (plain text; the template escapes it)."""

    label: str
    value: str
    sub: str = ""
    cls: str = ""


class PlotView(NamedTuple):
    """One plot as the template draws it: the figure's HTML, or the note saying why there is none."""

    key: str
    title: str
    width: str
    help: str
    figure: Markup | None
    note: str | None
    schedule: dict[str, Any] | None


def build_report(run_dir: str | Path, *, storage: str | None = None) -> Path:
    """Rebuild ``<run_dir>/report/index.html`` from the store (atomic write) and return its path.

    Args:
        run_dir: the run folder.
        storage: Optuna storage URL; default: the run's own.

    Example:
        >>> path = build_report("runs/sst2-minilm-lora")  # doctest: +SKIP
        >>> path.name  # doctest: +SKIP
        'index.html'
    """
    return write_report(report_data(run_dir, storage=storage))


def write_report(data: ReportData) -> Path:
    """Draw computed report data and write it atomically to ``<run_dir>/report/index.html``."""
    out = RunLayout(Path(data.run_dir)).report_dir / "index.html"
    atomic_write_text(out, render_html(data))
    return out


def render_html(data: ReportData) -> str:
    """The whole page as a string (plotly.js inlined once)."""
    offline = try_import("plotly.offline", "the HTML report")
    return _environment().get_template("report.html").render(
        d=data,
        plotly_js=Markup(offline.get_plotlyjs()),
        palette=PALETTE,
        cards=_summary_cards(data),
        ladder_rows=_ladder_rows(data),
        plot_view=partial(_plot_view, data),
    )


@cache
def _environment() -> Environment:
    """The templates' environment, built once: autoescaped HTML, the formatters as filters."""
    env = Environment(
        loader=PackageLoader("hpscout.report", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        fmt_value=fmt_value, fmt_lr=fmt_lr, fmt_any=fmt_any, fmt_int=fmt_int, fmt_seconds=fmt_seconds,
        signed=_signed, interval=_interval, sub=_sub, relative_to=_rel,
    )
    env.globals.update(table_header=table_header, table_cells=table_cells, verdict_class=_VERDICT_CLASS)
    return env


# --------------------------------------------------------------------------- what the templates draw


def _summary_cards(d: ReportData) -> list[Card]:
    """The best value, the trial counts, the transfer verdict and the scouting time."""
    cards = []
    if d.best is not None:
        cards.append(Card(f"best {d.metric}", fmt_value(d.best.value),
                          f"trial {d.best.name} at fraction {fmt_any(d.best.fraction)}", "accent"))
    else:
        cards.append(Card(f"best {d.metric}", "—", "no complete trial yet", "muted"))
    status = ", ".join(f"{n} {s}" for s, n in sorted(d.counts.items(), key=lambda kv: -kv[1]))
    cards.append(Card("trials", str(len(d.rows)), status or "none"))
    cards.append(_transfer_card(d.transfer))
    if d.cost and d.cost.get("scouting_seconds") is not None:
        ratio = d.cost.get("ratio")
        sub = f"{fmt_value(ratio, 2)}x a projected full run" if ratio is not None else "no full-run projection"
        cards.append(Card("scouting time", fmt_seconds(d.cost.get("scouting_seconds")), sub))
    else:
        cards.append(Card("scouting time", "not run", "", "muted"))
    return cards


def _transfer_card(t: dict[str, Any] | None) -> Card:
    if t and t.get("rungs"):
        trusted = bool(t.get("trusted"))
        sub = (f"chosen at fraction {fmt_any(t.get('final_fraction'))} ({t.get('stop_reason')}); "
               f"strict verdict: {t.get('verdict')}, Spearman {fmt_value(t.get('spearman'), 2)}")
        return Card("transfer climb", "trusted" if trusted else "UNTRUSTED", sub, "good" if trusted else "bad")
    if t and t.get("verdict"):
        verdict = str(t["verdict"])
        cls = {"held": "good", "partly held": "warn", "did not hold": "bad"}.get(verdict, "")
        return Card("transfer check", verdict, f"Spearman {fmt_value(t.get('spearman'), 2)}", cls)
    return Card("transfer check", "not run", "", "muted")


def _ladder_rows(d: ReportData) -> list[dict[str, str]]:
    """The rungs kept, then those the step floor dropped."""
    plan = _sub(d.preflight or {}, "ladder")
    kept = {r.get("fraction") for r in d.ladder}
    dropped = [r for r in plan.get("dropped") or [] if r.get("fraction") not in kept]
    return [
        {"fraction": fmt_any(r.get("fraction")), "rows": fmt_int(r.get("rows")), "steps": fmt_int(r.get("steps")),
         "state": state}
        for rungs, state in ((d.ladder, "kept"), (dropped, "dropped: under the floor"))
        for r in rungs
    ]


def _plot_view(d: ReportData, key: str) -> PlotView:
    """Draw one plot (plotly's ``<div>``) or keep its note when there is nothing to draw."""
    plot: PlotData = d.plots[key]
    fig = figure_for(plot, d.metric)
    figure = None
    if fig is not None:
        figure = Markup(fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=f"plot-{plot.key}",
            default_height=f"{int(fig.layout.height or 360)}px",
            # no mode bar: drag to zoom, double-click to reset; it would cover legends
            config={"displaylogo": False, "responsive": True, "displayModeBar": False},
        ))
    schedule = plot.data if plot.data and plot.key == "schedule" else None
    return PlotView(plot.key, plot.title, "half" if plot.key in _HALF else "full", _PLOT_HELP.get(plot.key, ""),
                    figure, plot.note, schedule)


# --------------------------------------------------------------------------- filters


def _signed(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:+.3g}"


def _interval(ci: Any, digits: int) -> str:
    """`` [low, high]`` for a two-number interval, else nothing."""
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and None not in ci:
        return f" [{fmt_value(ci[0], digits)}, {fmt_value(ci[1], digits)}]"
    return ""


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _sub(obj: Any, key: str) -> dict[str, Any]:
    """``obj[key]`` when it is a mapping, else an empty dict (analysis.json sections may be partial)."""
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, dict) else {}
