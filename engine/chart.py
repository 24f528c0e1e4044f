"""Charts as Vega-Lite specifications, and pages that render them offline.

Every chart is a Vega-Lite spec (a dict).  ``vl-convert`` (Vega's own
converter, with the Vega, Vega-Lite and vega-embed JavaScript inside) turns a
spec into SVG or PNG without a browser, and gives the JavaScript bundle that
``page`` inlines so a page renders its charts with no network at all.  On a
page each chart is an element with a ``data-chart`` attribute; once the page
has loaded it holds the chart's ``<svg>`` (or, should Vega fail, the error
text and a ``data-chart-error`` attribute).

``vl_convert`` is imported only when something is drawn: the other commands
do not pay for loading it.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

from .errors import EngineError
from .timeline import CAUSES, Point
from .whatif import FLOOD_LOAD, ScenarioResult

WIDTH = 720
PANEL_HEIGHT = 150
# In CAUSES order: node-down, endpoints, hints, service, node-up, node, clients.
CAUSE_COLOURS = ("#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#2ca02c", "#17becf", "#e377c2")
LINE_COLOUR = "#4c78a8"
FORMATS = (".svg", ".png", ".html")
CONFIG = {
    "font": "Helvetica, Arial, sans-serif",
    "title": {"fontSize": 15, "anchor": "start", "offset": 10},
    "axis": {"labelFontSize": 12, "titleFontSize": 12},
    "legend": {"labelFontSize": 12, "titleFontSize": 12},
    "view": {"stroke": "#ccc"},
}


def _zone(name: str) -> str:
    return name or "(no zone)"


# ---------------------------------------------------------------------------
# Specs


def timeline_spec(
    points: Sequence[Point], title: Optional[str] = None, span: Optional[tuple[float, float]] = None
) -> dict:
    """Cross-zone share and worst overload along the log, over wall-clock time.

    Values hold until the next point (steps); a point after which no client
    was served leaves a gap, the value before it held up to it.  Points that
    moved a value are marked, coloured by their first cause, with every
    cause in the tooltip.  ``span`` (first and last write time of the log)
    fixes the time axis, and the last value holds to its end.
    """
    values: list[dict] = []
    before: Optional[Point] = None
    for point in points:
        row = point.row
        cross = None if row.cross_zone_share is None else round(100 * row.cross_zone_share, 4)
        moved = before is not None and (
            _differ(row.cross_zone_share, before.row.cross_zone_share)
            or _differ(row.max_overload, before.row.max_overload)
        )
        if before is not None and row.cross_zone_share is None and before.row.cross_zone_share is not None:
            values.append(
                {
                    "time": 1000 * row.time,
                    "cross": round(100 * before.row.cross_zone_share, 4),
                    "overload": before.row.max_overload,
                    "hold": True,
                }
            )
        values.append(
            {
                "time": 1000 * row.time,
                "seq": row.seq,
                "event": row.event,
                "endpoints": row.endpoints,
                "cross": cross,
                "overload": row.max_overload,
                "hold": False,
                "cause": point.causes[0][0] if moved and point.causes else None,
                "causes": ", ".join(f"{count} {cause}" for cause, count in point.causes) or "-",
            }
        )
        before = point
    if span is not None and before is not None and before.row.time < span[1]:
        values.append(
            {"time": 1000 * span[1], "cross": values[-1]["cross"], "overload": before.row.max_overload, "hold": True}
        )
    times = [p.row.time for p in points]
    first, last = span or (min(times, default=0.0), max(times, default=0.0))
    # Label what changes across the log: the date only when it spans days.
    label_format = "%Y-%m-%d %H:%M" if last - first > 86400 else "%H:%M" if last - first > 600 else "%H:%M:%S"
    x = {
        "field": "time",
        "type": "temporal",
        "title": "time written to the log (UTC)",
        "scale": {"type": "utc", **({"domain": [1000 * first, 1000 * last]} if span else {})},
        "axis": {"format": label_format, "labelFlush": True},
    }
    tooltip = [
        {
            "field": "time",
            "type": "temporal",
            "title": "time (UTC)",
            "format": "%Y-%m-%d %H:%M:%S",
            "scale": {"type": "utc"},
        },
        {"field": "seq", "title": "seq"},
        {"field": "event", "title": "last event"},
        {"field": "causes", "title": "what touched it"},
        {"field": "cross", "title": "cross-zone %", "format": ".1f"},
        {"field": "overload", "title": "max overload", "format": ".2f"},
        {"field": "endpoints", "title": "endpoints"},
    ]
    colour = {
        "field": "cause",
        "type": "nominal",
        "title": "what moved it",
        "scale": {"domain": list(CAUSES), "range": list(CAUSE_COLOURS)},
    }

    def panel(field: str, axis_title: str, domain: Optional[list], guides: Sequence[float]) -> dict:
        y: dict[str, object] = {"field": field, "type": "quantitative", "title": axis_title}
        if domain is not None:
            y["scale"] = {"domain": domain}
        layers: list[dict] = [
            {"mark": {"type": "line", "interpolate": "step-after", "color": LINE_COLOUR}, "encoding": {"x": x, "y": y}},
            {
                "transform": [{"filter": "!datum.hold"}],
                "mark": {"type": "point", "filled": True, "size": 18, "color": LINE_COLOUR},
                "encoding": {"x": x, "y": y, "tooltip": tooltip},
            },
            {
                "transform": [{"filter": "datum.cause != null"}],
                "mark": {"type": "point", "filled": True, "size": 90, "opacity": 0.9},
                "encoding": {"x": x, "y": y, "color": colour, "tooltip": tooltip},
            },
        ]
        if guides:
            layers.insert(
                0,
                {
                    "data": {"values": [{"guide": g} for g in guides]},
                    "mark": {"type": "rule", "strokeDash": [5, 4], "color": "#888"},
                    "encoding": {"y": {"field": "guide", "type": "quantitative"}},
                },
            )
        return {"width": WIDTH, "height": PANEL_HEIGHT, "layer": layers}

    top = max([p.row.max_overload or 0.0 for p in points] + [1.0])
    return {
        "config": CONFIG,
        "title": title or "cross-zone share and worst overload along the log",
        "data": {"values": values},
        "vconcat": [
            panel("cross", "cross-zone share (%)", [0, 100], ()),
            panel("overload", "max overload (1 = even)", [0, max(1.5, round(top * 1.1, 2))], (1.0, FLOOD_LOAD)),
        ],
        "resolve": {"scale": {"color": "shared"}},
    }


def _differ(a: Optional[float], b: Optional[float]) -> bool:
    if a is None or b is None:
        return (a is None) != (b is None)
    return abs(a - b) > 1e-9


def matrix_spec(result: ScenarioResult, title: str = "where requests go (share of all requests)") -> dict:
    """The zone-to-zone matrix as a heat map: client zones down, endpoint zones across."""
    values: list[dict[str, Any]] = [
        {"from": _zone(source), "to": _zone(target), "share": round(100 * share, 4)}
        for source, row in result.matrix.items()
        for target, share in row.items()
    ]
    zones_to = sorted({v["to"] for v in values})
    encoding_x = {
        "field": "to",
        "type": "nominal",
        "title": "endpoint zone",
        "sort": zones_to,
        "axis": {"orient": "top", "labelAngle": 0},
    }
    encoding_y = {"field": "from", "type": "nominal", "title": "client zone"}
    return {
        "config": CONFIG,
        "title": title,
        "data": {"values": values},
        "width": {"step": 90},
        "height": {"step": 40},
        "layer": [
            {
                "mark": "rect",
                "encoding": {
                    "x": encoding_x,
                    "y": encoding_y,
                    "color": {
                        "field": "share",
                        "type": "quantitative",
                        "title": "% of requests",
                        "scale": {"scheme": "blues", "domainMin": 0},
                    },
                    "tooltip": [
                        {"field": "from", "title": "client zone"},
                        {"field": "to", "title": "endpoint zone"},
                        {"field": "share", "title": "% of requests", "format": ".1f"},
                    ],
                },
            },
            {
                "mark": {"type": "text", "fontSize": 12},
                "encoding": {
                    "x": encoding_x,
                    "y": encoding_y,
                    "text": {"field": "share", "type": "quantitative", "format": ".1f"},
                    "color": {"condition": {"test": "datum.share > 25", "value": "white"}, "value": "black"},
                },
            },
        ],
    }


def bars_spec(
    values: Sequence[Mapping[str, object]],
    category: str,
    amount: str,
    *,
    title: str,
    amount_title: str,
    category_title: str,
    tooltip: Sequence[tuple[str, str]] = (),
    domain: Optional[list] = None,
) -> dict:
    """Horizontal bars, one per category, in the order given, labelled with their amount."""
    x: dict[str, object] = {"field": amount, "type": "quantitative", "title": amount_title}
    if domain is not None:
        x["scale"] = {"domain": domain}
    y = {"field": category, "type": "nominal", "title": category_title, "sort": None}
    return {
        "config": CONFIG,
        "title": title,
        "data": {"values": list(values)},
        "width": 300,
        "height": {"step": 22},
        "layer": [
            {
                "mark": {"type": "bar", "color": LINE_COLOUR},
                "encoding": {"x": x, "y": y, "tooltip": [{"field": f, "title": t} for f, t in tooltip] or None},
            },
            {
                "mark": {"type": "text", "align": "left", "dx": 4},
                "encoding": {"x": x, "y": y, "text": {"field": amount, "type": "quantitative", "format": ".1f"}},
            },
        ],
    }


# ---------------------------------------------------------------------------
# Drawing without a browser


def _converter():
    import vl_convert

    return vl_convert


def svg(spec: dict) -> str:
    try:
        return _converter().vegalite_to_svg(spec)
    except ValueError as exc:  # vl-convert reports a spec Vega-Lite rejects this way
        raise EngineError(f"chart: Vega-Lite could not draw the chart: {exc}") from None


def png(spec: dict, scale: float = 2.0) -> bytes:
    try:
        return _converter().vegalite_to_png(spec, scale=scale)
    except ValueError as exc:
        raise EngineError(f"chart: Vega-Lite could not draw the chart: {exc}") from None


def write_chart(points: Sequence[Point], path: str | os.PathLike, title: Optional[str] = None) -> Path:
    """The timeline chart as SVG, PNG or a self-contained HTML page, by ``path``'s extension."""
    path = Path(path)
    if not points:
        raise EngineError(f"{path}: no timeline rows to chart (no event touched the service)")
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise EngineError(f"{path}: unknown chart format {suffix or '(none)'} (use .svg, .png or .html)")
    spec = timeline_spec(points, title)
    try:
        if suffix == ".svg":
            path.write_text(svg(spec), encoding="utf-8")
        elif suffix == ".png":
            path.write_bytes(png(spec))
        else:
            path.write_text(page(title or "timeline", embed("timeline", spec)), encoding="utf-8")
    except OSError as exc:
        raise EngineError(f"{path}: cannot write: {exc.strerror}") from None
    return path


