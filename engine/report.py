"""``topology-engine report``: one self-contained HTML page about a recorded cluster.

The page has the cluster at a glance (zones, nodes, CPU, the rules the
services' clients get, the modelled cross-zone share of the whole cluster as
recorded, with Auto hints everywhere and with none, and the services ranked
by what they add to it) and a section per reported service (the scenarios of
``whatif`` side by side, the zone-to-zone matrix, the cross-zone share and
worst overload along the log, hints health and the rule each client zone
gets).

What is computed where:

- Every service is evaluated at its first declared port with the what-if
  traffic model (``whatif.evaluate``), once as recorded and once on each of
  two copies of the cluster: every service's hints removed, every service's
  hints written by the Auto allocator.
- The whole cluster's cross-zone share weighs each service by its endpoints
  (a service's traffic taken to grow with its size); a service's
  *contribution* is its part of that share, and the ranking follows it.
- A reported service's section is ``whatif.whatif`` (so its numbers are
  exactly what ``whatif --json`` gives), ``hintcheck.check_hints`` and its
  timeline; the timelines of all reported services come from one pass over
  the log, one point per log batch (``engine.timeline``).
"""

from __future__ import annotations

import contextlib
import gc
import html
import multiprocessing
import os
import sys
import threading
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Optional

import attrs

from . import chart
from . import hints as hint_writer
from .api import Engine
from .errors import EngineError
from .hintcheck import STATUSES, HintReport, check_hints
from .policies import POLICIES, rule_text
from .render import Progress
from .timeline import CAUSES, Point, Target, timelines
from .whatif import (
    Clients,
    Scenario,
    ScenarioResult,
    SiteGroups,
    WhatIfReport,
    client_sites,
    evaluate,
    scenario_slices,
    whatif,
    with_slices,
    zone_rules,
)

DEFAULT_TOP = 20
CLUSTER_SCENARIOS = ("recorded", "auto", "none")
_SCENARIO_TITLES = {
    "recorded": "as recorded",
    "auto": "with Auto hints on every service",
    "none": "with no hints at all",
}


@attrs.frozen(slots=True)
class ZoneSummary:
    zone: str
    nodes: int
    ready_workers: int
    cpu_millis: int  # allocatable CPU of the Ready worker nodes
    cpu_share: float
    endpoints: int  # slice entries whose zone (or node's zone) is this one


@attrs.frozen(slots=True)
class ServiceRank:
    service: str
    port: int
    endpoints: int  # candidate endpoints at that port
    cross_zone_share: float
    contribution: float  # its part of the whole cluster's cross-zone share
    rules: dict[str, float]  # rule -> share of the service's requests


@attrs.frozen(slots=True)
class ClusterSummary:
    nodes: int
    services: int
    endpoints: int
    zones: tuple[ZoneSummary, ...]
    rule_shares: dict[str, float]  # rule -> share of services (each split by its clients' requests)
    cross_zone: dict[str, float]  # CLUSTER_SCENARIOS -> whole-cluster cross-zone share
    ranking: tuple[ServiceRank, ...]  # most contributing first
    unranked: int  # services without a Service object or a declared port


@attrs.frozen(slots=True)
class ServiceSection:
    service: str
    port: int
    whatif: WhatIfReport
    hints: HintReport
    rules: dict[str, dict[str, float]]  # client zone -> rule -> share of all requests, as recorded
    points: tuple[Point, ...]

    @property
    def recorded(self) -> ScenarioResult:
        return self.whatif.scenarios[0]


@attrs.frozen(slots=True)
class Report:
    log: str
    seq: int
    written: float  # when the last event folded was written
    policy: str
    clients_basis: str
    summary: ClusterSummary
    sections: tuple[ServiceSection, ...]
    seconds: float  # how long building it took
    started: float  # when the log's first event was written


# ---------------------------------------------------------------------------
# Building


