"""Policy ``linkerd``: the endpoints Linkerd's destination controller sends.

Two halves, as in the controller:

* ``AddressBook``: the service's address set for each requested port, kept
  as Linkerd's port publishers keep it: each slice write removes the
  identities the slice's previous version gave, then adds its own (an
  endpoint explicitly not ready gives nothing).
  Stored columnar (``Publisher``): interned identities, zones and nodes,
  hint bitmasks, per-zone and unhinted counts, so a slice write costs work
  proportional to the slice, not to the service.
* ``select``: the per-client filter, in Linkerd's order: hostname, filtering
  off, ``internalTrafficPolicy: Local`` (no fallback), any unhinted candidate
  disables zone filtering, zone match, empty match falls back to all; then the
  address-family choice for dual-stack pods.  Answers are cached per (port,
  client, traffic policy) and dropped only when a change can alter them.

``linkerd+nodes`` is this engine's opt-in extension: before the zone step,
when every candidate carries a node hint and some name the client's node,
only those are kept (PreferSameNode).  Linkerd itself never reads node hints.
"""
from __future__ import annotations

from array import array
from itertools import compress
from typing import Callable, Iterable, Optional, Union

import attrs

from .. import kernels
from ..events import Endpoint, ServiceUpserted, SlicePort, SliceUpserted
from ..values import SelectedEndpoint

# Rules, in the order the filter tries them.
NO_ENDPOINTS = "no-endpoints"
FILTERING_OFF = "filtering-off"
LOCAL_TRAFFIC_POLICY = "local-traffic-policy"
UNHINTED_ENDPOINT = "unhinted-endpoint"
NODE_HINTS = "node-hints"
ZONE_HINTS = "zone-hints"
NO_ZONE_MATCH = "no-zone-match"

RULES = {
    NO_ENDPOINTS: "the service has no ready endpoint for this port (after the hostname filter)",
    FILTERING_OFF: "endpoint filtering is off (remote discovery): every candidate",
    LOCAL_TRAFFIC_POLICY: "internalTrafficPolicy Local: Pod endpoints on the client's node only, no fallback",
    UNHINTED_ENDPOINT: "some candidate has no zone hint: every candidate",
    NODE_HINTS: "every candidate has a node hint: those hinted for the client's node (linkerd+nodes)",
    ZONE_HINTS: "candidates whose zone hints name the client's zone",
    NO_ZONE_MATCH: "no candidate is hinted for the client's zone: every candidate",
}

POD = "Pod"
EXTERNAL_WORKLOAD = "ExternalWorkload"


def target_for(service: Optional[ServiceUpserted], port: int) -> Union[int, str]:
    """What the requested service port resolves against in each slice.

    The Service port with that number gives its *name*, matched against slice
    port names; without a Service or a matching port, the number itself is
    used as the endpoint port.
    """
    if service is not None:
        for spec in service.ports:
            if spec.port == port:
                return spec.name
    return port


def resolve_port(slice_ports: tuple[SlicePort, ...], target: Union[int, str]) -> Optional[int]:
    """The endpoint port a slice gives for ``target``; None: the slice contributes nothing."""
    if not slice_ports:
        return None
    if isinstance(target, int):
        return target
    for port in slice_ports:
        if port.name == target:
            return port.port
    return None


@attrs.frozen(slots=True)
class Candidate:
    identity: tuple  # Linkerd's address key; see slice_addresses()
    family: str  # "IPv4"/"IPv6"/"FQDN" for Pod identities, "" for others
    address: str
    port: int
    pod_backed: bool
    node: Optional[str]
    zone: Optional[str]
    hostname: Optional[str]
    for_zones: tuple[str, ...]
    for_nodes: tuple[str, ...]
    target: Optional[str]
    # Built on first use and kept: a cached selection hands out the same value every time.
    _selected: Optional[SelectedEndpoint] = attrs.field(default=None, init=False, eq=False, repr=False)

    def to_selected(self) -> SelectedEndpoint:
        found = self._selected
        if found is None:
            found = SelectedEndpoint(
                self.address, self.port, self.node, self.zone, self.for_zones, self.for_nodes,
                self.target, self.hostname, self.identity,
            )
            object.__setattr__(self, "_selected", found)
        return found


