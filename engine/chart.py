"""A chart of a what-if timeline: cross-zone share and worst overload by event.

SVG is written with the standard library.  PNG needs matplotlib, the
``chart`` extra, imported only when a PNG is asked for.  Both draw two panels
over the log sequence number, as steps (a value holds until the next event);
an event after which no client was served leaves a gap.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Optional, Sequence
from xml.sax.saxutils import escape

from .errors import EngineError
from .whatif import FLOOD_LOAD, TimelineRow

WIDTH, HEIGHT = 900, 560
LEFT, RIGHT, TOP, GAP, BOTTOM = 80, 30, 50, 60, 50
PANEL_HEIGHT = (HEIGHT - TOP - GAP - BOTTOM) // 2
COLOURS = ("#1f77b4", "#d62728")


def write_chart(rows: Sequence[TimelineRow], path: str | os.PathLike, title: Optional[str] = None) -> Path:
    """Write the chart as SVG or PNG, by ``path``'s extension; returns the path."""
    path = Path(path)
    if not rows:
        raise EngineError(f"{path}: no timeline rows to chart (no event touched the service)")
    suffix = path.suffix.lower()
    if suffix == ".svg":
        path.write_text(svg_chart(rows, title), encoding="utf-8")
    elif suffix == ".png":
        _write_png(rows, path, title)
    else:
        raise EngineError(f"{path}: unknown chart format {suffix or '(none)'} (use .svg or .png)")
    return path


def _overload_top(rows: Sequence[TimelineRow]) -> float:
    highest = max((r.max_overload for r in rows if r.max_overload is not None), default=1.0)
    return max(1.5, highest * 1.1)


# ---------------------------------------------------------------------------
# SVG


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high], about ``count`` of them."""
    if high <= low:
        high = low + 1
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def svg_chart(rows: Sequence[TimelineRow], title: Optional[str] = None) -> str:
    seqs = [r.seq for r in rows]
    x_low, x_high = min(seqs), max(seqs)
    if x_high == x_low:
        x_low, x_high = x_low - 1, x_high + 1
    plot_width = WIDTH - LEFT - RIGHT

    def x_of(seq: float) -> float:
        return LEFT + (seq - x_low) / (x_high - x_low) * plot_width

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="24" text-anchor="middle" font-size="15">'
        f'{escape(title or "cross-zone share and worst overload by event")}</text>',
    ]
    panels = (
        ("cross-zone share (%)", [None if r.cross_zone_share is None else 100 * r.cross_zone_share for r in rows],
         100.0, (), "{:.0f}"),
        ("max overload (1 = even)", [r.max_overload for r in rows], _overload_top(rows),
         (1.0, FLOOD_LOAD), "{:g}"),
    )
    for number, (label, values, y_high, guides, fmt) in enumerate(panels):
        top = TOP + number * (PANEL_HEIGHT + GAP)
        bottom = top + PANEL_HEIGHT

        def y_of(value: float, top=top, y_high=y_high) -> float:
            return top + PANEL_HEIGHT * (1 - value / y_high)

        parts.append(f'<rect x="{LEFT}" y="{top}" width="{plot_width}" height="{PANEL_HEIGHT}" '
                     f'fill="none" stroke="#444"/>')
        for tick in nice_ticks(0, y_high):
            if tick > y_high:
                continue
            y = y_of(tick)
            parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_width}" y2="{y:.1f}" stroke="#e5e5e5"/>')
            parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{fmt.format(tick)}</text>')
        for guide in guides:
            y = y_of(guide)
            parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_width}" y2="{y:.1f}" '
                         f'stroke="#888" stroke-dasharray="5,4"/>')
        parts.append(f'<text x="18" y="{(top + bottom) / 2:.1f}" text-anchor="middle" '
                     f'transform="rotate(-90 18 {(top + bottom) / 2:.1f})">{escape(label)}</text>')
        for d in _step_paths(seqs, values, x_of, y_of):
            parts.append(f'<path d="{d}" fill="none" stroke="{COLOURS[number]}" stroke-width="2"/>')
        for seq, value in zip(seqs, values):
            if value is not None:
                parts.append(f'<circle cx="{x_of(seq):.1f}" cy="{y_of(value):.1f}" r="2.5" '
                             f'fill="{COLOURS[number]}"/>')
        for tick in nice_ticks(x_low, x_high, 8):
            if tick != int(tick) or not x_low <= tick <= x_high:
                continue
            x = x_of(tick)
            parts.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" stroke="#444"/>')
            parts.append(f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle">{int(tick)}</text>')
    parts.append(f'<text x="{LEFT + plot_width / 2}" y="{HEIGHT - 12}" text-anchor="middle">log sequence number</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _step_paths(seqs, values, x_of, y_of) -> list[str]:
    """SVG path data for steps through (seq, value), broken where a value is missing."""
    paths: list[str] = []
    current: list[str] = []
    for index, (seq, value) in enumerate(zip(seqs, values)):
        if value is None:
            if current:
                paths.append(" ".join(current))
            current = []
            continue
        x, y = x_of(seq), y_of(value)
        # From the previous point: along at its value, then up or down to this one.
        current.append(f"H{x:.1f} V{y:.1f}" if current else f"M{x:.1f} {y:.1f}")
        if index + 1 < len(seqs) and values[index + 1] is None:
            current.append(f"H{x_of(seqs[index + 1]):.1f}")  # held until the event that emptied it
    if current:
        paths.append(" ".join(current))
    return paths


# ---------------------------------------------------------------------------
# PNG


def _write_png(rows: Sequence[TimelineRow], path: Path, title: Optional[str]) -> None:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise EngineError(f"{path}: PNG charts need matplotlib: pip install 'topology-engine[chart]' "
                          f"(or write an .svg, which needs nothing)") from None
    seqs = [r.seq for r in rows]
    cross = [math.nan if r.cross_zone_share is None else 100 * r.cross_zone_share for r in rows]
    overload = [math.nan if r.max_overload is None else r.max_overload for r in rows]
    figure = Figure(figsize=(9, 5.6), dpi=100)
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True)
    top.plot(seqs, cross, drawstyle="steps-post", marker="o", markersize=3, color=COLOURS[0])
    top.set_ylim(0, 100)
    top.set_ylabel("cross-zone share (%)")
    bottom.plot(seqs, overload, drawstyle="steps-post", marker="o", markersize=3, color=COLOURS[1])
    for guide in (1.0, FLOOD_LOAD):
        bottom.axhline(guide, color="#888", linestyle="--", linewidth=1)
    bottom.set_ylim(0, _overload_top(rows))
    bottom.set_ylabel("max overload (1 = even)")
    bottom.set_xlabel("log sequence number")
    for axes in (top, bottom):
        axes.grid(True, color="#e5e5e5")
    figure.suptitle(title or "cross-zone share and worst overload by event")
    figure.savefig(path, format="png")
