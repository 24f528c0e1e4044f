"""kube-proxy's endpoint selection for one service port, as pure functions.

Three steps, in the order kube-proxy takes them:

1. ``proxy_endpoints``: the endpoint list kube-proxy builds from the
   service's EndpointSlices (pkg/proxy/endpointslicecache.go).
2. ``categorize``: the cluster / local / all-reachable sets and whether the
   service has usable endpoints anywhere (pkg/proxy/topology.go).
3. ``select``: what a client on a node reaches through the cluster IP, with
   the rule that decided it.

Hints are read as kube-proxy reads them: a topology mode is chosen from the
hints of *ready* endpoints only, then applied with no further fallback; the
terminating fallback ignores hints.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import Optional, TypeGuard

import attrs

from ..errors import LookupFailed
from ..events import Endpoint, ServicePort, ServiceUpserted, SliceUpserted
from ..ipv4 import STRICT_DOTTED_QUAD
from ..values import BuiltOnRead, SelectedEndpoint

# Topology modes, spelled as the trafficDistribution values kube-proxy uses.
PREFER_SAME_NODE = "PreferSameNode"
PREFER_SAME_ZONE = "PreferSameZone"

# Rules ``select`` and ``categorize`` report, for internal (cluster-IP) traffic.
RULES = {
    "node-hints": "every ready endpoint has a node hint, some for this node",
    "zone-hints": "every ready endpoint has a zone hint, some for this zone",
    "all-ready": "hints unusable here: every ready endpoint",
    "terminating-fallback": "no ready endpoint anywhere: serving+terminating ones",
    "local-traffic-policy": "internalTrafficPolicy Local: ready endpoints on this node (may be empty)",
    "local-terminating-fallback": "internalTrafficPolicy Local, none ready here: serving+terminating ones on this node",
    "no-endpoints": "nothing usable anywhere: kube-proxy rejects the traffic",
    "no-service": "no Service port to proxy: no Service, an ExternalName, or a port it does not declare "
    "for this protocol",
}

_ADDRESS_TYPES = ("IPv4", "IPv6")
_DOTTED_QUAD = re.compile(r"^([0-9]+)\.([0-9]+)\.([0-9]+)\.([0-9]+)$")


@attrs.frozen(slots=True)
class ProxyEndpoint:
    """kube-proxy's view of one endpoint of one service port."""

    address: str
    port: int
    ready: bool
    serving: bool
    terminating: bool
    is_local: bool
    zone_hints: frozenset[str] = frozenset()
    node_hints: frozenset[str] = frozenset()
    # The slice entry it came from; absent for endpoints built by hand.
    source: Optional[Endpoint] = attrs.field(default=None, eq=False, repr=False)

    @property
    def key(self) -> str:
        """``IP:port`` (``[IP]:port`` for IPv6): kube-proxy's identity of an endpoint."""
        if ":" in self.address:
            return f"[{self.address}]:{self.port}"
        return f"{self.address}:{self.port}"

    @property
    def serving_terminating(self) -> bool:
        """Still serving while shutting down: usable only when nothing is ready."""
        return self.serving and self.terminating

    def selected(self) -> SelectedEndpoint:
        """The result value; node, zone and target come from the slice entry when known."""
        src = self.source
        if src is None:
            return SelectedEndpoint(
                self.address,
                self.port,
                for_zones=tuple(sorted(self.zone_hints)),
                for_nodes=tuple(sorted(self.node_hints)),
                identity=(self.key,),
            )
        return SelectedEndpoint(
            self.address,
            self.port,
            node=src.node_name,
            zone=src.zone,
            for_zones=src.for_zones,
            for_nodes=src.for_nodes,
            target=src.target,
            hostname=src.hostname,
            identity=(self.key,),
        )


@attrs.frozen(slots=True)
class Categorized:
    """kube-proxy's endpoint sets for one service port on one node.

    ``cluster`` / ``local`` are ``None`` when the service port never uses
    that traffic policy (an empty tuple means "used, but nothing usable").
    ``all`` is every endpoint reachable from this node through either set.
    ``has_any`` is true when a usable endpoint exists anywhere in the
    cluster, even if ``all`` is empty.  ``rule`` (one of ``RULES``) says how
    internal traffic is served; ``mode`` is the topology mode applied to the
    cluster set, or ``None``.
    """

    cluster: Optional[tuple[ProxyEndpoint, ...]]
    local: Optional[tuple[ProxyEndpoint, ...]]
    all: tuple[ProxyEndpoint, ...]
    has_any: bool
    rule: str
    mode: Optional[str] = None