def build_report(
    log_path: str | os.PathLike,
    *,
    services: Sequence[Target] = (),
    top: int = DEFAULT_TOP,
    at: Optional[int] = None,
    policy: str = "linkerd",
    clients: Clients = None,
    progress: Optional[IO[str]] = None,
) -> Report:
    """Everything the page shows, for ``services`` (else the ``top`` most
    contributing), as of event ``at`` (None: the end of the log).

    The timelines' pass over the log runs in a second process (when the
    machine has a second core) while this one evaluates the cluster.  That
    process is spawned, so a script calling this needs the usual
    ``if __name__ == "__main__":`` guard around what it runs.
    ``progress`` is where stage progress goes when it is a terminal
    (default: standard error).
    """
    started = time.perf_counter()
    if policy not in POLICIES:
        raise EngineError(f"unknown policy {policy!r} (known: {', '.join(POLICIES)})")
    if top < 1:
        raise EngineError(f"report: --top must be at least 1, not {top}")
    stream = progress or sys.stderr
    with _stage("report: reading the log", stream) as show:
        engine = Engine.open(log_path, at=at, progress=show)
    with engine, _collector_paused():
        basis, sites = client_sites(engine, clients)
        if not sites:
            raise EngineError(f"report: no clients ({basis}: nothing found or all weights zero)")
        for service, port in services:
            engine.endpoints(service, port, policy=policy)  # an unknown service or port fails now
        groups = SiteGroups(engine, sites)
        seq = engine.seq
        results = _evaluate_all(engine, groups, policy, ("recorded",), stream)
        ranking = _rank(engine, results, groups, policy)
        targets = list(dict.fromkeys(services)) or [(r.service, r.port) for r in ranking[:top]]
        with _TimelinePass(log_path, targets, clients, policy, seq) as pass_:
            results = _evaluate_all(engine, groups, policy, ("auto", "none"), stream, results)
            summary = _summary(engine, results, ranking)
            found: dict[Target, tuple[WhatIfReport, HintReport, dict]] = {}
            with _stage("report: scenarios of the reported services", stream) as show:
                for number, (service, port) in enumerate(targets, start=1):
                    found[(service, port)] = (
                        whatif(
                            engine,
                            service,
                            port,
                            clients=clients,
                            policy=policy,
                            scenarios=_scenarios_for(engine, service),
                        ),
                        check_hints(engine, service),
                        zone_rules(engine, service, port, groups, policy),
                    )
                    show(number, len(targets))
            gc.collect()
            written, started_at = _written(engine, seq), _written(engine, engine.log.first_seq)
            with _stage("report: timelines", stream) as show:
                points = pass_.result(show)
    sections = tuple(
        ServiceSection(service, port, *found[(service, port)], tuple(points[(service, port)]))
        for service, port in targets
    )
    return Report(
        str(log_path), seq, written, policy, basis, summary, sections, time.perf_counter() - started, started_at
    )


def _written(engine: Engine, seq: int) -> float:
    """When event ``seq`` was written (0.0 for none)."""
    return next((written for _, written, _ in engine.log.read(seq, seq)), 0.0) if seq else 0.0


