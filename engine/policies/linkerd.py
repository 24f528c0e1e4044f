"""Policy ``linkerd``: the endpoints Linkerd's destination controller sends.

Two halves, as in the controller:

* ``AddressBook``: the service's address set for each requested port, kept
  as Linkerd's port publishers keep it: each slice write removes the
  identities the slice's previous version gave, then adds its own (an
  endpoint explicitly not ready gives nothing).
* ``select``: the per-client filter, in Linkerd's order: hostname, filtering
  off, ``internalTrafficPolicy: Local`` (no fallback), any unhinted candidate
  disables zone filtering, zone match, empty match falls back to all; then the
  address-family choice for dual-stack pods.

``linkerd+nodes`` is this engine's opt-in extension: before the zone step,
when every candidate carries a node hint and some name the client's node,
only those are kept (PreferSameNode).  Linkerd itself never reads node hints.
"""
from __future__ import annotations

from array import array
from typing import Iterable, Optional, Union

import attrs

from .. import kernels
from ..events import ServiceUpserted, SlicePort, SliceUpserted
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
    identity: tuple  # Linkerd's address key; see candidates()
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

    def to_selected(self) -> SelectedEndpoint:
        return SelectedEndpoint(
            self.address, self.port, self.node, self.zone, self.for_zones, self.for_nodes,
            self.target, self.hostname,
        )


class CandidateSet:
    """A service port's address set, sorted by (address, port), with its
    hints interned into CSR arrays for the matching kernel and a cache of
    per-zone and per-node matches."""

    __slots__ = ("items", "unhinted", "_zone_ids", "_zone_offsets", "_zone_hints",
                 "_node_ids", "_node_offsets", "_node_hints", "_matches")

    def __init__(self, items: list[Candidate]):
        items.sort(key=lambda c: (c.address, c.port))
        self.items = items
        self._zone_ids, self._zone_offsets, self._zone_hints = _intern_hints(c.for_zones for c in items)
        self._node_ids, self._node_offsets, self._node_hints = _intern_hints(c.for_nodes for c in items)
        self.unhinted = sum(1 for c in items if not c.for_zones)
        self._matches: dict[tuple[str, str], tuple[Candidate, ...]] = {}

    def __len__(self) -> int:
        return len(self.items)

    def hinted_for_zone(self, zone: str) -> tuple[Candidate, ...]:
        return self._match("zone", zone, self._zone_ids, self._zone_offsets, self._zone_hints)

    def hinted_for_node(self, node: str) -> tuple[Candidate, ...]:
        return self._match("node", node, self._node_ids, self._node_offsets, self._node_hints)

    def all_node_hinted(self) -> bool:
        return all(c.for_nodes for c in self.items)

    def _match(self, kind: str, name: str, ids: dict, offsets: array, hints: array) -> tuple[Candidate, ...]:
        key = (kind, name)
        found = self._matches.get(key)
        if found is None:
            wanted = ids.get(name)
            if wanted is None:
                found = ()
            else:
                rows, _ = kernels.hint_match(offsets, hints, wanted)
                found = tuple(self.items[i] for i in rows)
            self._matches[key] = found
        return found


def _intern_hints(hint_lists: Iterable[tuple[str, ...]]) -> tuple[dict[str, int], array, array]:
    ids: dict[str, int] = {}
    offsets = array("i", [0])
    flat = array("i")
    for names in hint_lists:
        for name in names:
            flat.append(ids.setdefault(name, len(ids)))
        offsets.append(len(flat))
    return ids, offsets, flat


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
    endpoint_port = resolve_port(es.ports, target)
    if endpoint_port is None:
        return []
    pairs = []
    for ep in es.endpoints:
        if ep.ready is False:
            continue
        kind = ep.target_kind
        for address in ep.addresses:
            if kind is None:
                identity = ("", f"{service_name}-{address}-{endpoint_port}", ep.hostname or "")
                family = ""
            elif kind == POD:
                identity = (ep.target_namespace or "", ep.target_name or "", es.address_type)
                family = es.address_type
            elif kind == EXTERNAL_WORKLOAD:
                identity = (es.namespace, ep.target_name or "", "")
                family = ""
            else:
                continue
            pairs.append((identity, Candidate(
                identity, family, address, endpoint_port, kind == POD, ep.node_name, ep.zone,
                ep.hostname, ep.for_zones, ep.for_nodes, ep.target,
            )))
    return pairs