# ---------------------------------------------------------------------------
# Service facts


def proxied(service: Optional[ServiceUpserted]) -> TypeGuard[ServiceUpserted]:
    """Whether kube-proxy programs rules for this service at all."""
    return service is not None and service.type != "ExternalName"


def service_port(service: ServiceUpserted, port: int, protocol: Optional[str] = None) -> ServicePort:
    """The Service port with this number (and protocol, when given); first in spec order."""
    for sp in service.ports:
        if sp.port == port and (protocol is None or sp.protocol == protocol):
            return sp
    wanted = f"{port}/{protocol}" if protocol else str(port)
    raise LookupFailed(f"service {service.key} has no port {wanted}")


def externally_accessible(service: ServiceUpserted, sp: ServicePort) -> bool:
    """Reachable other than by cluster IP: a node port, external IPs or a load-balancer VIP."""
    return sp.node_port != 0 or service.external_addresses


def external_policy_local(service: ServiceUpserted) -> bool:
    # The API helper only honours externalTrafficPolicy on types that accept
    # external traffic; a ClusterIP service does only when it has external IPs.
    if service.external_traffic_policy != "Local":
        return False
    return service.type in ("NodePort", "LoadBalancer") or (service.type == "ClusterIP" and service.external_addresses)


def internal_policy_local(service: ServiceUpserted) -> bool:
    return service.internal_traffic_policy == "Local"


def uses_cluster_endpoints(service: ServiceUpserted, sp: ServicePort) -> bool:
    # External traffic always needs the cluster set, even under an external
    # Local policy, for traffic that short-circuits to the cluster chain.
    return not internal_policy_local(service) or externally_accessible(service, sp)


def uses_local_endpoints(service: ServiceUpserted, sp: ServicePort) -> bool:
    return internal_policy_local(service) or (external_policy_local(service) and externally_accessible(service, sp))


# ---------------------------------------------------------------------------
# Step 1: endpoints from slices


def canonical_ip(address: str) -> str:
    """The address as kube-proxy prints it after a lenient parse.

    IPv4 octets may carry leading zeros (read as decimal); IPv6 is written
    compressed, and an IPv4-mapped IPv6 address as plain IPv4.  A string that
    is no IP at all is kept as it is (the API server rejects those for IPv4
    and IPv6 slices, so only hand-made input reaches this).
    """
    if STRICT_DOTTED_QUAD.fullmatch(address):
        return address  # printed already: most addresses, without parsing them
    quad = _DOTTED_QUAD.match(address)
    if quad:
        octets = [int(part) for part in quad.groups()]
        if all(o <= 255 for o in octets):
            return ".".join(map(str, octets))
        return address
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id is not None:
            return address
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
    return str(ip)


def _family(slices: Sequence[SliceUpserted], ip_family: Optional[str]) -> str:
    if ip_family is not None:
        if ip_family not in _ADDRESS_TYPES:
            raise LookupFailed(f"kube-proxy: unknown IP family {ip_family!r} (IPv4 or IPv6)")
        return ip_family
    # One kube-proxy instance serves one family; without a choice, take the
    # cluster's primary one as IPv4 unless the service has only IPv6 slices.
    if any(s.address_type == "IPv4" for s in slices):
        return "IPv4"
    if any(s.address_type == "IPv6" for s in slices):
        return "IPv6"
    return "IPv4"


@attrs.frozen(slots=True)
class PortEndpoints:
    """A service port's endpoints as kube-proxy builds them, before any
    client: what ``proxy_endpoints`` gives every node, with no endpoint
    marked local yet.  Built once per change of the service, it serves every
    client (only the few endpoints on the client's node differ)."""

    endpoints: tuple[ProxyEndpoint, ...]  # sorted by (address, port); is_local is False
    on_node: dict  # node name -> positions of the endpoints on that node

    def for_node(self, node_name: Optional[str]) -> list[ProxyEndpoint]:
        found = list(self.endpoints)
        if node_name:  # an unnamed node has no local endpoints
            for i in self.on_node.get(node_name, ()):
                found[i] = attrs.evolve(found[i], is_local=True)
        return found


