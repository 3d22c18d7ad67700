"""Assemble the report: one static, self-contained HTML page.

plotly.js is embedded once in the page head; every figure is a ``<div>`` that
draws itself from inline JSON. No CDN, no network, no server: the file opens
from disk in any browser.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

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
    plotly_js = offline.get_plotlyjs()
    body = "\n".join([
        _header(data),
        _summary(data),
        _section("Ladder", "ladder", _ladder(data)),
        _section("Trials", "trials", _trial_table(data)),
        _section("Search", "search", _plots(data, ["history", "lr", "lora_r", "trainable_params", "parallel", "importance",
                                                   "curves"])),
        _section("Failed and diverged trials", "failed", _failed(data)),
        _section("Ablation", "ablation", _ablation(data) + _plots(data, ["ablation"])),
        _section("Transfer check", "transfer", _plots(data, ["climb", "transfer"], lead=_transfer(data))),
        _section("Final config: LR schedule and LR law", "final", _lr_law(data) + _plots(data, ["schedule", "lr_law"])),
        _section("Cost", "cost", _cost(data)),
        _footer(data),
    ])
    title = f"hpscout report: {data.run_name}"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n"
        f"<script type=\"text/javascript\">{plotly_js}</script>\n"
        "</head>\n<body>\n<main>\n" + body + "\n</main>\n</body>\n</html>\n"
    )


# --------------------------------------------------------------------------- pieces


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _section(title: str, anchor: str, inner: str) -> str:
    return f'<section id="{anchor}"><h2>{_e(title)}</h2>\n{inner}\n</section>'


def _header(d: ReportData) -> str:
    meta = [
        f"task <b>{_e(d.task)}</b>",
        f"method <b>{_e(d.method)}</b>",
        f"objective <b>{_e(d.direction)} {_e(d.metric)}</b>",
        f"study <code>{_e(d.study_name)}</code>",
    ]
    nav = "".join(f'<a href="#{a}">{t}</a>' for a, t in (
        ("trials", "Trials"), ("search", "Search"), ("failed", "Failures"), ("ablation", "Ablation"),
        ("transfer", "Transfer"), ("final", "Schedule &amp; LR law"), ("cost", "Cost"), ("ladder", "Ladder")))
    return (
        f'<header><div class="brand">hpscout report</div><h1>{_e(d.run_name)}</h1>'
        f'<p class="meta">{" · ".join(meta)}</p><nav>{nav}</nav></header>'
    )


def _card(label: str, value: str, sub: str = "", cls: str = "") -> str:
    return (f'<div class="card {cls}"><div class="label">{_e(label)}</div><div class="value">{value}</div>'
            f'<div class="sub">{sub}</div></div>')


def _summary(d: ReportData) -> str:
    cards = []
    if d.best is not None:
        cards.append(_card(f"best {d.metric}", _e(fmt_value(d.best.value)),
                           f"trial {_e(d.best.name)} at fraction {_e(fmt_any(d.best.fraction))}", "accent"))
    else:
        cards.append(_card(f"best {d.metric}", "—", "no complete trial yet", "muted"))
    status = ", ".join(f"{n} {_e(s)}" for s, n in sorted(d.counts.items(), key=lambda kv: -kv[1]))
    cards.append(_card("trials", str(len(d.rows)), status or "none"))
    if d.transfer and d.transfer.get("rungs"):
        t = d.transfer
        trusted = bool(t.get("trusted"))
        sub = (f"chosen at fraction {fmt_any(t.get('final_fraction'))} ({t.get('stop_reason')}); "
               f"strict verdict: {t.get('verdict')}, Spearman {fmt_value(t.get('spearman'), 2)}")
        cards.append(_card("transfer climb", "trusted" if trusted else "UNTRUSTED", _e(sub), "good" if trusted else "bad"))
    elif d.transfer and d.transfer.get("verdict"):
        verdict = str(d.transfer["verdict"])
        cls = {"held": "good", "partly held": "warn", "did not hold": "bad"}.get(verdict, "")
        cards.append(_card("transfer check", _e(verdict), f"Spearman {_e(fmt_value(d.transfer.get('spearman'), 2))}", cls))
    else:
        cards.append(_card("transfer check", "not run", "", "muted"))
    if d.cost and d.cost.get("scouting_seconds") is not None:
        ratio = d.cost.get("ratio")
        sub = f"{fmt_value(ratio, 2)}x a projected full run" if ratio is not None else "no full-run projection"
        cards.append(_card("scouting time", _e(fmt_seconds(d.cost.get("scouting_seconds"))), _e(sub)))
    else:
        cards.append(_card("scouting time", "not run", "", "muted"))

    cfg_rows = "".join(
        f"<tr><th>{_e(k)}</th><td>{_e(fmt_lr(v) if k.endswith('learning_rate') else fmt_any(v))}</td></tr>"
        for k, v in d.best_config.items() if k not in ("source", "why")
    )
    source = d.best_config.get("source")
    why = d.best_config.get("why")
    why_p = ""
    if why:
        cls = "warnmsg" if str(why).startswith("UNTRUSTED") else "hint"
        why_p = f'<p class="{cls}">Chosen because: {_e(why)}</p>'
    title = "Final config" if source == "final/config.yaml" else "Best config"
    config_box = (
        f'<div class="box"><h3>{title}{(" <span class=hint>from " + _e(source) + "</span>") if source else ""}</h3>'
        + (f'<table class="kv">{cfg_rows}</table>' if cfg_rows else '<p class="nodata">no best config yet</p>')
        + why_p + "</div>"
    )
    files = []
    for f in d.final_files:
        rel = _rel(f.path, d.run_dir)
        if f.exists:
            files.append(f'<li><span class="ok">●</span> {_e(f.label)}: <code>{_e(rel)}</code></li>')
        elif rel.startswith("final/"):
            files.append(f'<li class="missing"><span>○</span> {_e(f.label)}: not written yet</li>')
    export_hint = (
        f'<p class="hint">Write them with <code>hpscout export {_e(d.run_dir)} --format llamafactory|hf|json '
        "[--full-samples N] [--devices D]</code>.</p>"
    )
    files_box = f'<div class="box"><h3>Final configs</h3><ul class="files">{"".join(files)}</ul>{export_hint}</div>'
    notes = "".join(f'<p class="note">{_e(n)}</p>' for n in d.notes)
    return f'<section id="summary"><div class="cards">{"".join(cards)}</div>{notes}<div class="two">{config_box}{files_box}</div></section>'


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _trial_table(d: ReportData) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in table_header(d.metric))
    rows = []
    for r in d.rows:
        cls = "best" if d.best is not None and r.number == d.best.number else r.status
        cells = "".join(f"<td>{_e(c)}</td>" for c in table_cells(r))
        title = f' title="{_e(r.message)}"' if r.message else ""
        rows.append(f'<tr class="{_e(cls)}"{title}>{cells}</tr>')
    if not rows:
        return '<p class="nodata">no data: the study has no trials yet</p>'
    legend = ('<p class="hint">Ranked by the objective. Trials stopped early show (their last value @ fraction); '
              "the best row is highlighted; <i>curve</i> classifies each training loss curve. The same table prints "
              "in the terminal with <code>hpscout report</code>.</p>")
    advice = [
        f"<li><b>{_e(r.name)}</b> ({_e(r.curve)}): {_e(r.curve_suggestion)}</li>"
        for r in d.rows
        if r.curve and r.curve not in ("healthy", "too short") and r.curve_suggestion
    ]
    curves = f'<ul class="files">{"".join(advice)}</ul>' if advice else ""
    return (f'<div class="tablewrap"><table class="trials"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
            f"</table></div>{legend}{curves}")


def _plots(d: ReportData, keys: list[str], lead: str = "") -> str:
    blocks = [f'<div class="box lead">{lead}</div>'] if lead else []
    for key in keys:
        plot = d.plots.get(key)
        if plot is None:
            continue
        blocks.append(_plot_block(plot, d.metric))
    return f'<div class="grid">{"".join(blocks)}</div>'


def _plot_block(plot: PlotData, metric: str) -> str:
    width = "half" if plot.key in _HALF else "full"
    help_text = _PLOT_HELP.get(plot.key, "")
    head = f'<h3>{_e(plot.title)}</h3><p class="help">{_e(help_text)}</p>'
    fig = figure_for(plot, metric)
    if fig is None:
        inner = f'<div class="nodata plotnote">no data: {_e(plot.note or "nothing to show")}</div>'
    else:
        inner = fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=f"plot-{plot.key}",
            default_height=f"{int(fig.layout.height or 360)}px",
            # no mode bar: drag to zoom, double-click to reset; it would cover legends
            config={"displaylogo": False, "responsive": True, "displayModeBar": False},
        )
    extra = ""
    if plot.data and plot.key == "schedule":
        notes = "".join(f"<li>{_e(n)}</li>" for n in plot.data.get("notes") or [])
        extra = (f'<p class="caption">{_e(plot.data["label"])}, peak LR {_e(fmt_lr(plot.data["peak_lr"]))}; '
                 f'config from {_e(plot.data["source"])}; length from the {_e(plot.data["length_from"])}.</p>'
                 + (f"<ul class=caption>{notes}</ul>" if notes else ""))
    return f'<figure class="plot {width}" data-plot="{plot.key}">{head}{inner}{extra}</figure>'


def _failed(d: ReportData) -> str:
    if not d.failed:
        return '<p class="okmsg">No trial diverged, ran out of memory or failed.</p>'
    rows = "".join(
        f'<tr class="{_e(r.status)}"><td>{_e(r.name)}</td><td><span class="pill {_e(r.status)}">{_e(r.status)}</span></td>'
        f"<td>{_e(fmt_lr(r.learning_rate))}</td><td>{_e(fmt_any(r.batch_size))}</td>"
        f"<td>{_e(fmt_any(r.fraction))}</td><td>{_e(r.message or 'no reason recorded')}</td></tr>"
        for r in d.failed
    )
    return ('<table class="plain"><thead><tr><th>trial</th><th>status</th><th>LR</th><th>batch</th><th>fraction</th>'
            f'<th>reason</th></tr></thead><tbody>{rows}</tbody></table>')


def _not_run(what: str, how: str) -> str:
    return f'<p class="nodata">not run: analysis.json has no {_e(what)} section. {how}</p>'


_VERDICT_CLASS = {"matters": "good", "hurts": "bad", "no detectable effect": "neutral", "not enough seeds": "warn",
                  "held": "good", "partly held": "warn", "did not hold": "bad"}


def _pill(text: Any) -> str:
    t = str(text) if text is not None else "—"
    return f'<span class="pill {_VERDICT_CLASS.get(t, "neutral")}">{_e(t)}</span>'


def _ablation(d: ReportData) -> str:
    a = d.ablation
    if not a or not isinstance(a.get("factors"), dict):
        return _not_run("ablation", "Run <code>hpscout ablate</code>.")
    base = a.get("baseline") or {}
    head = (f'<p>Baseline ({_e(base.get("source", "best"))}'
            + (f", trial {_e(base.get('trial'))}" if base.get("trial") is not None else "")
            + f") over {_e(a.get('seeds', '?'))} seeds: mean {_e(fmt_value(base.get('mean')))} "
            f"[{_e(fmt_value(base.get('ci_low')))}, {_e(fmt_value(base.get('ci_high')))}]. "
            f"Test: {_e(a.get('test', '?'))}, {_e(a.get('correction', 'no'))} correction, alpha {_e(a.get('alpha', '?'))}.</p>")
    rows = []
    for key, f in a["factors"].items():
        levels = f.get("levels") or []
        span = max(1, len(levels))
        first = True
        for lv in levels or [{}]:
            factor_cells = ""
            if first:
                pattern = f.get("expected_pattern")
                pm = f.get("pattern_matches")
                pat = (f'<div class="hint">expected: {_e(pattern)}'
                       + (" ✓" if pm is True else " ✗" if pm is False else "") + "</div>") if pattern else ""
                factor_cells = (f'<td rowspan="{span}" class="wrap"><code>{_e(key)}</code>{pat}</td>'
                                f'<td rowspan="{span}">{_pill(f.get("verdict"))}</td>')
                first = False
            ci = ("[" + fmt_value(lv.get("ci_low")) + ", " + fmt_value(lv.get("ci_high")) + "]"
                  if lv.get("ci_low") is not None else "—")
            p = lv.get("p_adjusted", lv.get("p_value"))
            n = f"{lv.get('n', '—')}" + (f" ({lv['n_failed']} failed)" if lv.get("n_failed") else "")
            level = _e(lv.get("level", "—")) + (" <span class=hint>baseline</span>" if lv.get("is_baseline") else "")
            rows.append(
                f"<tr>{factor_cells}<td>{level}</td><td>{_e(fmt_value(lv.get('mean')))}</td><td>{_e(ci)}</td>"
                f"<td>{_e(_signed(lv.get('delta')))}</td><td>{_e(fmt_value(p, 2))}</td><td>{_e(n)}</td>"
                f"<td>{_e(lv.get('effect') or '—')}{(' — ' + _e(lv['note'])) if lv.get('note') else ''}</td></tr>"
            )
    table = ('<table class="plain"><thead><tr><th>factor</th><th>verdict</th><th>level</th><th>mean</th><th>CI</th>'
             '<th>Δ vs baseline</th><th>p (adj.)</th><th>n</th><th>effect</th></tr></thead><tbody>'
             + "".join(rows) + "</tbody></table>")
    return head + table


def _signed(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:+.3g}"


def _ladder(d: ReportData) -> str:
    """The rungs in force (fraction, rows, optimizer steps), what the step floor dropped, and the preflight."""
    pre = d.preflight or {}
    plan = _sub(pre, "ladder")
    if not d.ladder:
        return _not_run("ladder", "Run <code>hpscout run</code>: it plans the ladder before training.")
    rows = [(f"{fmt_any(r.get('fraction'))}", fmt_int(r.get("rows")), fmt_int(r.get("steps")), "kept") for r in d.ladder]
    kept = {r.get("fraction") for r in d.ladder}
    rows += [
        (f"{fmt_any(r.get('fraction'))}", fmt_int(r.get("rows")), fmt_int(r.get("steps")), "dropped: under the floor")
        for r in plan.get("dropped") or [] if r.get("fraction") not in kept
    ]
    body = "".join(f"<tr><td>{_e(a)}</td><td>{_e(b)}</td><td>{_e(c)}</td><td>{_e(e)}</td></tr>" for a, b, c, e in rows)
    table = (f'<table class="plain"><thead><tr><th>fraction</th><th>rows</th><th>optimizer steps</th><th></th></tr>'
             f"</thead><tbody>{body}</tbody></table>")
    msg = f'<p class="hint">{_e(plan["message"])}</p>' if plan.get("message") else ""
    cost = ""
    if pre.get("message"):
        cls = "warnmsg" if pre.get("exceeds_full_run") else "hint"
        cost = f'<p class="{cls}">{_e(pre["message"])}</p>'
        if pre.get("advice"):
            cost += f'<p class="advice">{_e(pre["advice"])}</p>'
    return table + msg + cost


def _transfer(d: ReportData) -> str:
    t = d.transfer
    if not t:
        return _not_run("transfer", "Run <code>hpscout transfer</code>.")
    climb = _climb(t)
    top1 = t.get("top1_agree")
    sf, lf = t.get("small_fraction"), t.get("large_fraction")
    rows = [
        ("strict verdict (no seed-noise allowance)" if t.get("rungs") else "verdict", _pill(t.get("verdict"))),
        ("fractions", _e(f"{fmt_any(sf)} → {fmt_any(lf)}") if sf is not None else "—"),
        ("Spearman (rank correlation)", _e(fmt_value(t.get("spearman"), 2))),
        ("Kendall tau", _e(fmt_value(t.get("kendall"), 2))),
        ("best config stays best", "yes" if top1 else "no" if top1 is False else "—"),
        (f"top-{t.get('topk', 'k')} overlap", _e(fmt_value(t.get("topk_overlap"), 2))),
        ("seeds per config", _e(t.get("seeds", "—"))),
    ]
    table = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows)
    trust = f'<p class="advice">{_e(t["trust"])}</p>' if t.get("trust") else ""
    noise = _sub(t, "noise")
    noise_p = f'<p class="hint">Noise: {_e(noise["message"])}</p>' if noise.get("message") else ""
    return (f'{climb}<h3>Does the small-scale ranking hold on more data?</h3><table class="kv">{table}</table>'
            f"{trust}{noise_p}")


def _climb(t: dict[str, Any]) -> str:
    """The climb, rung by rung, and whether its pick can be trusted."""
    rungs = t.get("rungs") or []
    if not rungs:
        return ""
    body = "".join(
        f"<tr><td>{_e(fmt_any(r.get('fraction')))}</td><td>{_e(fmt_int(r.get('steps')) if r.get('steps') else '—')}</td>"
        f"<td>{_e(fmt_value(r.get('spearman'), 2))}</td><td>{'yes' if r.get('top1_agree') else 'no'}</td>"
        f"<td>{_e(fmt_value(r.get('epsilon'), 3))}</td><td>{_e(r.get('decision'))}</td></tr>"
        for r in rungs
    )
    table = ('<table class="plain"><thead><tr><th>rung</th><th>steps</th><th>Spearman vs previous</th>'
             "<th>top-1 agrees</th><th>ε (seed noise)</th><th>decision</th></tr></thead>"
             f"<tbody>{body}</tbody></table>")
    pick = _sub(t, "pick")
    if t.get("trusted"):
        verdict = f'<p class="advice">Pick: {_e(pick.get("why"))}.</p>'
    else:
        needed = t.get("needed_fraction")
        verdict = (f'<p class="warnmsg">UNTRUSTED: the climb stopped at fraction {_e(fmt_any(t.get("final_fraction")))} '
                   f"without the two largest rungs agreeing ({_e(t.get('stop_reason'))})"
                   + (f"; it would have needed fraction {_e(fmt_any(needed))} next" if needed else "")
                   + f". Pick: {_e(pick.get('why'))}.</p>")
    return f"<h3>The climb</h3>{table}{verdict}"


def _lr_law(d: ReportData) -> str:
    s = d.lr_scaling
    if not s:
        return _not_run("lr_scaling", "The LR law needs the search's per-fraction results.")
    if s.get("status") not in (None, "ok"):
        return f'<p class="nodata">LR law {_e(s.get("status"))}: {_e(s.get("message") or "no reason given")}</p>'
    ci = s.get("beta_ci")
    ci_txt = f" [{fmt_value(ci[0], 3)}, {fmt_value(ci[1], 3)}]" if isinstance(ci, (list, tuple)) and len(ci) == 2 and None not in ci else ""
    full = _sub(s, "full")
    parts = [
        f"LR ∝ {_e(s.get('x_kind', 'x'))}<sup>−β</sup>, β = <b>{_e(fmt_value(s.get('beta'), 3))}</b>{_e(ci_txt)}",
        f"predicted LR for the full run: <b>{_e(fmt_lr(s.get('predicted_full_lr')))}</b>"
        + (f" at {_e(s.get('x_kind'))} = {_e(fmt_int(int(full['x'])))}" if isinstance(full.get("x"), (int, float)) else ""),
    ]
    why = f'<p class="hint">{_e(s["why"])}</p>' if s.get("why") else ""
    note = f'<p class="hint">{_e(s["note"])}</p>' if s.get("note") else ""
    return f'<p class="facts">{" · ".join(parts)}</p>{why}{note}'


def _cost(d: ReportData) -> str:
    c = d.cost
    if not c:
        return _not_run("cost", "")
    ratio = c.get("ratio")
    rows = [
        ("scouting time", fmt_seconds(c.get("scouting_seconds"))),
        ("scouting samples processed", fmt_int(c.get("scouting_samples"))),
        ("projected full run", fmt_seconds(c.get("projected_full_seconds"))),
        ("scouting / full run", f"{fmt_value(ratio, 3)}x" if ratio is not None else "—"),
        ("full run samples", fmt_int(c.get("full_samples"))),
    ]
    table = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    warn = ""
    if c.get("exceeds_budget"):
        warn = (f'<p class="warnmsg">Scouting cost more than {_e(fmt_value(c.get("budget_ratio"), 2))}x of a projected '
                "full run: for this data size, scouting on slices saves little.</p>")
    msg = f'<p class="hint">{_e(c["message"])}</p>' if c.get("message") else ""
    method = f'<p class="hint">Method: {_e(c["method"])}</p>' if c.get("method") else ""
    return f'<table class="kv wide">{table}</table>{warn}{msg}{method}'


def _footer(d: ReportData) -> str:
    return (f'<footer>Generated {_e(d.generated)} by hpscout {_e(d.version)} from <code>{_e(d.run_dir)}</code> '
            f'and the study storage <code>{_e(d.storage)}</code>. Rebuild with <code>hpscout report {_e(d.run_dir)}</code>.'
            "</footer>")


_CSS = """
:root{--ink:%(ink)s;--muted:#5d6677;--line:#e3e7ee;--bg:#f6f7fa;--card:#fff;--primary:%(primary)s;--good:%(good)s;
--bad:%(bad)s;--warn:%(warn)s;--neutral:%(neutral)s}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1240px;margin:0 auto;padding:24px 28px 48px}
header{padding:4px 0 12px;border-bottom:1px solid var(--line);margin-bottom:18px}
.brand{font-size:12px;letter-spacing:.08em;text-transform:uppercase;color:var(--primary);font-weight:600}
h1{margin:2px 0 4px;font-size:26px}
h2{font-size:18px;margin:30px 0 12px;padding-bottom:6px;border-bottom:1px solid var(--line)}
h3{font-size:14px;margin:0 0 4px}
.meta{margin:0;color:var(--muted)}
nav{margin-top:10px;display:flex;gap:14px;flex-wrap:wrap}
nav a{color:var(--primary);text-decoration:none;font-size:13px}
code{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#eef1f6;padding:1px 4px;border-radius:4px}
.cards{display:grid;grid-template-columns:repeat(4,1fr);gap:14px;margin-bottom:14px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 16px}
.card .label{font-size:12px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
.card .value{font-size:26px;font-weight:650;margin:2px 0}
.card .sub{font-size:12px;color:var(--muted)}
.card.accent{border-top:3px solid var(--primary)}.card.good{border-top:3px solid var(--good)}
.card.warn{border-top:3px solid var(--warn)}.card.bad{border-top:3px solid var(--bad)}
.card.muted .value{color:var(--neutral);font-size:20px}
.two{display:grid;grid-template-columns:1fr 1fr;gap:14px}
.box{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 16px}
table{border-collapse:collapse}
.kv th{text-align:left;font-weight:500;color:var(--muted);padding:2px 16px 2px 0;white-space:nowrap}
.kv td{padding:2px 0;font-variant-numeric:tabular-nums}
.kv.wide{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:8px 16px;display:block}
ul.files{list-style:none;padding:0;margin:4px 0}
ul.files li{padding:2px 0}.ok{color:var(--good)}.missing{color:var(--neutral)}
.tablewrap{overflow-x:auto;background:var(--card);border:1px solid var(--line);border-radius:10px}
table.trials,table.plain{width:100%%;font-variant-numeric:tabular-nums}
table.trials th,table.plain th{background:#f0f2f6;text-align:left;font-weight:600;font-size:12px;padding:7px 10px;
border-bottom:1px solid var(--line);white-space:nowrap}
table.trials td,table.plain td{padding:6px 10px;border-bottom:1px solid #eef0f4;vertical-align:top}
table.trials td:nth-child(1),table.trials td:nth-child(n+4),table.trials th:nth-child(1),
table.trials th:nth-child(n+4){text-align:right}
table.trials td,table.plain td{white-space:nowrap}table.plain td:last-child{white-space:normal}
table.plain td.wrap{white-space:normal;min-width:220px}
table.trials tr.best td{background:#e9f6ef;font-weight:600}
table.trials tr.pruned td{color:var(--muted)}
table.trials tr.diverged td,table.trials tr.oom td,table.trials tr.failed td{color:var(--bad)}
table.plain{background:var(--card);border:1px solid var(--line);border-radius:10px}
.pill{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;font-weight:600;background:#eef0f4;color:var(--muted)}
.pill.good{background:#e2f4eb;color:#12724c}.pill.bad,.pill.diverged,.pill.failed,.pill.oom{background:#fbe6e9;color:#a3283a}
.pill.warn{background:#fdf0dc;color:#925c08}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:14px;margin-top:14px}
figure.plot{margin:0;background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px;min-width:0}
figure.plot.full{grid-column:1 / -1}
.help,.hint,.caption{color:var(--muted);font-size:12px;margin:0 0 6px}
.tablewrap + .hint{margin-top:6px}
.caption{margin-top:6px}ul.caption{padding-left:18px}
.nodata{color:var(--muted);font-style:italic}
.plotnote{padding:26px 10px;text-align:center;background:#fafbfc;border:1px dashed var(--line);border-radius:8px}
.okmsg{color:var(--good)}.warnmsg{color:#925c08}
.facts b{font-variant-numeric:tabular-nums}
.advice{background:#f3f6fc;border-left:3px solid var(--primary);padding:8px 12px;border-radius:4px;margin:10px 0 6px}
.box.lead{align-self:stretch}
footer{margin-top:36px;color:var(--muted);font-size:12px;border-top:1px solid var(--line);padding-top:12px}
@media (max-width:900px){.cards{grid-template-columns:1fr 1fr}.two,.grid{grid-template-columns:1fr}}
""" % PALETTE  # noqa: UP031 - CSS braces make str.format awkward


def _sub(obj: Any, key: str) -> dict[str, Any]:
    """``obj[key]`` when it is a mapping, else an empty dict (analysis.json sections may be partial)."""
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, dict) else {}