# Row kinds (what the endpoint's targetRef names); 0 marks an empty row.
_ABSENT, _NO_TARGET, _POD, _EXTERNAL = 0, 1, 2, 3
# Address families, interned to a byte per row; "" for non-Pod identities.
_FAMILIES: list[str] = ["", "IPv4", "IPv6", "FQDN"]
_FAMILY_CODES: dict[str, int] = {name: code for code, name in enumerate(_FAMILIES)}
_IPV4, _IPV6 = _FAMILY_CODES["IPv4"], _FAMILY_CODES["IPv6"]
_MASK_BITS = 64  # zone ids below this live in the row's hint mask


def _family_code(name: str) -> int:
    code = _FAMILY_CODES.get(name)
    if code is None:
        code = _FAMILY_CODES[name] = len(_FAMILIES)
        _FAMILIES.append(name)
    return code


def _slice_rows(es: SliceUpserted, service_name: str, target: Union[int, str]):
    """What one slice gives a port publisher whose target is ``target``:
    ``(identity, endpoint, address index, family code, kind, port)`` in slice
    order.  See ``slice_addresses`` for the rules."""
    endpoint_port = resolve_port(es.ports, target)
    if endpoint_port is None:
        return
    pod_family = _family_code(es.address_type)
    for ep in es.endpoints:
        if ep.ready is False:
            continue
        kind = ep.target_kind
        for index, address in enumerate(ep.addresses):
            if kind is None:
                yield ("", f"{service_name}-{address}-{endpoint_port}", ep.hostname or ""), ep, index, 0, \
                    _NO_TARGET, endpoint_port
            elif kind == POD:
                yield (ep.target_namespace or "", ep.target_name or "", es.address_type), ep, index, \
                    pod_family, _POD, endpoint_port
            elif kind == EXTERNAL_WORKLOAD:
                yield (es.namespace, ep.target_name or "", ""), ep, index, 0, _EXTERNAL, endpoint_port


def slice_addresses(es: SliceUpserted, service_name: str,
                    target: Union[int, str]) -> list[tuple[tuple, Candidate]]:
    """What one slice gives a port publisher whose target is ``target``:
    ``(identity, candidate)`` pairs, in slice order.

    Identity, as Linkerd keys its address map: a Pod endpoint by (pod
    namespace, pod name, address family), so a pod's several addresses in one
    slice collapse to the last; an ExternalWorkload by (namespace, name); an
    endpoint without targetRef by (IP, port, hostname).  Endpoints whose
    targetRef is of another kind, and endpoints explicitly not ready, give
    nothing.
    """
    return [
        (identity, _candidate(identity, ep, index, family, kind, port))
        for identity, ep, index, family, kind, port in _slice_rows(es, service_name, target)
    ]


def _candidate(identity: tuple, ep: Endpoint, index: int, family: int, kind: int, port: int) -> Candidate:
    return Candidate(identity, _FAMILIES[family], ep.addresses[index], port, kind == _POD, ep.node_name,
                     ep.zone, ep.hostname, ep.for_zones, ep.for_nodes, ep.target)


def build_addresses(service_name: str, slices: Iterable[SliceUpserted],
                    target: Union[int, str]) -> dict[tuple, Candidate]:
    """A fresh port publisher's address map: every slice added, oldest write
    first, so a later slice's address replaces an earlier one's with the same
    identity."""
    addresses: dict[tuple, Candidate] = {}
    for es in slices:
        addresses.update(slice_addresses(es, service_name, target))
    return addresses


class _Identities:
    """A service's address identities interned to row numbers, shared by all
    its publishers (they mostly hold the same identities).  A number is
    reused once no publisher holds it, so rows stay dense under churn."""

    __slots__ = ("ids", "keys", "refs", "free")

    def __init__(self) -> None:
        self.ids: dict[tuple, int] = {}
        self.keys: list[Optional[tuple]] = []
        self.refs = array("i")
        self.free: list[int] = []

    def acquire(self, key: tuple) -> int:
        row = self.ids.get(key)
        if row is None:
            if self.free:
                row = self.free.pop()
                self.keys[row] = key
            else:
                row = len(self.keys)
                self.keys.append(key)
                self.refs.append(0)
            self.ids[key] = row
        self.refs[row] += 1
        return row

    def release(self, row: int) -> None:
        self.refs[row] -= 1
        if not self.refs[row]:
            del self.ids[self.keys[row]]
            self.keys[row] = None
            self.free.append(row)