def port_endpoints(
    service: Optional[ServiceUpserted],
    slices: Sequence[SliceUpserted],
    port: int,
    *,
    protocol: Optional[str] = None,
    ip_family: Optional[str] = None,
) -> PortEndpoints:
    """kube-proxy's endpoints for Service port ``port`` (see ``proxy_endpoints``), for no node yet."""
    if not proxied(service):
        return PortEndpoints((), {})
    sp = service_port(service, port, protocol)
    own = [s for s in slices if s.namespace == service.namespace and s.service == service.name]
    family = _family(own, ip_family)
    by_key: dict[str, ProxyEndpoint] = {}
    # Endpoints share a few hint lists: one frozenset for each.
    hint_sets: dict[tuple[str, ...], frozenset[str]] = {}

    def hint_set(names: tuple[str, ...]) -> frozenset[str]:
        found = hint_sets.get(names)
        if found is None:
            found = hint_sets[names] = frozenset(names)
        return found

    for slc in sorted(own, key=lambda s: s.name):
        if slc.address_type != family:
            continue
        for slice_port in slc.ports:
            if slice_port.name != sp.name or slice_port.protocol != sp.protocol:
                continue
            if not slice_port.port:
                continue
            for entry in slc.endpoints:
                if not entry.addresses:
                    continue
                endpoint = ProxyEndpoint(
                    address=canonical_ip(entry.addresses[0]),
                    port=slice_port.port,
                    ready=entry.is_ready,
                    serving=entry.is_serving,
                    terminating=entry.is_terminating,
                    is_local=False,
                    zone_hints=hint_set(entry.for_zones),
                    node_hints=hint_set(entry.for_nodes),
                    source=entry,
                )
                # An IP reused by a new pod while the old one terminates must
                # resolve to the running pod, whatever order the slices come in.
                key = endpoint.key
                if key not in by_key or not endpoint.terminating:
                    by_key[key] = endpoint
    endpoints = tuple(sorted(by_key.values(), key=lambda e: (e.address, e.port)))
    on_node: dict[str, list[int]] = {}
    for i, endpoint in enumerate(endpoints):
        node = endpoint.source.node_name if endpoint.source is not None else None  # built here: always a source
        if node is not None:
            on_node.setdefault(node, []).append(i)
    return PortEndpoints(endpoints, on_node)


def proxy_endpoints(
    service: Optional[ServiceUpserted],
    slices: Sequence[SliceUpserted],
    port: int,
    node_name: Optional[str],
    *,
    protocol: Optional[str] = None,
    ip_family: Optional[str] = None,
) -> list[ProxyEndpoint]:
    """kube-proxy's endpoints for Service port ``port``, sorted by (address, port).

    Slices of other services and of the other address family (and FQDN
    slices) are ignored.  A slice port serves the Service port with the same
    name *and* protocol; slice ports without a number are ignored.  Only
    ``addresses[0]`` of an entry is used.  Two entries with the same IP:port
    collapse into one: a non-terminating entry replaces an earlier one, a
    terminating entry never replaces.  Slices are read in name order so the
    outcome does not depend on the order they are passed in.  Endpoints on
    ``node_name`` are local.
    """
    return port_endpoints(service, slices, port, protocol=protocol, ip_family=ip_family).for_node(node_name)


# ---------------------------------------------------------------------------
# Step 2: categorize


def topology_mode(
    endpoints: Sequence[ProxyEndpoint], node_name: str, zone: str, *, prefer_same_node: bool = True
) -> Optional[str]:
    """The topology mode the hints of the ready endpoints allow on this node, or None."""
    ready = [e for e in endpoints if e.ready]
    if not ready:
        return None
    if prefer_same_node and all(e.node_hints for e in ready):
        if any(node_name in e.node_hints for e in ready):
            return PREFER_SAME_NODE
    if all(e.zone_hints for e in ready) and any(zone in e.zone_hints for e in ready):
        return PREFER_SAME_ZONE
    return None


def _in_topology(endpoint: ProxyEndpoint, mode: Optional[str], node_name: str, zone: str) -> bool:
    if mode == PREFER_SAME_NODE:
        return node_name in endpoint.node_hints
    if mode == PREFER_SAME_ZONE:
        return zone in endpoint.zone_hints
    return True