@contextlib.contextmanager
def _stage(label: str, stream: IO[str]) -> Iterator[Progress]:
    show = Progress(label, stream)
    try:
        yield show
    finally:
        show.finish()


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Keep the cyclic collector off while the cluster is analysed.

    The folded cluster holds millions of objects that never form garbage
    cycles, and the scenario copies as many again: left on, the collector
    walks them over and over (evaluating every service of a big cluster
    takes twice as long).  The cluster is frozen out of collections, and
    the copies are collected when a stage has dropped them.
    """
    gc.freeze()
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        gc.unfreeze()


class _TimelinePass:
    """``timelines`` for the reported services, in a second process when there is a core for it.

    Progress comes back through a shared counter (the last seq folded), the
    points through a pipe once the pass is done.
    """

    def __init__(self, log_path, targets: Sequence[Target], clients: Clients, policy: str, until: int):
        self._args = (str(log_path), list(targets), clients, policy, until)
        self._until = until
        self._process = None

    def __enter__(self) -> _TimelinePass:
        if (os.cpu_count() or 1) > 1:
            context = multiprocessing.get_context("spawn")  # no fork of a process holding a big heap and threads
            self._done = context.Value("q", 0, lock=False)
            self._pipe, child_end = context.Pipe(duplex=False)
            self._process = context.Process(
                target=_timeline_job, args=(self._args, self._done, child_end), name="report-timelines", daemon=True
            )
            self._process.start()
            child_end.close()
        return self

    def result(self, show: Callable[[int, int], None]) -> dict[Target, list[Point]]:
        if self._process is None:
            return _timelines_of(self._args, show)
        while not self._pipe.poll(0.1):
            show(self._done.value, self._until)
        try:
            outcome, value = self._pipe.recv()
        except EOFError:  # it died without a word
            self._process.join()
            raise EngineError(f"report: the timeline pass stopped (exit code {self._process.exitcode})") from None
        if outcome == "error":
            raise value
        return value

    def __exit__(self, *exc) -> None:
        if self._process is not None:
            if self._process.is_alive():
                self._process.terminate()
            self._process.join()
            self._pipe.close()


def _timelines_of(args: tuple, show: Callable[[int, int], None]) -> dict[Target, list[Point]]:
    log_path, targets, clients, policy, until = args
    return timelines(log_path, targets, clients=clients, policy=policy, until=until, per_batch=True, progress=show)


def _timeline_job(args: tuple, done, pipe) -> None:
    """The second process: the timeline pass, its outcome sent back whole."""

    def show(seq: int, total: int) -> None:
        done.value = seq

    warnings.simplefilter("ignore")  # the first process opened the same log and said what there was to say
    try:
        outcome = ("ok", _timelines_of(args, show))
    except EngineError as exc:
        outcome = ("error", exc)
    pipe.send(outcome)
    pipe.close()


def _scenarios_for(engine: Engine, service: str) -> list[str]:
    """recorded, none, auto, and a drain of each zone the service has endpoints in."""
    state = engine.state
    zones = sorted(
        {e.zone or state.node_zone(e.node_name) or "" for s in state.slices_of(service) for e in s.endpoints}
        & state.zones()
    )
    return ["recorded", "none", "auto", *(f"drain:{zone}" for zone in zones)]


def _ranked_keys(engine: Engine) -> list[str]:
    return sorted(key for key, svc in engine.state.services.items() if svc.ports)


def _evaluate_all(
    engine: Engine,
    groups: SiteGroups,
    policy: str,
    scenarios: Sequence[str],
    stream: IO[str],
    results: Optional[dict[str, dict[str, ScenarioResult]]] = None,
) -> dict[str, dict[str, ScenarioResult]]:
    """Every service with a declared port, at its first port, under each scenario."""
    state = engine.state
    ranked = _ranked_keys(engine)
    results = results if results is not None else defaultdict(dict)
    ratios = hint_writer.zone_ratios(state.nodes.values())
    for scenario in scenarios:
        with _stage(f"report: every service {_SCENARIO_TITLES[scenario]}", stream) as show:
            target = engine
            if scenario != "recorded":
                replaced = {key: scenario_slices(engine, key, Scenario(scenario), policy, ratios)[0] for key in ranked}
                target = with_slices(engine, replaced)
            for number, key in enumerate(ranked, start=1):
                results[key][scenario] = evaluate(target, key, state.services[key].ports[0].port, groups, policy)
                if number % 100 == 0 or number == len(ranked):
                    show(number, len(ranked))
            del target
            gc.collect()  # the copy, now garbage (see _collector_paused)
    return results


def _weights(results: dict[str, dict[str, ScenarioResult]]) -> dict[str, int]:
    return {key: len(found["recorded"].endpoints) for key, found in results.items()}


def _rank(
    engine: Engine, results: dict[str, dict[str, ScenarioResult]], groups: SiteGroups, policy: str
) -> tuple[ServiceRank, ...]:
    weights = _weights(results)
    total = sum(weights.values())
    ranking = []
    for key in _ranked_keys(engine):
        recorded, port = results[key]["recorded"], engine.state.services[key].ports[0].port
        ranking.append(
            ServiceRank(
                key,
                port,
                weights[key],
                recorded.cross_zone_share,
                weights[key] * recorded.cross_zone_share / total if total else 0.0,
                _service_rules(zone_rules(engine, key, port, groups, policy)),
            )
        )
    ranking.sort(key=lambda r: (-r.contribution, -r.endpoints, r.service))
    return tuple(ranking)


def _summary(
    engine: Engine, results: dict[str, dict[str, ScenarioResult]], ranking: tuple[ServiceRank, ...]
) -> ClusterSummary:
    state = engine.state
    weights = _weights(results)
    total = sum(weights.values())
    cross_zone = {
        scenario: sum(weights[key] * found[scenario].cross_zone_share for key, found in results.items()) / total
        if total
        else 0.0
        for scenario in CLUSTER_SCENARIOS
    }
    rule_shares: dict[str, float] = defaultdict(float)
    for rank in ranking:
        for rule, share in rank.rules.items():
            rule_shares[rule] += share / len(ranking)
    return ClusterSummary(
        nodes=len(state.nodes),
        services=len(state.service_keys()),
        endpoints=state.endpoint_count(),
        zones=_zones(engine),
        rule_shares=dict(sorted(rule_shares.items(), key=lambda kv: -kv[1])),
        cross_zone=cross_zone,
        ranking=ranking,
        unranked=len(state.service_keys()) - len(ranking),
    )


def _service_rules(by_zone: dict[str, dict[str, float]]) -> dict[str, float]:
    """Rule -> share of the service's requests (its clients' shares add up to 1)."""
    found: dict[str, float] = defaultdict(float)
    for by_rule in by_zone.values():
        for rule, share in by_rule.items():
            found[rule] += share
    total = sum(found.values())
    return {rule: share / total for rule, share in sorted(found.items())} if total else {}


def _zones(engine: Engine) -> tuple[ZoneSummary, ...]:
    state = engine.state
    nodes: dict[str, list] = defaultdict(list)
    for node in state.nodes.values():
        nodes[node.zone or ""].append(node)
    endpoints: dict[str, int] = defaultdict(int)
    for s in state.slices.values():
        for e in s.endpoints:
            endpoints[e.zone or state.node_zone(e.node_name) or ""] += 1
    workers = {zone: [n for n in found if n.ready and not n.control_plane] for zone, found in nodes.items()}
    total_cpu = sum(n.cpu_millis for found in workers.values() for n in found)
    return tuple(
        ZoneSummary(
            zone,
            len(nodes.get(zone, ())),
            len(workers.get(zone, ())),
            sum(n.cpu_millis for n in workers.get(zone, ())),
            sum(n.cpu_millis for n in workers.get(zone, ())) / total_cpu if total_cpu else 0.0,
            endpoints.get(zone, 0),
        )
        for zone in sorted(set(nodes) | set(endpoints))
    )


# ---------------------------------------------------------------------------
# The page


def write_report(report: Report, path: str | os.PathLike) -> Path:
    path = Path(path)
    try:
        path.write_text(render_html(report), encoding="utf-8")
    except OSError as exc:
        raise EngineError(f"{path}: cannot write the report: {exc.strerror}") from None
    return path


def build_and_write(log_path: str | os.PathLike, path: str | os.PathLike, **options) -> tuple[Report, Path]:
    """``build_report`` then ``write_report``, preparing the page's JavaScript meanwhile.

    The Vega bundle takes a few seconds to assemble and its converter lets
    other threads run, so it is made while the log is read.
    """
    where = Path(path)
    if where.is_dir() or not where.parent.is_dir():  # say so now, not after the work
        reason = "is a directory" if where.is_dir() else f"no directory {where.parent}"
        raise EngineError(f"{where}: cannot write the report: {reason}")
    bundle = threading.Thread(target=chart.bundle, name="vega-bundle", daemon=True)
    bundle.start()
    report = build_report(log_path, **options)
    bundle.join()
    return report, write_report(report, path)


def _pct(share: Optional[float]) -> str:
    return "-" if share is None else f"{100 * share:.1f}%"


def _e(text: object) -> str:
    return html.escape(str(text))


def _table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    numeric: Sequence[int] = (),
    row_attrs: Optional[Sequence[str]] = None,
) -> str:
    """An HTML table; cells are HTML already, ``numeric`` columns are right-aligned."""
    head = "".join(
        f'<th class="num">{_e(h)}</th>' if i in numeric else f"<th>{_e(h)}</th>" for i, h in enumerate(headers)
    )
    body = []
    for index, row in enumerate(rows):
        cells = "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row))
        body.append(f"<tr{row_attrs[index] if row_attrs else ''}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>\n"


_STYLE = """
.tiles { display: flex; gap: 14px; flex-wrap: wrap; margin: 8px 0 14px; }
.tile { border: 1px solid #ddd; border-radius: 6px; padding: 8px 14px; min-width: 150px; }
.tile .big { font-size: 24px; font-weight: 600; } .tile .label { color: #555; font-size: 12px; }
.row { display: flex; gap: 28px; flex-wrap: wrap; align-items: flex-start; }
nav a { margin-right: 10px; } code { background: #f4f4f4; padding: 0 3px; border-radius: 3px; }
"""


def render_html(report: Report) -> str:
    title = f"topology-engine report: {report.log}"
    when = datetime.fromtimestamp(report.written, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    parts = [
        f"<h1>{_e(title)}</h1>",
        f'<p class="muted">As of event {report.seq:,} (written {when}); policy <code>{_e(report.policy)}</code>; '
        f"clients: {_e(report.clients_basis)}. Every share below is a share of requests in the what-if "
        f"traffic model: each client spreads its requests evenly over what the policy selects for it.</p>",
        _cluster_html(report),
        f'<h2 id="services">Services ({len(report.sections)})</h2>',
        "<nav>"
        + " ".join(f'<a href="#s{i}">{_e(s.service)}:{s.port}</a>' for i, s in enumerate(report.sections))
        + "</nav>",
        _causes_html(),
    ]
    span = (report.started, report.written)
    parts.extend(_service_html(index, section, span) for index, section in enumerate(report.sections))
    parts.append(f'<p class="muted">Written by topology-engine in {report.seconds:.1f} s.</p>')
    return chart.page(title, "\n".join(parts), _STYLE)


def _cluster_html(report: Report) -> str:
    summary = report.summary
    tiles = "".join(
        f'<div class="tile"><div class="big" data-cluster-cross-zone="{name}">{_pct(share)}</div>'
        f'<div class="label">cross-zone {_e(_SCENARIO_TITLES[name])}</div></div>'
        for name, share in summary.cross_zone.items()
    )
    counts = (
        f'<div class="tile"><div class="big">{summary.services:,}</div><div class="label">services</div></div>'
        f'<div class="tile"><div class="big">{summary.endpoints:,}</div><div class="label">endpoints</div></div>'
        f'<div class="tile"><div class="big">{summary.nodes:,}</div><div class="label">nodes</div></div>'
    )
    zones = _table(
        ("zone", "nodes", "Ready workers", "allocatable CPU (cores)", "CPU share", "endpoints"),
        [
            (
                _e(z.zone or "(no zone)"),
                f"{z.nodes:,}",
                f"{z.ready_workers:,}",
                f"{z.cpu_millis / 1000:,.1f}",
                _pct(z.cpu_share),
                f"{z.endpoints:,}",
            )
            for z in summary.zones
        ],
        numeric=(1, 2, 3, 4, 5),
    )
    rules = _table(
        ("rule", "share of services", "meaning"),
        [
            (f"<code>{_e(rule)}</code>", _pct(share), _e(rule_text(report.policy, rule)))
            for rule, share in summary.rule_shares.items()
        ],
        numeric=(1,),
    )
    rules_chart = chart.embed(
        "rules",
        chart.bars_spec(
            [{"rule": rule, "share": round(100 * share, 4)} for rule, share in summary.rule_shares.items()],
            "rule",
            "share",
            title="the rule the clients get (% of services)",
            amount_title="% of services",
            category_title="rule",
            domain=[0, 100],
        ),
    )
    shown = summary.ranking[: max(len(report.sections), DEFAULT_TOP)]
    ranking = _table(
        ("#", "service", "endpoints", "cross-zone", "contribution", "rules"),
        [
            (
                str(n),
                _service_link(report, r),
                f"{r.endpoints:,}",
                f'<span data-field="cross-zone">{_pct(r.cross_zone_share)}</span>',
                f"{100 * r.contribution:.2f} pp",
                ", ".join(
                    f"{_e(rule)} {_pct(share)}" for rule, share in sorted(r.rules.items(), key=lambda kv: -kv[1])
                ),
            )
            for n, r in enumerate(shown, start=1)
        ],
        numeric=(0, 2, 3, 4),
        row_attrs=[f' data-service="{_e(r.service)}:{r.port}"' for r in shown],
    )
    ranking_chart = chart.embed(
        "ranking",
        chart.bars_spec(
            [
                {
                    "service": f"{r.service}:{r.port}",
                    "contribution": round(100 * r.contribution, 4),
                    "cross": _pct(r.cross_zone_share),
                    "endpoints": r.endpoints,
                }
                for r in shown
            ],
            "service",
            "contribution",
            title="what each service adds to the cluster's cross-zone share",
            amount_title="percentage points",
            category_title="service",
            tooltip=(("service", "service"), ("cross", "cross-zone"), ("endpoints", "endpoints")),
        ),
    )
    scenarios_chart = chart.embed(
        "cluster-cross-zone",
        chart.bars_spec(
            [
                {"scenario": _SCENARIO_TITLES[name], "share": round(100 * share, 4)}
                for name, share in summary.cross_zone.items()
            ],
            "scenario",
            "share",
            title="the whole cluster's cross-zone share",
            amount_title="% of requests",
            category_title="",
            domain=[0, 100],
        ),
    )
    unranked = f" ({summary.unranked} without a Service or a declared port are left out)" if summary.unranked else ""
    return (
        '<h2 id="cluster">The cluster at a glance</h2>\n'
        f'<div class="tiles">{counts}{tiles}</div>\n'
        f'<div class="row"><div>{zones}</div>{scenarios_chart}</div>\n'
        "<p>The whole cluster's cross-zone share counts each service's requests in proportion to its "
        "endpoints, at its first declared port. With Auto hints, every service's hints are rewritten as "
        "the EndpointSlice controller's Auto allocator writes them (none where it refuses); with no hints, "
        "every hint is removed.</p>\n"
        f'<h3>Rules</h3><div class="row"><div>{rules}</div>{rules_chart}</div>\n'
        '<p class="muted">Each service counts once, split between the rules its clients get by their '
        "share of its requests.</p>\n"
        f"<h3>Services by cross-zone traffic</h3>\n<p>Ranked by their contribution: the cross-zone share "
        f"weighted by endpoints, in percentage points of the cluster's share{unranked}.</p>\n"
        f'<div class="row"><div>{ranking}</div>{ranking_chart}</div>\n'
    )


def _service_link(report: Report, rank: ServiceRank) -> str:
    for index, section in enumerate(report.sections):
        if (section.service, section.port) == (rank.service, rank.port):
            return f'<a href="#s{index}">{_e(rank.service)}:{rank.port}</a>'
    return f"{_e(rank.service)}:{rank.port}"


def _causes_html() -> str:
    items = "".join(f"<li><code>{_e(name)}</code>: {_e(text)}</li>" for name, text in CAUSES.items())
    return (
        "<p>Each timeline has one point per log batch that touched the service; a point that moved "
        "the cross-zone share or the worst overload is marked by what touched it:</p>"
        f"<ul>{items}</ul>\n"
    )


def _service_html(index: int, section: ServiceSection, span: tuple[float, float]) -> str:
    name = f"{section.service}:{section.port}"
    report = section.whatif
    recorded = section.recorded
    scenarios = report.scenarios
    table = _table(
        ("", *(s.name for s in scenarios)),
        [
            (
                "cross-zone",
                *(f'<span data-scenario="{_e(s.name)}">{_pct(s.cross_zone_share)}</span>' for s in scenarios),
            ),
            ("max overload", *(f"{s.max_overload:.2f}" for s in scenarios)),
            ("unserved", *(_pct(s.unserved_share) for s in scenarios)),
            ("flooded zones", *(_e(", ".join(s.flooded) or "-") for s in scenarios)),
            ("starved zones", *(_e(", ".join(s.starved) or "-") for s in scenarios)),
        ],
        numeric=tuple(range(1, len(scenarios) + 1)),
    )
    notes = "".join(f"<li><code>{_e(s.name)}</code>: {_e(s.note)}</li>" for s in scenarios if s.note)
    if notes:
        table += f'<ul class="muted">{notes}</ul>'
    health = section.hints
    counts = health.counts()
    reason = "" if health.written else f" (writes none: {_e(hint_writer.REASONS.get(health.reason, health.reason))})"
    hints_html = _table(
        ("status", "endpoints", "meaning"),
        [
            (f"<code>{status}</code>", f'<span data-hints="{status}">{counts[status]}</span>', _e(STATUSES[status]))
            for status in STATUSES
        ],
        numeric=(1,),
    )
    rules = _table(
        ("client zone", "share of requests", "rule", "meaning"),
        [
            (
                _e(zone or "(no zone)"),
                _pct(sum(found.values())),
                ", ".join(f"<code>{_e(r)}</code>" for r in found),
                _e("; ".join(rule_text(recorded.policy, r) for r in found)),
            )
            for zone, found in section.rules.items()
        ],
        numeric=(1,),
    )
    timeline = chart.embed(f"timeline-{index}", chart.timeline_spec(section.points, f"{name} along the log", span))
    matrix = chart.embed(f"matrix-{index}", chart.matrix_spec(recorded, "where its requests go, as recorded (%)"))
    return (
        f'<section id="s{index}" data-section="{_e(name)}">\n<h2>{_e(name)}</h2>\n'
        f'<div class="tiles"><div class="tile"><div class="big" data-cross-zone="{_e(name)}">'
        f'{_pct(recorded.cross_zone_share)}</div><div class="label">cross-zone, as recorded</div></div>'
        f'<div class="tile"><div class="big">{recorded.max_overload:.2f}</div>'
        f'<div class="label">worst overload (1 = even)</div></div>'
        f'<div class="tile"><div class="big">{len(recorded.endpoints):,}</div><div class="label">endpoints</div></div>'
        f'</div>\n<h3>Scenarios</h3><p class="muted">As <code>whatif</code> computes them: <code>none</code> '
        f"removes every hint, <code>auto</code> writes them as the Auto allocator does, <code>drain:ZONE</code> "
        f"removes the service's endpoints in ZONE and recomputes hints in the Service's own mode.</p>{table}\n"
        f'<div class="row">{matrix}<div><h3>The rule each client zone gets</h3>{rules}</div></div>\n'
        f"{timeline}\n"
        f"<h3>Hints health</h3><p>The controller's hint mode is <code>{_e(health.mode)}</code>{reason}; "
        f"the recorded hints against what it would leave, as <code>hints</code> reports:</p>{hints_html}\n"
        "</section>\n"
    )