class _Touched:
    """What one fold step changed in a publisher, named the way cached
    selections depend on it."""

    __slots__ = ("any", "deps")

    def __init__(self) -> None:
        self.any = False
        self.deps: set[tuple[str, str]] = set()

    def mark(self, ep: Endpoint) -> None:
        self.any = True
        deps = self.deps
        for zone in ep.for_zones:
            deps.add(("zone", zone))
        for node in ep.for_nodes:
            deps.add(("hint-node", node))
        if ep.node_name is not None:
            deps.add(("node", ep.node_name))
        if ep.hostname is not None:
            deps.add(("host", ep.hostname))


_ALL = ("all", "")  # depends on every row


class Publisher:
    """One port publisher's address map, columnar: row ``r`` is the identity
    interned as ``r`` (empty when ``kind[r] == 0``).  Columns hold the source
    endpoint and which of its addresses, the port, the dict-order stamp (the
    tie-break of the (address, port) sort, as Linkerd's map keeps insertion
    order), family and kind, the node, the first node hint, and the zone hint
    mask over the service's interned zones.  Hints beyond the mask (zone ids
    >= 64, a second node hint) sit in small side tables.  Per-zone counts,
    the unhinted counts and a hostname index are kept as rows change, and
    selections are cached with the dependencies that can make them stale."""

    __slots__ = ("target", "size", "source", "made", "address", "port", "order", "family", "kind", "node",
                 "node_hint", "zone_mask", "wide_zones", "wide_nodes", "zone_counts", "unhinted",
                 "node_unhinted", "hostnames", "next_order", "cache", "cache_deps", "selected", "retired")

    def __init__(self, target: Union[int, str]):
        self.target = target
        self.cache: dict[tuple, tuple[str, tuple[Candidate, ...]]] = {}
        self.cache_deps: dict[tuple[str, str], list[tuple]] = {}
        # The same keys, for callers that keep the answer as SelectedEndpoint values.
        self.selected: dict[tuple, tuple] = {}
        # Stale answers, freed by the next query that recomputes one: freeing a
        # large selection costs as much as building it, so the query that
        # builds pays, not the slice write that made it stale.
        self.retired: list = []
        self._reset()

    def _reset(self) -> None:
        self.size = 0
        self.source: list[Optional[Endpoint]] = []
        # The row's candidate as last built, with its sort key, kept until the
        # row is written: selections recomputed after a change elsewhere reuse
        # it, and subscribers diffing two selections see the same object.
        self.made: dict[int, tuple] = {}  # a dict: rows never selected cost nothing
        self.address = array("H")
        self.port = array("i")
        self.order = array("q")
        self.family = array("B")
        self.kind = array("B")
        self.node = array("i")
        self.node_hint = array("i")
        self.zone_mask = array("Q")
        self.wide_zones: dict[int, tuple[int, ...]] = {}
        self.wide_nodes: dict[int, tuple[int, ...]] = {}
        self.zone_counts = array("i")
        self.unhinted = 0
        self.node_unhinted = 0
        self.hostnames: dict[str, set[int]] = {}
        self.next_order = 0
        self.forget_all()

    def _grow(self, rows: int) -> None:
        extra = rows - len(self.source)
        if extra > 0:
            extra = max(extra, len(self.source) // 2, 16)  # amortised: grow by half
            self.source.extend([None] * extra)
            self.address.extend(array("H", bytes(2 * extra)))
            self.port.extend(array("i", bytes(4 * extra)))
            self.order.extend(array("q", bytes(8 * extra)))
            self.family.extend(array("B", bytes(extra)))
            self.kind.extend(array("B", bytes(extra)))
            self.node.extend(array("i", [-1]) * extra)
            self.node_hint.extend(array("i", [-1]) * extra)
            self.zone_mask.extend(array("Q", bytes(8 * extra)))

    def holds(self, row: int) -> bool:
        return row < len(self.kind) and self.kind[row] != _ABSENT

    def mode(self) -> tuple[bool, bool, bool]:
        """The facts whose flip re-decides every client's rule."""
        return self.size > 0, self.unhinted > 0, self.node_unhinted > 0

    # -- rows ------------------------------------------------------------------

    def put(self, book: "AddressBook", row: int, ep: Endpoint, index: int, family: int, kind: int,
            port: int, touched: _Touched) -> bool:
        """Write a row; returns whether it was empty (the caller then holds its identity)."""
        fresh = not self.holds(row)
        if fresh:
            self._grow(row + 1)
            self.order[row] = self.next_order  # a new key goes to the end of the map
            self.next_order += 1
            self.size += 1
        else:
            self._clear(row, touched)  # overwritten in place: the key keeps its position
        self.source[row] = ep
        self.made.pop(row, None)
        self.address[row] = index
        self.port[row] = port
        self.family[row] = family
        self.kind[row] = kind
        self.node[row] = book.node_id(ep.node_name) if ep.node_name is not None else -1
        zone_ids = [book.zone_id(name) for name in ep.for_zones]
        self._count_zones(zone_ids, 1)
        mask = 0
        for zid in zone_ids:
            if zid < _MASK_BITS:
                mask |= 1 << zid
        self.zone_mask[row] = mask
        if any(zid >= _MASK_BITS for zid in zone_ids):
            self.wide_zones[row] = tuple(zone_ids)
        node_ids = [book.node_id(name) for name in ep.for_nodes]
        self.node_hint[row] = node_ids[0] if node_ids else -1
        if not node_ids:
            self.node_unhinted += 1
        elif len(node_ids) > 1:
            self.wide_nodes[row] = tuple(node_ids)
        if ep.hostname is not None:
            self.hostnames.setdefault(ep.hostname, set()).add(row)
        touched.mark(ep)
        return fresh

    def drop(self, row: int, touched: _Touched) -> None:
        self._clear(row, touched)
        self.kind[row] = _ABSENT
        self.source[row] = None
        self.made.pop(row, None)
        self.size -= 1

    def _clear(self, row: int, touched: _Touched) -> None:
        """Take back what the row's current endpoint contributed to the counts."""
        ep = self.source[row]
        touched.mark(ep)
        self._count_zones(self.zone_ids_of(row), -1)
        self.zone_mask[row] = 0
        self.wide_zones.pop(row, None)
        if self.node_hint[row] < 0:
            self.node_unhinted -= 1
        self.node_hint[row] = -1
        self.wide_nodes.pop(row, None)
        self.node[row] = -1
        if ep.hostname is not None:
            rows = self.hostnames[ep.hostname]
            rows.discard(row)
            if not rows:
                del self.hostnames[ep.hostname]

    def zone_ids_of(self, row: int) -> tuple[int, ...]:
        wide = self.wide_zones.get(row)
        if wide is not None:
            return wide
        mask = self.zone_mask[row]
        return tuple(zid for zid in range(mask.bit_length()) if mask >> zid & 1)

    def _count_zones(self, zone_ids, step: int) -> None:
        if not zone_ids:
            self.unhinted += step
            return
        counts = self.zone_counts
        for zid in set(zone_ids):
            if zid >= len(counts):
                counts.extend(array("i", bytes(4 * (zid + 1 - len(counts)))))
            counts[zid] += step

    def rebuild(self, book: "AddressBook", rows: list[tuple[int, Endpoint, int, int, int, int]]) -> None:
        """Bulk load of ``(row, endpoint, address index, family, kind, port)``
        in map order into an empty publisher: the hint columns come from one
        kernel pass over CSR hints instead of row by row."""
        self._reset()
        capacity = len(book.identities.keys)
        self._grow(capacity)
        capacity = len(self.source)
        hints_of: list[tuple[int, ...]] = [()] * capacity
        for order, (row, ep, index, family, kind, port) in enumerate(rows):
            self.source[row] = ep
            self.address[row] = index
            self.port[row] = port
            self.order[row] = order
            self.family[row] = family
            self.kind[row] = kind
            if ep.node_name is not None:
                self.node[row] = book.node_id(ep.node_name)
            zone_ids = hints_of[row] = tuple(book.zone_id(name) for name in ep.for_zones)
            if zone_ids and max(zone_ids) >= _MASK_BITS:
                self.wide_zones[row] = zone_ids
            if ep.for_nodes:
                node_ids = tuple(book.node_id(name) for name in ep.for_nodes)
                self.node_hint[row] = node_ids[0]
                if len(node_ids) > 1:
                    self.wide_nodes[row] = node_ids
            else:
                self.node_unhinted += 1
            if ep.hostname is not None:
                self.hostnames.setdefault(ep.hostname, set()).add(row)
        self.size = len(rows)
        self.next_order = len(rows)
        offsets = array("i", [0])
        flat = array("i")
        for zone_ids in hints_of:
            flat.extend(zone_ids)
            offsets.append(len(flat))
        masks, counts, unhinted = kernels.hint_masks(offsets, flat, len(book.zones))
        self.zone_mask = masks
        self.zone_counts = counts
        self.unhinted = unhinted - (capacity - self.size)  # empty rows have no hints either

    def clear(self, book: "AddressBook") -> None:
        for row in self.rows():
            book.identities.release(row)
        self._reset()

    # -- reading ---------------------------------------------------------------

    def rows(self) -> list[int]:
        return list(compress(range(len(self.kind)), self.kind))

    def zone_rows(self, zid: int) -> list[int]:
        if zid < _MASK_BITS:
            return kernels.mask_rows(self.zone_mask, zid)
        return sorted(row for row, ids in self.wide_zones.items() if zid in ids)

    def node_hint_rows(self, nid: int) -> list[int]:
        rows = kernels.equal_rows(self.node_hint, nid)
        extra = [row for row, ids in self.wide_nodes.items() if nid in ids[1:]]
        return sorted(set(rows).union(extra)) if extra else rows

    def candidates(self, book: "AddressBook", rows, port: Optional[int]) -> tuple[Candidate, ...]:
        """``rows`` as candidates sorted by (address, port), ties in map order;
        ``port`` overrides the row's port (the shared map of undeclared ports)."""
        keys = book.identities.keys
        source, address, family, kind, order, made = (
            self.source, self.address, self.family, self.kind, self.order, self.made)
        found = []
        for row in rows:
            entry = made.get(row) if port is None else None
            if entry is None:
                c = _candidate(keys[row], source[row], address[row], family[row], kind[row],
                               self.port[row] if port is None else port)
                entry = (c.address, c.port, order[row], c)
                if port is None:
                    made[row] = entry
            found.append(entry)
        found.sort()  # (address, port, map order): the order is unique, so candidates are never compared
        return tuple(entry[3] for entry in found)

    def remember(self, key: tuple, result: tuple[str, tuple[Candidate, ...]], deps) -> None:
        self.cache[key] = result
        for dep in deps:
            self.cache_deps.setdefault(dep, []).append(key)

    def invalidate(self, touched: _Touched, before: tuple[bool, bool, bool]) -> None:
        """Drop the cached selections this step may have changed: all of them
        when the mode flipped, else those depending on every row or on a zone,
        node or hostname a changed row names."""
        if not touched.any:
            return
        if before != self.mode():
            self.forget_all()
            return
        cache, selected, deps = self.cache, self.selected, self.cache_deps
        for dep in (_ALL, *touched.deps):
            for key in deps.pop(dep, ()):
                self.retired.append((cache.pop(key, None), selected.pop(key, None)))

    def forget_all(self) -> None:
        self.retired.append((self.cache, self.selected))
        self.cache = {}
        self.selected = {}
        self.cache_deps.clear()


class AddressBook:
    """Linkerd's address maps for one service, kept event by event as a
    destination controller that has watched since the start of the log keeps
    its port publishers: one per port the Service has ever declared.

    History matters, exactly as in Linkerd: updating or deleting a slice
    removes every identity that slice gave, even when another slice still
    lists it, until that other slice is written again.  A publisher whose
    target changes (the Service appears, renames or drops the port) re-lists
    the current slices.  Deleting the Service empties every map (later slice
    events fill them again) but changes neither the targets nor the traffic
    policy, which only a Service update sets.

    A port the Service never declared is answered as by a publisher created
    at the moment of asking (Linkerd creates one on the first subscription to
    a port): built from the current slices, oldest write first, kept until
    the next event touching the service.  Every such port resolves each slice
    to the port number itself, so their maps differ only in that number: one
    map, with port 0 standing in, serves them all.  Keeping it out of the
    fold halves the work of every slice write.

    The maps are ``Publisher`` columns over identities interned once for
    the whole service; zone names are interned per service (so the first 64
    zones a service sees fit a row's mask), node names per index.  A slice
    write costs work proportional to the slice times the publishers.
    """

    __slots__ = ("service_name", "local_traffic_policy", "undeclared", "by_port", "identities", "zones",
                 "nodes", "_views")

    def __init__(self, service_name: str, nodes: Optional[dict[str, int]] = None):
        self.service_name = service_name
        self.local_traffic_policy = False
        self.identities = _Identities()
        self.zones: dict[str, int] = {}
        self.nodes: dict[str, int] = {} if nodes is None else nodes
        self.undeclared: Optional[Publisher] = None  # built when asked, see above
        # port number -> its publisher, for every port a Service declared
        self.by_port: dict[int, Publisher] = {}
        self._views: dict[int, CandidateSet] = {}

    def zone_id(self, name: str) -> int:
        found = self.zones.get(name)
        if found is None:
            found = self.zones[name] = len(self.zones)
        return found

    def node_id(self, name: str) -> int:
        found = self.nodes.get(name)
        if found is None:
            found = self.nodes[name] = len(self.nodes)
        return found

    def view(self, port: int, slices: Callable[[], Iterable[SliceUpserted]]) -> "CandidateSet":
        """The candidates for ``port``; ``slices`` gives the service's current
        slices, oldest write first, should an undeclared port's map be built."""
        found = self._views.get(port)
        if found is None:
            publisher = self.by_port.get(port)
            if publisher is None:
                if self.undeclared is None:
                    self.undeclared = Publisher(0)
                    self._relist(self.undeclared, list(slices()))
                found = CandidateSet(self, self.undeclared, port)
            else:
                found = CandidateSet(self, publisher)
            self._views[port] = found
        return found

    def _publishers(self) -> Iterable[Publisher]:
        return self.by_port.values()

    def _forget_undeclared(self) -> None:
        """An event touched the service: the map for undeclared ports is stale."""
        if self.undeclared is not None:
            self.undeclared.clear(self)
            self.undeclared = None
            self._views = {port: view for port, view in self._views.items() if port in self.by_port}

    # -- folding ---------------------------------------------------------------

    def service_upserted(self, service: ServiceUpserted, slices: Iterable[SliceUpserted]) -> None:
        self._forget_undeclared()
        local = service.internal_traffic_policy == "Local"
        if local != self.local_traffic_policy:
            self.local_traffic_policy = local
            for publisher in self._publishers():
                publisher.forget_all()
        slices = list(slices)
        for port in {spec.port for spec in service.ports} | set(self.by_port):
            target = target_for(service, port)
            current = self.by_port.get(port)
            if current is None or current.target != target:
                if current is None:
                    current = self.by_port[port] = Publisher(target)
                else:
                    current.clear(self)
                    current.target = target
                self._relist(current, slices)

    def _relist(self, publisher: Publisher, slices: list[SliceUpserted]) -> None:
        latest: dict[tuple, tuple] = {}
        for es in slices:
            for identity, *rest in _slice_rows(es, self.service_name, publisher.target):
                latest[identity] = rest
        rows = []
        for identity, rest in latest.items():
            rows.append((self.identities.acquire(identity), *rest))
        publisher.rebuild(self, rows)

    def service_deleted(self) -> None:
        self._forget_undeclared()
        for publisher in self._publishers():
            publisher.clear(self)

    def slice_upserted(self, old: Optional[SliceUpserted], new: SliceUpserted) -> None:
        self._forget_undeclared()
        for publisher in self._publishers():
            touched, before = _Touched(), publisher.mode()
            if old is not None:
                self._take_back(publisher, old, touched)
            identities = self.identities
            for identity, ep, index, family, kind, port in _slice_rows(new, self.service_name, publisher.target):
                row = identities.acquire(identity)
                if not publisher.put(self, row, ep, index, family, kind, port, touched):
                    identities.release(row)  # already held: the acquire above was a lookup
            publisher.invalidate(touched, before)

    def slice_deleted(self, old: SliceUpserted) -> None:
        self._forget_undeclared()
        for publisher in self._publishers():
            touched, before = _Touched(), publisher.mode()
            self._take_back(publisher, old, touched)
            publisher.invalidate(touched, before)

    def _take_back(self, publisher: Publisher, old: SliceUpserted, touched: _Touched) -> None:
        ids = self.identities.ids
        for identity, *_ in _slice_rows(old, self.service_name, publisher.target):
            row = ids.get(identity)
            if row is not None and publisher.holds(row):
                publisher.drop(row, touched)
                self.identities.release(row)

    # -- snapshots -------------------------------------------------------------

    def dump(self, origin: Callable[[Endpoint], tuple[str, int]]) -> list:
        """The maps as rows ``[identity, slice key, endpoint index, address
        index, family, kind, port]`` in map order.  A row names its endpoint
        by where it sits in the state (``origin``) rather than copying it:
        every row comes from the current version of some slice, since a slice
        write or delete first takes back all that the slice gave."""
        return [
            self.local_traffic_policy,
            [[port, publisher.target, self._dump_rows(publisher, origin)] for port, publisher in self.by_port.items()],
        ]

    def _dump_rows(self, publisher: Publisher, origin: Callable[[Endpoint], tuple[str, int]]) -> list:
        keys = self.identities.keys
        return [
            [list(keys[row]), *origin(publisher.source[row]), publisher.address[row], publisher.family[row],
             publisher.kind[row], publisher.port[row]]
            for row in sorted(publisher.rows(), key=publisher.order.__getitem__)
        ]

    @classmethod
    def load(cls, service_name: str, image: list, nodes: dict[str, int],
             endpoint_at: Callable[[str, int], Endpoint]) -> "AddressBook":
        book = cls(service_name, nodes)
        local, by_port = image
        book.local_traffic_policy = bool(local)
        for port, target, records in by_port:
            book.by_port[port] = publisher = Publisher(target)
            book._load_rows(publisher, records, endpoint_at)
        return book

    def _load_rows(self, publisher: Publisher, records: list, endpoint_at: Callable[[str, int], Endpoint]) -> None:
        acquire = self.identities.acquire
        publisher.rebuild(self, [
            (acquire(tuple(identity)), endpoint_at(key, index), address, family, kind, port)
            for identity, key, index, address, family, kind, port in records
        ])


class CandidateSet:
    """A service port's address set as the policy reads it: a view of one
    publisher (``port`` set: the shared map of undeclared ports, answering
    with that port number)."""

    __slots__ = ("book", "publisher", "port")

    def __init__(self, book: AddressBook, publisher: Publisher, port: Optional[int] = None):
        self.book = book
        self.publisher = publisher
        self.port = port

    def __len__(self) -> int:
        return self.publisher.size

    @property
    def items(self) -> tuple[Candidate, ...]:
        """Every candidate, sorted by (address, port)."""
        return self.publisher.candidates(self.book, self.publisher.rows(), self.port)

    @property
    def unhinted(self) -> int:
        return self.publisher.unhinted

    def hinted_for_zone(self, zone: str) -> tuple[Candidate, ...]:
        zid = self.book.zones.get(zone)
        rows = () if zid is None else self.publisher.zone_rows(zid)
        return self.publisher.candidates(self.book, rows, self.port)

    def hinted_for_node(self, node: str) -> tuple[Candidate, ...]:
        nid = self.book.nodes.get(node)
        rows = () if nid is None else self.publisher.node_hint_rows(nid)
        return self.publisher.candidates(self.book, rows, self.port)

    def all_node_hinted(self) -> bool:
        return self.publisher.node_unhinted == 0


EMPTY = CandidateSet(AddressBook(""), Publisher(0))  # what an unknown service offers


@attrs.frozen(slots=True)
class Client:
    """Who is asking: the filter key of a Destination subscription."""

    node: Optional[str] = None
    zone: Optional[str] = None  # the node's zone label; None = unknown or unlabelled
    hostname: Optional[str] = None
    filtering: bool = True
    ipv6: bool = False  # Linkerd's --enable-ipv6 (the Helm chart's default is off)
    node_hints: bool = False  # the linkerd+nodes extension


def cache_key(cands: CandidateSet, client: Client, local_traffic_policy: bool) -> tuple:
    """What a cached answer is filed under.  The client's node matters only to
    ``internalTrafficPolicy: Local`` and node hints; leaving it out otherwise
    lets every node of a zone share one answer (and one diff, for
    subscriptions)."""
    if client.node is not None and not local_traffic_policy and not client.node_hints:
        client = attrs.evolve(client, node=None)
    return (cands.port, client, local_traffic_policy)


def select(cands: CandidateSet, client: Client, local_traffic_policy: bool) -> tuple[str, tuple[Candidate, ...]]:
    """The rule that decided and the candidates ``client`` receives, from the
    publisher's cache when no change since the last ask could alter it."""
    publisher = cands.publisher
    key = cache_key(cands, client, local_traffic_policy)
    found = publisher.cache.get(key)
    if found is None:
        publisher.retired.clear()
        rule, rows, deps = _decide(cands.book, publisher, client, local_traffic_policy)
        found = rule, publisher.candidates(cands.book, _choose_family(cands.book, publisher, rows, client.ipv6),
                                           cands.port)
        publisher.remember(key, found, deps)
    return found


def _decide(book: AddressBook, pub: Publisher, client: Client, local: bool) -> tuple[str, list[int], tuple]:
    """Linkerd's filter over the index: (rule, rows, what the answer depends on)."""
    if client.hostname is not None:
        rows = sorted(pub.hostnames.get(client.hostname, ()))
        rule, rows = _decide_plain(pub, rows, client, local)
        return rule, rows, (("host", client.hostname),)
    if not pub.size:
        return NO_ENDPOINTS, [], (_ALL,)
    if not client.filtering:
        return FILTERING_OFF, pub.rows(), (_ALL,)
    if local:
        nid = book.nodes.get(client.node) if client.node is not None else None
        rows = [] if nid is None else [r for r in kernels.equal_rows(pub.node, nid) if pub.kind[r] == _POD]
        return LOCAL_TRAFFIC_POLICY, rows, (("node", client.node),) if client.node is not None else ()
    if pub.unhinted:
        return UNHINTED_ENDPOINT, pub.rows(), (_ALL,)
    deps: tuple = ()
    if client.node_hints and client.node is not None:
        # Node hints win only while every row has one (a flip of that clears the cache).
        deps = (("hint-node", client.node),)
        nid = book.nodes.get(client.node)
        if not pub.node_unhinted and nid is not None:
            on_node = pub.node_hint_rows(nid)
            if len(on_node):
                return NODE_HINTS, on_node, deps
    # Linkerd compares the zone label as a string; an unlabelled node has "".
    zone = client.zone or ""
    zid = book.zones.get(zone)
    if zid is not None and zid < len(pub.zone_counts) and pub.zone_counts[zid]:
        return ZONE_HINTS, pub.zone_rows(zid), deps + (("zone", zone),)
    return NO_ZONE_MATCH, pub.rows(), (_ALL,)


def _decide_plain(pub: Publisher, rows: list[int], client: Client, local: bool) -> tuple[str, list[int]]:
    """The same rules over the few rows with the asked hostname."""
    source = pub.source
    if not rows:
        return NO_ENDPOINTS, []
    if not client.filtering:
        return FILTERING_OFF, rows
    if local:
        return LOCAL_TRAFFIC_POLICY, [r for r in rows if pub.kind[r] == _POD and client.node is not None
                                      and source[r].node_name == client.node]
    if any(not source[r].for_zones for r in rows):
        return UNHINTED_ENDPOINT, rows
    if client.node_hints and client.node is not None and all(source[r].for_nodes for r in rows):
        on_node = [r for r in rows if client.node in source[r].for_nodes]
        if on_node:
            return NODE_HINTS, on_node
    zone = client.zone or ""
    in_zone = [r for r in rows if zone in source[r].for_zones]
    if in_zone:
        return ZONE_HINTS, in_zone
    return NO_ZONE_MATCH, rows


def _choose_family(book: AddressBook, pub: Publisher, rows, ipv6: bool) -> list[int]:
    """Linkerd's address-family step: without IPv6, Pod IPv6 addresses are
    dropped; with it, a pod that has both families keeps only IPv6."""
    family = pub.family
    if not ipv6:
        return [r for r in rows if family[r] != _IPV6]
    keys = book.identities.keys
    v6_pods = {keys[r][:2] for r in rows if family[r] == _IPV6}
    if not v6_pods:
        return list(rows)
    return [r for r in rows if not (family[r] == _IPV4 and keys[r][:2] in v6_pods)]