def categorize(
    endpoints: Sequence[ProxyEndpoint],
    service: Optional[ServiceUpserted],
    port: int,
    node_name: Optional[str],
    node_zone: Optional[str],
    *,
    prefer_same_node: bool = True,
    protocol: Optional[str] = None,
) -> Categorized:
    """Split ``endpoints`` (already built for this node) the way kube-proxy does.

    ``prefer_same_node`` stands for the PreferSameTrafficDistribution gate
    (on by default since 1.34, locked on since 1.35); off, node hints are
    ignored.  Sets keep the order of ``endpoints``.
    """
    if not proxied(service):
        return Categorized(None, None, (), False, "no-service")
    sp = service_port(service, port, protocol)
    if not endpoints:
        return Categorized(None, None, (), False, "no-endpoints")
    node = node_name or ""
    zone = node_zone or ""

    cluster: Optional[tuple[ProxyEndpoint, ...]] = None
    mode: Optional[str] = None
    cluster_fallback = False
    has_any = False
    if uses_cluster_endpoints(service, sp):
        mode = topology_mode(endpoints, node, zone, prefer_same_node=prefer_same_node)
        cluster = tuple(e for e in endpoints if e.ready and _in_topology(e, mode, node, zone))
        if not cluster:
            # A mode is only chosen when it keeps a ready endpoint, so an
            # empty set here means nothing is ready anywhere.
            cluster = tuple(e for e in endpoints if e.serving_terminating)
            cluster_fallback = bool(cluster)
        has_any = bool(cluster)

    local: Optional[tuple[ProxyEndpoint, ...]] = None
    local_fallback = False
    uses_local = uses_local_endpoints(service, sp)
    if uses_local:
        usable = [e for e in endpoints if e.ready or e.serving_terminating]
        has_any = has_any or bool(usable)
        if any(e.is_local and e.ready for e in endpoints):
            local = tuple(e for e in endpoints if e.is_local and e.ready)
        elif any(e.is_local and e.serving_terminating for e in endpoints):
            local = tuple(e for e in endpoints if e.is_local and e.serving_terminating)
            local_fallback = True
        # else: the Local policy is in use but nothing is usable on this node.

    if not uses_local:
        everything = cluster or ()
    elif cluster is None:
        everything = local or ()
    elif mode is None and not local_fallback:
        # Untopologized ready endpoints already include every local ready one.
        everything = cluster
    else:
        members = {e.key for e in cluster} | {e.key for e in local or ()}
        everything = tuple(e for e in endpoints if e.key in members)

    if not has_any:
        rule = "no-endpoints"
    elif internal_policy_local(service):
        rule = "local-terminating-fallback" if local_fallback else "local-traffic-policy"
    elif cluster_fallback:
        rule = "terminating-fallback"
    elif mode == PREFER_SAME_NODE:
        rule = "node-hints"
    elif mode == PREFER_SAME_ZONE:
        rule = "zone-hints"
    else:
        rule = "all-ready"
    return Categorized(cluster, local, everything, has_any, rule, mode)


def internal_endpoints(categorized: Categorized, service: Optional[ServiceUpserted]) -> tuple[ProxyEndpoint, ...]:
    """The set cluster-IP traffic is sent to: the local set under internal Local, else the cluster set."""
    if not categorized.has_any or service is None:
        return ()
    if internal_policy_local(service):
        return categorized.local or ()
    return categorized.cluster or ()


# ---------------------------------------------------------------------------
# Step 3: select


@attrs.frozen(slots=True)
class Choice:
    rule: str  # one of RULES
    endpoints: Sequence[SelectedEndpoint]  # sorted by (address, port)
    candidates: int  # the endpoints kube-proxy chose from


def select(
    service: Optional[ServiceUpserted],
    slices: Sequence[SliceUpserted],
    port: int,
    node_name: Optional[str],
    node_zone: Optional[str],
    *,
    prefer_same_node: bool = True,
    protocol: Optional[str] = None,
    ip_family: Optional[str] = None,
) -> Choice:
    """What a client on ``node_name`` reaches through the cluster IP.

    Raises LookupFailed when the Service has no such port.
    """
    endpoints = port_endpoints(service, slices, port, protocol=protocol, ip_family=ip_family)
    return choose(service, endpoints, port, node_name, node_zone, prefer_same_node=prefer_same_node, protocol=protocol)


def choose(
    service: Optional[ServiceUpserted],
    endpoints: PortEndpoints,
    port: int,
    node_name: Optional[str],
    node_zone: Optional[str],
    *,
    prefer_same_node: bool = True,
    protocol: Optional[str] = None,
) -> Choice:
    """``select`` from the port's endpoints already built (``port_endpoints``)."""
    mine = endpoints.for_node(node_name)
    categorized = categorize(
        mine, service, port, node_name, node_zone, prefer_same_node=prefer_same_node, protocol=protocol
    )
    chosen = internal_endpoints(categorized, service)
    # Sets keep the order of the endpoints, which is (address, port): the
    # values come out sorted, and are built only when read.
    return Choice(categorized.rule, BuiltOnRead(chosen, ProxyEndpoint.selected), len(mine))