# ---------------------------------------------------------------------------
# Pages

# Renders every [data-chart] element from the JSON spec beside it.
_LOADER = """
for (const el of document.querySelectorAll('[data-chart]')) {
  const spec = JSON.parse(document.getElementById('spec-' + el.dataset.chart).textContent);
  vegaEmbed(el, spec, {renderer: 'svg', actions: false}).catch((error) => {
    el.dataset.chartError = String(error);
    el.textContent = 'chart failed: ' + error;
  });
}
"""

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
       margin: 0 auto; max-width: 1300px; padding: 16px 28px 48px; }
h1 { font-size: 24px; margin: 8px 0 4px; } h2 { font-size: 19px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; }
h3 { font-size: 16px; margin: 18px 0 6px; }
table { border-collapse: collapse; margin: 6px 0 12px; }
th, td { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
th { background: #f6f6f6; font-weight: 600; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: #666; } .chart { margin: 6px 0 14px; }
"""


def embed(name: str, spec: dict) -> str:
    """A chart's element and its spec, for ``page``; ``name`` must be unique on the page."""
    data = json.dumps(spec, separators=(",", ":")).replace("</", "<\\/")  # no "</script>" inside the script
    name = html.escape(name, quote=True)
    return (
        f'<div class="chart" data-chart="{name}"></div>\n'
        f'<script type="application/json" id="spec-{name}">{data}</script>\n'
    )


def bundle() -> str:
    """The Vega, Vega-Lite and vega-embed JavaScript, as one script (a few seconds the first time)."""
    script = _converter().javascript_bundle()
    if "</script" in script.lower():
        raise EngineError("chart: the Vega bundle holds '</script' and cannot be inlined in a page")
    return script


def page(title: str, body: str, style: str = "") -> str:
    """A self-contained HTML page: ``body``, the styles, the Vega bundle and the loader inline."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{html.escape(title)}</title>\n'
        f"<style>{STYLE}{style}</style>\n</head>\n<body>\n{body}\n"
        f"<script>{bundle()}</script>\n<script>{_LOADER}</script>\n</body>\n</html>\n"
    )