def build_addresses(service_name: str, slices: Iterable[SliceUpserted],
                    target: Union[int, str]) -> dict[tuple, Candidate]:
    """A fresh port publisher's address map: every slice added, oldest write
    first, so a later slice's address replaces an earlier one's with the same
    identity."""
    addresses: dict[tuple, Candidate] = {}
    for es in slices:
        addresses.update(slice_addresses(es, service_name, target))
    return addresses


class AddressBook:
    """Linkerd's address maps for one service, kept event by event as a
    destination controller that has watched since the start of the log keeps
    its port publishers: one per port the Service has ever declared, plus one
    shared by every port it never declared.

    History matters, exactly as in Linkerd: updating or deleting a slice
    removes every identity that slice gave, even when another slice still
    lists it, until that other slice is written again.  A publisher whose
    target changes (the Service appears, renames or drops the port) re-lists
    the current slices.  Deleting the Service empties every map (later slice
    events fill them again) but changes neither the targets nor the traffic
    policy, which only a Service update sets.

    Every undeclared port resolves each slice to the port number itself, so
    their maps differ only in that number: one map, with port 0 standing in,
    serves them all.
    """

    __slots__ = ("service_name", "local_traffic_policy", "undeclared", "by_port")

    def __init__(self, service_name: str):
        self.service_name = service_name
        self.local_traffic_policy = False
        self.undeclared: dict[tuple, Candidate] = {}
        # port number -> (target, address map), for every port a Service declared
        self.by_port: dict[int, tuple[Union[int, str], dict[tuple, Candidate]]] = {}

    def addresses(self, port: int) -> dict[tuple, Candidate]:
        """The address map a publisher for ``port`` holds now."""
        found = self.by_port.get(port)
        if found is not None:
            return found[1]
        return {identity: attrs.evolve(c, port=port) for identity, c in self.undeclared.items()}

    def _maps(self) -> Iterable[tuple[Union[int, str], dict[tuple, Candidate]]]:
        yield 0, self.undeclared
        yield from self.by_port.values()

    def service_upserted(self, service: ServiceUpserted, slices: Iterable[SliceUpserted]) -> None:
        self.local_traffic_policy = service.internal_traffic_policy == "Local"
        slices = list(slices)
        for port in {spec.port for spec in service.ports} | set(self.by_port):
            target = target_for(service, port)
            current = self.by_port.get(port)
            if current is None or current[0] != target:
                self.by_port[port] = (target, build_addresses(self.service_name, slices, target))

    def service_deleted(self) -> None:
        for _, addresses in self._maps():
            addresses.clear()

    def slice_upserted(self, old: Optional[SliceUpserted], new: SliceUpserted) -> None:
        for target, addresses in self._maps():
            if old is not None:
                for identity, _ in slice_addresses(old, self.service_name, target):
                    addresses.pop(identity, None)
            addresses.update(slice_addresses(new, self.service_name, target))

    def slice_deleted(self, old: SliceUpserted) -> None:
        for target, addresses in self._maps():
            for identity, _ in slice_addresses(old, self.service_name, target):
                addresses.pop(identity, None)

    def dump(self) -> list:
        return [
            self.local_traffic_policy,
            [_candidate_record(c) for c in self.undeclared.values()],
            [[port, target, [_candidate_record(c) for c in addresses.values()]]
             for port, (target, addresses) in self.by_port.items()],
        ]

    @classmethod
    def load(cls, service_name: str, image: list) -> "AddressBook":
        book = cls(service_name)
        local, undeclared, by_port = image
        book.local_traffic_policy = bool(local)
        book.undeclared = _address_map(undeclared)
        book.by_port = {port: (target, _address_map(records)) for port, target, records in by_port}
        return book


