"""The timelines of many services from one pass over a log.

Folding a big log costs far more than evaluating a service, so every service
followed is evaluated during the same fold (``whatif.timeline`` is the case
of one service).  A service gets a point after each event that touches it:
its Service or slices, a node that changed, or the client service.  With
``per_batch`` it gets one point per log batch instead (the events written at
one time), after the batch's last event touching it: a chart over wall-clock
time can only show the state after the batch.  Client sites are found again
only when an event can move them (a node, the client service), and are
shared by every service followed.  What a point holds is the recorded state
or the ``hazl`` model, as ``whatif.follower`` gives it.

Each point also says what touched the service since the point before, as
counts of causes (``CAUSES``), so a chart can mark rollouts, drains and hint
changes.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Optional, Union

import attrs

from . import arguments
from .api import Engine, _cyclic_gc_paused
from .errors import ArgumentError
from .events import (
    Event,
    NodeDeleted,
    NodeUpserted,
    ServiceDeleted,
    ServiceUpserted,
    SliceUpserted,
)
from .whatif import Clients, Scenario, SiteGroups, TimelineRow, client_sites, follower, rate_of, timeline_row

Target = tuple[str, int]  # ("namespace/name", port)

# What can touch a service, most telling first (a chart colours a point by
# the first of its causes in this order).
CAUSES = {
    "node-down": "a node went NotReady or was removed (drains, zone outages)",
    "endpoints": "endpoints added, removed, moved or changing readiness (rollouts, scaling)",
    "hints": "only zone or node hints rewritten",
    "service": "the Service changed (topology mode, trafficDistribution, traffic policy, ports)",
    "node-up": "a node became Ready or was added",
    "node": "a node's zone or CPU changed",
    "clients": "the client service's endpoints changed",
}


@attrs.frozen(slots=True)
class Point:
    row: TimelineRow
    # What touched the service since the point before: (cause, events), in CAUSES order.
    causes: tuple[tuple[str, int], ...]


def timelines(
    log_path: str | os.PathLike,
    targets: Sequence[Target],
    *,
    clients: Clients = None,
    policy: str = "linkerd",
    every: int = 1,
    since: int = 0,
    until: Optional[int] = None,
    per_batch: bool = False,
    scenario: Union[None, str, Scenario] = None,
    rps: Optional[float] = None,
    latency: Optional[float] = None,
    protocol: str = "TCP",
    progress: Optional[Callable[[int, int], None]] = None,
) -> dict[Target, list[Point]]:
    """Cross-zone share and worst overload of every target along the log.

    The log is folded once, from seq ``since`` (0: the start) to ``until``
    (None: the end).  With ``every`` N only every N-th touching event (or
    batch) gives a point; the last always does.  ``cpu`` and ``service:``
    clients follow the cluster as it changes.  ``scenario`` (with ``rps`` and
    ``latency`` for hazl) is what each target's points follow, as in
    ``whatif.timeline``; ``protocol`` is every target's.
    """
    if every < 1:
        raise ArgumentError(f"must be at least 1, not {every}", argument="every")
    arguments.policy(policy)
    protocol = arguments.protocol(protocol)
    rate = rate_of(rps, latency)
    follows = {target: follower(*target, policy, scenario, rate, protocol) for target in targets}
    client_service = clients[len("service:") :] if isinstance(clients, str) and clients.startswith("service:") else None
    points: dict[Target, list[Point]] = {target: [] for target in targets}
    services = {service for service, _ in targets}
    causes: dict[str, Counter] = {service: Counter() for service in services}
    touches: Counter = Counter()  # touching events (or batches) per service so far
    last_touch: dict[str, tuple[int, float, Event]] = {}  # service -> its last touching event
    pending: set[str] = set()  # touched since their last point
    groups: Optional[SiteGroups] = None  # None: the sites may have moved; found again when needed

    def add_points(service: str) -> None:
        nonlocal groups
        if groups is None:
            groups = SiteGroups(engine, client_sites(engine, clients)[1])
        found = tuple(sorted(causes[service].items(), key=lambda item: list(CAUSES).index(item[0])))
        causes[service].clear()
        pending.discard(service)
        for target in targets:
            if target[0] == service:
                points[target].append(Point(timeline_row(engine, groups, follows[target], *last_touch[service]), found))

    def touched(service: str) -> None:
        touches[service] += 1
        if (touches[service] - 1) % every == 0:
            add_points(service)
        else:
            pending.add(service)

    with Engine.open(log_path, at=since) as engine, _cyclic_gc_paused():
        stop = engine.log.last_seq if until is None else min(until, engine.log.last_seq)
        batch: list[str] = []  # services touched by the events written at one time
        batch_time: Optional[float] = None
        for seq, written, event in engine.read(stop):
            if per_batch and written != batch_time:
                for service in batch:
                    touched(service)
                batch, batch_time = [], written
            node_before = engine.state.nodes.get(event.name) if isinstance(event, (NodeUpserted, NodeDeleted)) else None
            change = engine.fold(event, seq)
            engine.last_time = written
            node_moved = (
                isinstance(event, (NodeUpserted, NodeDeleted)) and engine.state.nodes.get(event.name) != node_before
            )
            clients_moved = client_service is not None and client_service in change.services
            if node_moved or clients_moved:
                groups = None
            for service in services:
                if service in change.services:
                    cause = _slice_or_service_cause(event, change.previous)
                elif clients_moved:
                    cause = "clients"
                elif node_moved and next(iter(engine.state.slices_of(service)), None) is not None:
                    cause = _node_cause(event, node_before)
                else:
                    continue
                causes[service][cause] += 1
                last_touch[service] = (seq, written, event)
                if not per_batch:
                    touched(service)
                elif service not in batch:
                    batch.append(service)
            if progress is not None and (seq % 100 == 0 or seq == stop):
                progress(seq, stop)
        for service in batch:
            touched(service)
        # A service's last touch always gives a point.  Nothing has touched
        # it since, so the state now is the state after that event.
        for service in sorted(pending):
            add_points(service)
    return points


def _slice_or_service_cause(event: Event, previous: Optional[Event]) -> str:
    if isinstance(event, (ServiceUpserted, ServiceDeleted)):
        return "service"
    if (
        isinstance(event, SliceUpserted)
        and isinstance(previous, SliceUpserted)
        and previous.ports == event.ports
        and _placement(previous) == _placement(event)
        and _hints(previous) != _hints(event)
    ):
        return "hints"
    return "endpoints"


def _placement(s: SliceUpserted) -> list:
    return [(e.addresses, e.ready, e.serving, e.terminating, e.node_name, e.zone) for e in s.endpoints]


def _hints(s: SliceUpserted) -> list:
    return [(e.for_zones, e.for_nodes) for e in s.endpoints]


def _node_cause(event: Event, before: Optional[NodeUpserted]) -> str:
    if isinstance(event, NodeDeleted) or (before is not None and before.ready and not event.ready):
        return "node-down"
    if before is None or (event.ready and not before.ready):
        return "node-up"
    return "node"
