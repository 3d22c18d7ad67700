"""Draw learning-rate curves computed by :func:`hpscout.plan.compute_schedule` (drawing only).

matplotlib is imported inside :func:`plot_schedules` and used through its
object API (``Figure`` + the Agg canvas), so no global backend is switched and
nothing needs a display.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

from hpscout._errors import ConfigError
from hpscout._imports import try_import
from hpscout._io import atomic_write_bytes
from hpscout.plan._schedules import ScheduleCurve

__all__ = ["PLOT_FORMATS", "plot_schedules"]

#: file suffixes :func:`plot_schedules` writes
PLOT_FORMATS = ("png", "svg", "pdf")


def _title(curves: Sequence[ScheduleCurve], total: int, same_warmup: bool) -> str:
    """"Learning-rate schedules (peak LR ..., N steps, warmup ...)": what all curves share."""
    lrs = sorted({c.lr for c in curves})
    lr_txt = f"peak LR {lrs[0]:g}" if len(lrs) == 1 else "peak LR " + ", ".join(f"{v:g}" for v in lrs)
    warm_txt = ""
    if same_warmup and curves[0].warmup_steps:
        c = curves[0]
        ratio = f"{c.warmup_ratio:g} = " if c.warmup_ratio is not None else ""
        warm_txt = f", warmup {ratio}{c.warmup_steps} steps"
    return f"Learning-rate schedules ({lr_txt}, {total:,} steps{warm_txt})"


def plot_schedules(
    curves: Sequence[ScheduleCurve],
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    mark_warmup: bool = True,
) -> Path:
    """Draw one or more LR curves on one plot and write it atomically (PNG, SVG or PDF by suffix).

    The end of each curve's warmup is marked with a dotted line and a dot.

    Example:
        >>> from hpscout.plan import compute_schedule, plot_schedules
        >>> curves = [compute_schedule(n, 5e-5, 1000, warmup_ratio=0.05) for n in ("linear", "cosine")]  # doctest: +SKIP
        >>> plot_schedules(curves, "schedules.png")  # doctest: +SKIP
    """
    if not curves:
        raise ConfigError("plot_schedules needs at least one curve")
    target = Path(path)
    fmt = target.suffix.lower().lstrip(".")
    if fmt not in PLOT_FORMATS:
        raise ConfigError(f"plot file must end in {', '.join('.' + f for f in PLOT_FORMATS)}, but got {str(target)!r}")
    figure_mod = try_import("matplotlib.figure", "plotting learning-rate schedules")
    agg = try_import("matplotlib.backends.backend_agg", "plotting learning-rate schedules")
    ticker = try_import("matplotlib.ticker", "plotting learning-rate schedules")

    # one warmup for all curves: say it once in the title and keep legend labels short
    same_warmup = len({(c.warmup_steps, c.warmup_ratio) for c in curves}) == 1
    labels = [c.short_label if same_warmup else c.label for c in curves]
    if len(set(labels)) < len(labels):
        labels = [c.label for c in curves]
    # a long legend goes below the axes so it never hides the curves
    outside = len(curves) > 4 or max(len(label) for label in labels) > 40
    height = 4.5 + (0.25 * (len(curves) + 1) if outside else 0)

    fig = figure_mod.Figure(figsize=(8, height), dpi=120, layout="constrained")
    agg.FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    colors = [f"C{i % 10}" for i in range(len(curves))]
    # curves that coincide (polynomial with power 1 is linear) stay visible when each has its own dash
    styles = ["-", (0, (6, 3)), (0, (3, 2, 1, 2)), (0, (1.5, 1.5))]
    for i, (curve, color, label) in enumerate(zip(curves, colors, labels, strict=True)):
        style = styles[i % len(styles)]
        ax.plot(curve.steps, curve.lrs, color=color, linestyle=style, linewidth=2.0, label=label)
        if mark_warmup and 0 < curve.warmup_steps <= curve.total_steps:
            w = curve.warmup_steps
            ax.axvline(w, color=color, linestyle=":", linewidth=1.0, alpha=0.7)
            ax.plot([w], [curve.lr_at(w)], marker="o", markersize=4, color=color)

    warmups = {c.warmup_steps for c in curves if c.warmup_steps > 0}
    if mark_warmup and warmups:
        ax.plot([], [], color="0.4", linestyle=":", linewidth=1.0, marker="o", markersize=4, label="end of warmup")

    peak = max(max(c.lrs) for c in curves)
    total = max(c.total_steps for c in curves)
    ax.set_xlim(0, total)
    ax.set_ylim(0, peak * 1.08 if peak > 0 else 1)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("learning rate")
    fmt_y = ticker.ScalarFormatter(useMathText=True)
    fmt_y.set_powerlimits((-2, 3))
    ax.yaxis.set_major_formatter(fmt_y)
    ax.grid(True, alpha=0.3)
    ax.set_title(title if title is not None else _title(curves, total, same_warmup))
    if outside:
        fig.legend(loc="outside lower center", fontsize="small", frameon=False)
    else:
        ax.legend(loc="best", fontsize="small", framealpha=0.9)

    buf = io.BytesIO()
    fig.savefig(buf, format=fmt)
    atomic_write_bytes(target, buf.getvalue())
    return target