def _address_map(records: list) -> dict[tuple, Candidate]:
    candidates = (_candidate_from_record(r) for r in records)
    return {c.identity: c for c in candidates}


def _candidate_record(c: Candidate) -> list:
    return [list(c.identity), c.family, c.address, c.port, c.pod_backed, c.node, c.zone, c.hostname,
            list(c.for_zones), list(c.for_nodes), c.target]


def _candidate_from_record(r: list) -> Candidate:
    identity, family, address, port, pod_backed, node, zone, hostname, for_zones, for_nodes, target = r
    return Candidate(tuple(identity), family, address, port, pod_backed, node, zone, hostname,
                     tuple(for_zones), tuple(for_nodes), target)


@attrs.frozen(slots=True)
class Client:
    """Who is asking: the filter key of a Destination subscription."""

    node: Optional[str] = None
    zone: Optional[str] = None  # the node's zone label; None = unknown or unlabelled
    hostname: Optional[str] = None
    filtering: bool = True
    ipv6: bool = False  # Linkerd's --enable-ipv6 (the Helm chart's default is off)
    node_hints: bool = False  # the linkerd+nodes extension


def select(cands: CandidateSet, client: Client, local_traffic_policy: bool) -> tuple[str, tuple[Candidate, ...]]:
    """The rule that decided and the candidates ``client`` receives."""
    items: tuple[Candidate, ...] | list[Candidate] = cands.items
    unhinted = cands.unhinted
    if client.hostname is not None:
        items = [c for c in items if c.hostname == client.hostname]
        unhinted = sum(1 for c in items if not c.for_zones)
    if not items:
        return NO_ENDPOINTS, ()
    if not client.filtering:
        return FILTERING_OFF, _choose_family(items, client.ipv6)
    if local_traffic_policy:
        local = [c for c in items if c.pod_backed and client.node is not None and c.node == client.node]
        return LOCAL_TRAFFIC_POLICY, _choose_family(local, client.ipv6)
    if unhinted:
        return UNHINTED_ENDPOINT, _choose_family(items, client.ipv6)
    by_hostname = client.hostname is not None
    if client.node_hints and client.node is not None:
        all_node_hinted = all(c.for_nodes for c in items) if by_hostname else cands.all_node_hinted()
        if all_node_hinted:
            on_node = _only(items, cands.hinted_for_node(client.node)) if by_hostname else cands.hinted_for_node(client.node)
            if on_node:
                return NODE_HINTS, _choose_family(on_node, client.ipv6)
    # Linkerd compares the zone label as a string; an unlabelled node has "".
    zone = client.zone or ""
    in_zone = cands.hinted_for_zone(zone)
    if by_hostname:
        in_zone = _only(items, in_zone)
    if in_zone:
        return ZONE_HINTS, _choose_family(in_zone, client.ipv6)
    return NO_ZONE_MATCH, _choose_family(items, client.ipv6)


def _only(items, matched) -> list[Candidate]:
    keep = set(map(id, items))
    return [c for c in matched if id(c) in keep]


def _choose_family(items, ipv6: bool) -> tuple[Candidate, ...]:
    """Linkerd's address-family step: without IPv6, Pod IPv6 addresses are
    dropped; with it, a pod that has both families keeps only IPv6."""
    if not ipv6:
        return tuple(c for c in items if c.family != "IPv6")
    v6_pods = {c.identity[:2] for c in items if c.family == "IPv6"}
    if not v6_pods:
        return tuple(items)
    return tuple(c for c in items if not (c.family == "IPv4" and c.identity[:2] in v6_pods))
