"""The naive reference: Linkerd's per-update filtering ported to Python plainly.

Every change to a service re-reads all of its slices, re-filters every
candidate for every subscriber of the service, and diffs each subscriber's
result against what it last sent.  No sharing between subscribers, no
caches, no interning: the obvious port, kept as the peer the engine is
measured against in the same run.  It follows the rules subscribers of the
benchmarks exercise (zone hints, unhinted fallback, internalTrafficPolicy
Local); hostname and IPv6 filters are left out because no benchmark asks for
them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional

from engine.events import (
    Event,
    NodeDeleted,
    NodeUpserted,
    ServiceDeleted,
    ServiceUpserted,
    SliceDeleted,
    SliceUpserted,
)

# (address, port, zone hints): what a subscriber is sent for one endpoint
Address = tuple[str, int, tuple[str, ...]]


class NaiveSubscriber:
    def __init__(self, service: str, port: int, node: str, on_update: Callable[[str, list], None]):
        self.service = service
        self.port = port
        self.node = node
        self.on_update = on_update
        self.sent: dict[tuple[str, int], Address] = {}  # what it was last told, by (address, port)


class NaiveController:
    """Nodes, Services and slices as plain dicts; subscribers re-filtered on every change."""

    def __init__(self) -> None:
        self.node_zones: dict[str, Optional[str]] = {}
        self.services: dict[str, ServiceUpserted] = {}
        self.slices: dict[str, dict[str, SliceUpserted]] = {}  # service key -> slice key -> slice
        self.slice_owner: dict[str, str] = {}  # slice key -> service key
        self.subscribers: list[NaiveSubscriber] = []

    def subscribe(self, service: str, port: int, node: str, on_update: Callable[[str, list], None]) -> NaiveSubscriber:
        sub = NaiveSubscriber(service, port, node, on_update)
        self.subscribers.append(sub)
        self.refilter(sub)
        return sub

    def apply(self, event: Event) -> None:
        service = None
        node = None
        if isinstance(event, NodeUpserted):
            node = event.name
            self.node_zones[node] = event.zone
        elif isinstance(event, NodeDeleted):
            node = event.name
            self.node_zones.pop(node, None)
        elif isinstance(event, ServiceUpserted):
            service = f"{event.namespace}/{event.name}"
            self.services[service] = event
        elif isinstance(event, ServiceDeleted):
            service = f"{event.namespace}/{event.name}"
            self.services.pop(service, None)
        elif isinstance(event, SliceUpserted):
            key = f"{event.namespace}/{event.name}"
            self._unlink(key)
            if event.service is not None:
                service = f"{event.namespace}/{event.service}"
                self.slices.setdefault(service, {})[key] = event
                self.slice_owner[key] = service
        elif isinstance(event, SliceDeleted):
            service = self._unlink(f"{event.namespace}/{event.name}")
        for sub in self.subscribers:
            if sub.service == service or sub.node == node:
                self.refilter(sub)

    def _unlink(self, slice_key: str) -> Optional[str]:
        service = self.slice_owner.pop(slice_key, None)
        if service is not None:
            del self.slices[service][slice_key]
        return service

    def candidates(self, service: str, port: int) -> list[tuple[Address, SliceUpserted, int]]:
        """Every ready Pod endpoint of every slice of ``service``, for ``port``."""
        svc = self.services.get(service)
        port_name = None
        if svc is not None:
            for spec in svc.ports:
                if spec.port == port:
                    port_name = spec.name
        found = []
        for es in self.slices.get(service, {}).values():
            target = None
            for slice_port in es.ports:
                if port_name is None:
                    target = port
                elif slice_port.name == port_name:
                    target = slice_port.port
            if target is None:
                continue
            for i, ep in enumerate(es.endpoints):
                if ep.ready is False or ep.target_kind != "Pod":
                    continue
                for address in ep.addresses:
                    found.append(((address, target, tuple(sorted(ep.for_zones))), es, i))
        return found

    def select(self, sub: NaiveSubscriber) -> list[Address]:
        cands = self.candidates(sub.service, sub.port)
        svc = self.services.get(sub.service)
        if svc is not None and svc.internal_traffic_policy == "Local":
            return [a for a, es, i in cands if es.endpoints[i].node_name == sub.node]
        if any(not es.endpoints[i].for_zones for _, es, i in cands):
            return [a for a, _, _ in cands]
        zone = self.node_zones.get(sub.node) or ""
        in_zone = [a for a, es, i in cands if zone in es.endpoints[i].for_zones]
        return in_zone if in_zone else [a for a, _, _ in cands]

    def refilter(self, sub: NaiveSubscriber) -> None:
        now = {(a[0], a[1]): a for a in self.select(sub)}
        added = [a for key, a in now.items() if sub.sent.get(key) != a]
        removed = [a for key, a in sub.sent.items() if key not in now]
        sub.sent = now
        if added:
            sub.on_update("add", sorted(added))
        if removed:
            sub.on_update("remove", sorted(removed))
