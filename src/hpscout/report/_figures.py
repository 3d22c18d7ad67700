"""Draw the report: one plotly figure per :class:`~hpscout.report._data.PlotData`.

Every builder takes the plain series computed in :mod:`hpscout.report._data`
and only draws; plots without data never reach here (the page shows their note).
plotly is imported inside the builders, so importing this module is free.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from hpscout._imports import try_import
from hpscout.report._data import PlotData

__all__ = ["figure_for", "BUILDERS", "PALETTE"]

#: colours of the page (also used by the CSS): primary, best/good, bad, neutral, warn
PALETTE = {
    "primary": "#3b6fd4",
    "good": "#1f9d6b",
    "bad": "#d1495b",
    "neutral": "#9aa3b2",
    "warn": "#e59b2a",
    "ink": "#1f2633",
    "grid": "#e8ebf0",
}
_SERIES = ("#3b6fd4", "#e59b2a", "#1f9d6b", "#8e5cc7", "#d1495b")
HEIGHT = 360


def _go() -> Any:
    return try_import("plotly.graph_objects", "the HTML report's figures")


def _layout(fig: Any, *, x_title: str = "", y_title: str = "", log_x: bool = False, log_y: bool = False,
            legend: bool = True, height: int = HEIGHT) -> Any:
    fig.update_layout(
        template="simple_white",
        height=height,
        margin={"l": 64, "r": 20, "t": 40 if legend else 16, "b": 52},
        font={"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12, "color": PALETTE["ink"]},
        showlegend=legend,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0, "font": {"size": 11}},
        hoverlabel={"font": {"size": 12}},
        plot_bgcolor="white",
        paper_bgcolor="white",
    )
    fig.update_xaxes(title_text=x_title, type="log" if log_x else None, showgrid=True, gridcolor=PALETTE["grid"],
                     zeroline=False)
    fig.update_yaxes(title_text=y_title, type="log" if log_y else None, showgrid=True, gridcolor=PALETTE["grid"],
                     zeroline=False)
    return fig


def history_figure(d: dict[str, Any], metric: str) -> Any:
    go = _go()
    fig = go.Figure()
    stopped = d["stopped"]
    if stopped["numbers"]:
        fig.add_trace(go.Scatter(
            x=stopped["numbers"], y=stopped["values"], mode="markers", name="stopped early (last rung)",
            marker={"symbol": "x-thin", "size": 9, "line": {"width": 2, "color": PALETTE["neutral"]}},
            customdata=[[n, s, f if f is not None else float("nan")] for n, s, f in
                        zip(stopped["names"], stopped["statuses"], stopped["fractions"], strict=True)],
            hovertemplate="%{customdata[0]} (%{customdata[1]} at fraction %{customdata[2]})<br>%{y:.4g}<extra></extra>",
        ))
    fig.add_trace(go.Scatter(
        x=d["numbers"], y=d["values"], mode="markers", name="complete trial",
        marker={"size": 9, "color": PALETTE["primary"], "line": {"width": 1, "color": "white"}},
        text=d["names"], hovertemplate="%{text}<br>" + metric + " %{y:.4g}<extra></extra>",
    ))
    fig.add_trace(go.Scatter(
        x=d["numbers"], y=d["best_so_far"], mode="lines", name="best so far", line={"shape": "hv", "color": PALETTE["good"],
                                                                                    "width": 2},
        hoverinfo="skip",
    ))
    return _layout(fig, x_title="trial number", y_title=metric)


def param_figure(d: dict[str, Any], metric: str) -> Any:
    go = _go()
    fig = go.Figure(go.Scatter(
        x=d["x"], y=d["y"], mode="markers", text=d["names"],
        marker={"size": 10, "color": d["y"], "colorscale": "Viridis", "showscale": False,
                "line": {"width": 1, "color": "white"}},
        hovertemplate="%{text}<br>" + d["x_label"] + " %{x:.3g}<br>" + metric + " %{y:.4g}<extra></extra>",
    ))
    _layout(fig, x_title=d["x_label"], y_title=metric, log_x=d.get("log_x", False), legend=False)
    distinct = sorted(set(d["x"]))
    if d.get("log_x") and len(distinct) <= 8 and all(float(v).is_integer() for v in distinct):
        fig.update_xaxes(tickvals=distinct, ticktext=[f"{int(v):,}" for v in distinct])
    elif d.get("log_x") and max(distinct) < 1:
        fig.update_xaxes(dtick="D2", tickformat=".0e", tickangle=0)
    return fig


def parallel_figure(d: dict[str, Any], metric: str) -> Any:
    go = _go()
    dims = []
    for dim in d["dimensions"]:
        entry: dict[str, Any] = {"label": dim["label"].removeprefix("train."), "values": dim["values"]}
        if "ticktext" in dim:
            entry.update(tickvals=dim["tickvals"], ticktext=dim["ticktext"])
        elif dim.get("log"):
            lo, hi = min(dim["values"]), max(dim["values"])
            ticks = [t for t in range(math.floor(lo), math.ceil(hi) + 1)]
            entry.update(tickvals=ticks, ticktext=[f"1e{t}" for t in ticks], range=[lo, hi])
        dims.append(entry)
    fig = go.Figure(go.Parcoords(
        line={"color": d["color"], "colorscale": "Viridis", "showscale": True,
              "colorbar": {"title": {"text": metric, "side": "right"}, "thickness": 12}},
        dimensions=dims,
        labelfont={"size": 12}, tickfont={"size": 11},
    ))
    fig.update_layout(template="simple_white", height=HEIGHT, margin={"l": 70, "r": 70, "t": 48, "b": 24},
                      font={"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12})
    return fig


def importance_figure(d: dict[str, Any], metric: str) -> Any:
    go = _go()
    fig = go.Figure()
    params = list(reversed(d["params"]))
    for i, (label, values) in enumerate(d["methods"].items()):
        fig.add_trace(go.Bar(
            y=[p.removeprefix("train.") for p in params], x=[values.get(p, 0.0) for p in params], orientation="h",
            name=label, marker_color=_SERIES[i % len(_SERIES)],
            hovertemplate="%{y}: %{x:.2f}<extra>" + label + "</extra>",
        ))
    fig.update_layout(barmode="group")
    return _layout(fig, x_title="importance (share of the objective's variance)", legend=len(d["methods"]) > 1,
                   height=max(200, 110 + 22 * len(params) * max(1, len(d["methods"]))))


def curves_figure(d: dict[str, Any], metric: str) -> Any:
    go = _go()
    subplots = try_import("plotly.subplots", "the HTML report's figures")
    fig = subplots.make_subplots(rows=1, cols=2, subplot_titles=("train loss", d["metric"]), horizontal_spacing=0.1)
    for i, c in enumerate(d["curves"]):
        color = _SERIES[i % len(_SERIES)]
        name = f"#{c['rank']} {c['name']}"
        if c["train_steps"]:
            fig.add_trace(go.Scatter(x=c["train_steps"], y=c["train_loss"], mode="lines", name=name, legendgroup=name,
                                     line={"color": color, "width": 1.6},
                                     hovertemplate=name + " step %{x}: loss %{y:.4g}<extra></extra>"), row=1, col=1)
        if c["eval_steps"]:
            fig.add_trace(go.Scatter(x=c["eval_steps"], y=c["eval_values"], mode="lines+markers", name=name,
                                     legendgroup=name, showlegend=not c["train_steps"],
                                     line={"color": color, "width": 1.6}, marker={"size": 6},
                                     hovertemplate=name + " step %{x}: %{y:.4g}<extra></extra>"), row=1, col=2)
    _layout(fig)
    fig.update_layout(margin={"l": 64, "r": 20, "t": 64, "b": 52}, legend={"y": 1.1})
    fig.update_xaxes(title_text="optimizer step")
    fig.update_annotations(font={"size": 12})
    return fig


def schedule_figure(d: dict[str, Any], metric: str) -> Any:
    go = _go()
    fig = go.Figure(go.Scatter(
        x=d["steps"], y=d["lrs"], mode="lines", name=d["label"], line={"color": PALETTE["primary"], "width": 2},
        fill="tozeroy", fillcolor="rgba(59,111,212,0.08)",
        hovertemplate="step %{x}: LR %{y:.3e}<extra></extra>",
    ))
    if d["warmup_steps"]:
        fig.add_vrect(x0=0, x1=d["warmup_steps"], fillcolor=PALETTE["warn"], opacity=0.12, line_width=0,
                      annotation_text=f"warmup {d['warmup_steps']} steps", annotation_position="top left",
                      annotation_font_size=11)
    _layout(fig, x_title=f"optimizer step (of {d['total_steps']:,})", y_title="learning rate", legend=False)
    fig.update_yaxes(exponentformat="e", rangemode="tozero")
    return fig


_EFFECT_COLOR = {
    "baseline": PALETTE["primary"],
    "better": PALETTE["good"],
    "worse": PALETTE["bad"],
    "failed": PALETTE["warn"],
}


def ablation_figure(d: dict[str, Any], metric: str) -> Any:
    go = _go()
    fig = go.Figure()
    ys: list[str] = []
    for factor in d["factors"]:
        short = factor["key"].removeprefix("train.")
        for lv in factor["levels"]:
            if lv["mean"] is None:
                continue
            label = f"{short} = {lv['level']}" + (" (baseline)" if lv["is_baseline"] else "")
            ys.append(label)
            effect = "baseline" if lv["is_baseline"] else (lv.get("effect") or "none")
            has_ci = lv["ci_low"] is not None and lv["ci_high"] is not None
            fig.add_trace(go.Scatter(
                x=[lv["mean"]], y=[label], mode="markers", showlegend=False,
                marker={"size": 11, "color": _EFFECT_COLOR.get(effect, PALETTE["neutral"]),
                        "symbol": "diamond" if lv["is_baseline"] else "circle"},
                error_x={"type": "data", "symmetric": False, "array": [lv["ci_high"] - lv["mean"]],
                         "arrayminus": [lv["mean"] - lv["ci_low"]], "thickness": 2, "width": 6} if has_ci else None,
                hovertemplate=(f"{label}<br>mean %{{x:.4g}}" + (f" [{lv['ci_low']:.4g}, {lv['ci_high']:.4g}]" if has_ci else
                                                                 " (no CI)")
                               + f"<br>n={lv['n']}, failed={lv['n_failed']}, effect: {effect}<extra></extra>"),
            ))
    if d.get("baseline_mean") is not None:
        fig.add_vline(x=d["baseline_mean"], line_dash="dot", line_color=PALETTE["primary"], opacity=0.6)
    conf = d.get("confidence")
    x_title = f"{d.get('metric') or metric} (mean" + (f", {conf:.0%} CI)" if isinstance(conf, (int, float)) else ", CI)")
    _layout(fig, x_title=x_title, legend=False, height=max(220, 80 + 34 * len(ys)))
    fig.update_yaxes(autorange="reversed", categoryorder="array", categoryarray=ys, showgrid=False)
    fig.update_layout(margin={"l": 170, "r": 20, "t": 16, "b": 52})
    return fig


def transfer_figure(d: dict[str, Any], metric: str) -> Any:
    go = _go()
    fig = go.Figure(go.Scatter(
        x=d["small"], y=d["large"], mode="markers+text", text=d["labels"], textposition="top center",
        textfont={"size": 11},
        marker={"size": 11, "color": PALETTE["primary"], "line": {"width": 1, "color": "white"}},
        customdata=[[a, b] for a, b in zip(d["rank_small"], d["rank_large"], strict=True)],
        hovertemplate="%{text}: small %{x:.4g} (rank %{customdata[0]}), large %{y:.4g} (rank %{customdata[1]})<extra></extra>",
    ))
    m = d.get("metric") or metric
    sf, lf = d.get("small_fraction"), d.get("large_fraction")
    _layout(fig, x_title=f"{m} at fraction {sf:g}" if isinstance(sf, (int, float)) else f"{m} (small)",
            y_title=f"{m} at fraction {lf:g}" if isinstance(lf, (int, float)) else f"{m} (large)", legend=False,
            height=320)
    fig.update_xaxes(range=_padded(d["small"]))
    fig.update_yaxes(range=_padded(d["large"]))
    return fig


def climb_figure(d: dict[str, Any], metric: str) -> Any:
    go = _go()
    fig = go.Figure()
    for line in d["lines"]:
        picked = line["trial"] == d.get("pick")
        fig.add_trace(go.Scatter(
            x=d["fractions"], y=line["y"], mode="lines+markers", name=line["label"] + (" (pick)" if picked else ""),
            line={"width": 3 if picked else 1.5, "color": PALETTE["primary"] if picked else None},
            connectgaps=False,
            hovertemplate=line["label"] + ": %{y:.4g} at fraction %{x:g}<extra></extra>",
        ))
    _layout(fig, x_title="data fraction (scouting fraction, then each rung of the climb)",
            y_title=d.get("metric") or metric, log_x=True, height=320)
    return fig


def _padded(values: list[float], share: float = 0.15) -> list[float]:
    lo, hi = min(values), max(values)
    pad = (hi - lo) * share or abs(hi) * 0.01 or 0.01
    return [lo - pad, hi + pad]


def lr_law_figure(d: dict[str, Any], metric: str) -> Any:
    go = _go()
    fig = go.Figure()
    xs, ys, observed = d["fit_x"], d["fit_lr"], d["observed_max_x"]
    if d.get("band"):
        fig.add_trace(go.Scatter(x=xs + xs[::-1], y=d["band"]["high"] + d["band"]["low"][::-1], fill="toself",
                                 fillcolor="rgba(59,111,212,0.10)", line={"width": 0}, hoverinfo="skip",
                                 name=f"exponent CI [{d['beta_ci'][0]:.2f}, {d['beta_ci'][1]:.2f}]"))
    inside = [(x, y) for x, y in zip(xs, ys, strict=True) if x <= observed * 1.0001]
    beyond = [(x, y) for x, y in zip(xs, ys, strict=True) if x >= observed * 0.9999]
    fig.add_trace(go.Scatter(x=[p[0] for p in inside], y=[p[1] for p in inside], mode="lines",
                             name=f"fit: LR ∝ {d['x_kind']}^-{d['beta']:.2f}",
                             line={"color": PALETTE["primary"], "width": 2}, hoverinfo="skip"))
    if len(beyond) > 1:
        fig.add_trace(go.Scatter(x=[p[0] for p in beyond], y=[p[1] for p in beyond], mode="lines", name="extrapolation",
                                 line={"color": PALETTE["primary"], "width": 2, "dash": "dash"}, hoverinfo="skip"))
    pts = d["points"]
    fig.add_trace(go.Scatter(
        x=[p["x"] for p in pts], y=[p["lr"] for p in pts], mode="markers+text", name="best LR per fraction",
        text=[f"{p['fraction']:g}" if isinstance(p.get("fraction"), (int, float)) else "" for p in pts],
        textposition="bottom center", textfont={"size": 10},
        marker={"size": 10, "color": PALETTE["warn"], "line": {"width": 1, "color": "white"}},
        hovertemplate="fraction %{text}: " + d["x_kind"] + " %{x:,.0f}, best LR %{y:.2e}<extra></extra>",
    ))
    if d.get("full_x") and d.get("predicted_full_lr"):
        fig.add_trace(go.Scatter(
            x=[d["full_x"]], y=[d["predicted_full_lr"]], mode="markers", name="predicted for the full run",
            marker={"size": 15, "symbol": "star", "color": PALETTE["good"], "line": {"width": 1, "color": "white"}},
            hovertemplate="full run: " + d["x_kind"] + " %{x:,.0f}, LR %{y:.2e}<extra></extra>",
        ))
    _layout(fig, x_title=f"{d['x_kind']} (log)", y_title="best learning rate (log)", log_x=True, log_y=True)
    ticks = _nice_log_ticks(min(xs), max(xs))
    fig.update_xaxes(tickvals=ticks, ticktext=[f"{t:,.0f}" if t >= 1 else f"{t:g}" for t in ticks])
    fig.update_yaxes(dtick="D2", tickformat=".0e")
    return fig


def _nice_log_ticks(lo: float, hi: float) -> list[float]:
    """1-2-5 ticks between ``lo`` and ``hi`` (at most ~8, so labels never collide)."""
    for mantissas in ((1, 2, 5), (1, 3), (1,)):
        ticks = [m * 10.0**e for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
                 for m in mantissas if lo * 0.6 <= m * 10.0**e <= hi * 1.4]
        if len(ticks) <= 8:
            return ticks
    return ticks


#: plot key -> builder(data, metric) -> plotly Figure
BUILDERS: dict[str, Callable[[dict[str, Any], str], Any]] = {
    "history": history_figure,
    "lr": param_figure,
    "lora_r": param_figure,
    "trainable_params": param_figure,
    "parallel": parallel_figure,
    "importance": importance_figure,
    "curves": curves_figure,
    "schedule": schedule_figure,
    "ablation": ablation_figure,
    "transfer": transfer_figure,
    "climb": climb_figure,
    "lr_law": lr_law_figure,
}


def figure_for(plot: PlotData, metric: str) -> Any:
    """The plotly figure of ``plot``, or None when it has no data (the page shows its note instead).

    Example:
        >>> fig = figure_for(data.plots["history"], data.metric)  # doctest: +SKIP
    """
    if plot.data is None:
        return None
    return BUILDERS[plot.key](plot.data, metric)
