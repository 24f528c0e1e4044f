"""The reducer: a pure fold of events into cluster state.

State is what the API server would hold right now (the latest version of each
Node, Service and EndpointSlice) plus one thing it does not: the order in
which each service's slices were last written.  Linkerd resolves an endpoint
identity that two slices share in favour of the slice written last, so that
order is part of what a client sees.

``apply`` is the only writer.  It returns a ``Change`` naming the services
whose endpoints or rules may differ and the nodes whose zone may differ, so
that indexes and subscriptions redo only that work.

The state owns the string table its slices' columns index (see
engine/records.py): a slice is adopted into it as it is applied, and a
snapshot of the state carries it.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType
from typing import Optional

import attrs

from . import kernels
from .events import (
    Event,
    NodeDeleted,
    NodeUpserted,
    ServiceDeleted,
    ServiceUpserted,
    SliceDeleted,
    SliceUpserted,
)
from .records import RecordCodec


@attrs.frozen(slots=True)
class Change:
    services: frozenset[str] = frozenset()  # "ns/name" whose slices or Service changed
    nodes: frozenset[str] = frozenset()  # nodes added, removed or relabelled
    # The object this event replaced or deleted, if any: incremental indexes
    # need the old version to take back what it contributed.
    previous: Optional[Event] = attrs.field(default=None, eq=False)

    def __bool__(self) -> bool:
        return bool(self.services or self.nodes)


NO_CHANGE = Change()


def slice_service_key(event: SliceUpserted | SliceDeleted) -> Optional[str]:
    return None if event.service is None else f"{event.namespace}/{event.service}"


class ClusterState:
    """Nodes, Services and EndpointSlices as of the last applied event."""

    def __init__(self, core: ModuleType = kernels) -> None:
        self.core = core  # the kernel implementation (engine.kernels.for_implementation)
        self.strings = core.StringTable()
        self.codec = RecordCodec(self.strings)
        self.nodes: dict[str, NodeUpserted] = {}
        self.services: dict[str, ServiceUpserted] = {}
        self.slices: dict[str, SliceUpserted] = {}
        # service key -> {slice key: slice}, in the order the slices were last written
        self.service_slices: dict[str, dict[str, SliceUpserted]] = {}
        self.seq = 0  # sequence number of the last applied event

    # -- the fold ------------------------------------------------------------

    def adopt(self, event: Event) -> Event:
        """``event`` as the state stores it: a slice's strings interned in the table."""
        return self.codec.adopt(event)

    def apply(self, event: Event, seq: Optional[int] = None) -> Change:
        self.seq = self.seq + 1 if seq is None else seq
        handler = _HANDLERS[type(event)]
        return handler(self, self.codec.adopt(event))

    def _node_upserted(self, event: NodeUpserted) -> Change:
        old = self.nodes.get(event.name)
        self.nodes[event.name] = event
        if old is not None and old.zone == event.zone:
            return NO_CHANGE  # CPU or readiness only: no client's zone moved
        return Change(nodes=frozenset((event.name,)))

    def _node_deleted(self, event: NodeDeleted) -> Change:
        if self.nodes.pop(event.name, None) is None:
            return NO_CHANGE
        return Change(nodes=frozenset((event.name,)))

    def _service_upserted(self, event: ServiceUpserted) -> Change:
        previous = self.services.get(event.key)
        self.services[event.key] = event
        return Change(services=frozenset((event.key,)), previous=previous)

    def _service_deleted(self, event: ServiceDeleted) -> Change:
        previous = self.services.pop(event.key, None)
        if previous is None:
            return NO_CHANGE
        return Change(services=frozenset((event.key,)), previous=previous)

    def _slice_upserted(self, event: SliceUpserted) -> Change:
        key = event.key
        touched = set()
        old = self.slices.pop(key, None)
        if old is not None:
            touched.update(self._unlink(old))
        self.slices[key] = event
        service = slice_service_key(event)
        if service is not None:
            # Re-inserting moves the slice to the end: it is now the last written.
            self.service_slices.setdefault(service, {})[key] = event
            touched.add(service)
        return Change(services=frozenset(touched), previous=old)

    def _slice_deleted(self, event: SliceDeleted) -> Change:
        old = self.slices.pop(event.key, None)
        if old is None:
            return NO_CHANGE
        return Change(services=frozenset(self._unlink(old)), previous=old)

    def _unlink(self, old: SliceUpserted) -> set[str]:
        service = slice_service_key(old)
        if service is None:
            return set()
        members = self.service_slices[service]
        del members[old.key]
        if not members:
            del self.service_slices[service]
        return {service}

    # -- reading -------------------------------------------------------------

    def slices_of(self, service_key: str) -> Iterable[SliceUpserted]:
        """The service's slices, oldest write first."""
        return self.service_slices.get(service_key, {}).values()

    def node_zone(self, node: Optional[str]) -> Optional[str]:
        found = self.nodes.get(node) if node is not None else None
        return found.zone if found is not None else None

    def service_keys(self) -> set[str]:
        return set(self.services) | set(self.service_slices)

    def endpoint_count(self) -> int:
        return sum(len(s.endpoints) for s in self.slices.values())

    def zones(self) -> set[str]:
        return {n.zone for n in self.nodes.values() if n.zone}

    # -- snapshots -----------------------------------------------------------

    def dump(self) -> list:
        """A msgpack-ready image of the state.

        Objects are listed in their dict order, and slices in write order, so
        ``load(dump())`` rebuilds dicts in the same order: replaying from a
        snapshot and replaying from the start give byte-identical dumps.
        The string table comes first, whole, and the slice records index it.
        """
        encode = self.codec.encode
        return [
            self.seq,
            list(self.strings.tail(len(self.core.RESERVED_STRINGS))),
            [encode(n) for n in self.nodes.values()],
            [encode(s) for s in self.services.values()],
            [encode(s) for s in self.slices.values()],
        ]

    @classmethod
    def load(cls, image: list, core: ModuleType = kernels) -> ClusterState:
        seq, (blob, lengths), nodes, services, slices = image
        state = cls(core)
        state.strings.extend(len(core.RESERVED_STRINGS), blob, lengths)
        decode = state.codec.decode
        for record in (*nodes, *services, *slices):
            state.apply(decode(record))
        state.seq = seq
        return state


_HANDLERS = {
    NodeUpserted: ClusterState._node_upserted,
    NodeDeleted: ClusterState._node_deleted,
    ServiceUpserted: ClusterState._service_upserted,
    ServiceDeleted: ClusterState._service_deleted,
    SliceUpserted: ClusterState._slice_upserted,
    SliceDeleted: ClusterState._slice_deleted,
}
