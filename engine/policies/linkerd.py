"""Policy ``linkerd``: the endpoints Linkerd's destination controller sends.

The rule, written once, in two steps as kube-proxy's topology.go writes its
own: ``decide`` reads a few facts of the candidate set (how many candidates,
how many carry no zone hint, how many are hinted for the client's zone, ...)
and chooses the rule and what it keeps; the index then applies that choice
to its rows, followed by the address-family step.  Deciding needs no walk
over the candidates, which is what lets cached selections and subscriptions
be kept up to date row by row.

Linkerd's filter, in its order: hostname lookup (only that hostname);
filtering off (every candidate); ``internalTrafficPolicy: Local`` (Pod
candidates on the client's node, no fallback); any candidate without a zone
hint (every candidate); candidates hinted for the client's zone; none of
them (every candidate).  Then the address family: without IPv6, Pod IPv6
addresses are dropped; with it, a pod that has both keeps only IPv6.

``linkerd+nodes`` is this engine's opt-in extension: before the zone step,
when every candidate carries a node hint and some name the client's node,
only those are kept (PreferSameNode).  Linkerd itself never reads node hints.

The candidate set (``AddressSet`` below) is what engine/index keeps: Linkerd's
address map for the port, folded event by event because it depends on the
order of past events (see engine/index/book.py).
"""

from __future__ import annotations

from typing import Optional, Protocol, Union

import attrs

from ..events import ServiceUpserted, SlicePort
from ..values import Step

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

# What a decision keeps of the candidates (before the address-family step).
KEEP_NONE = "none"
KEEP_ALL = "all"
KEEP_LOCAL = "local"  # Pod candidates on the node named by the argument
KEEP_NODE_HINT = "node-hint"  # candidates hinted for the node named by the argument
KEEP_ZONE = "zone"  # candidates hinted for the zone named by the argument

# targetRef kinds that give addresses (besides no targetRef at all).
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
class Client:
    """Who is asking: the filter key of a Destination subscription."""

    node: Optional[str] = None
    zone: Optional[str] = None  # the node's zone label; None = unknown or unlabelled
    hostname: Optional[str] = None
    filtering: bool = True
    ipv6: bool = False  # Linkerd's --enable-ipv6 (the Helm chart's default is off)
    node_hints: bool = False  # the linkerd+nodes extension


class AddressSet(Protocol):
    """The facts ``decide`` reads of a port's candidates."""

    def __len__(self) -> int: ...

    def unhinted(self) -> int: ...  # candidates without a zone hint

    def node_unhinted(self) -> int: ...  # candidates without a node hint

    def hinted_for_zone(self, zone: str) -> int: ...

    def hinted_for_node(self, node: str) -> int: ...

    def on_node(self, node: Optional[str]) -> int: ...  # Pod candidates on that node

    def with_hostname(self, hostname: str) -> AddressSet: ...


@attrs.frozen(slots=True)
class Decision:
    rule: str
    keep: str  # a KEEP_* value
    argument: Optional[str] = None  # the node or zone KEEP_* names
    hostname: Optional[str] = None  # the hostname step, when the client asked for one
    ipv6: bool = False  # the address-family step


def decide(
    cands: AddressSet, client: Client, local_traffic_policy: bool, trace: Optional[list[Step]] = None
) -> Decision:
    """The rule that applies to ``client`` and what it keeps.  With
    ``trace``, each step taken is appended to it with the count it leaves."""

    def step(name: str, count: int, detail: str) -> None:
        if trace is not None:
            trace.append(Step(name, count, detail))

    def decision(rule: str, keep: str, argument: Optional[str] = None) -> Decision:
        return Decision(rule, keep, argument, client.hostname, client.ipv6)

    if client.hostname is not None:
        cands = cands.with_hostname(client.hostname)
        step("hostname", len(cands), f"hostname lookup: only {client.hostname}")
    total = len(cands)
    if not total:
        return decision(NO_ENDPOINTS, KEEP_NONE)
    if not client.filtering:
        return decision(FILTERING_OFF, KEEP_ALL)
    node = client.node
    if local_traffic_policy:
        if trace is not None:  # counting walks the candidates: only when asked
            where = f"node {node}" if node is not None else "no client node"
            step(
                LOCAL_TRAFFIC_POLICY,
                cands.on_node(node),
                f"internalTrafficPolicy Local: Pod endpoints on {where} only, hints ignored, no fallback",
            )
        if node is None:
            return decision(LOCAL_TRAFFIC_POLICY, KEEP_NONE)
        return decision(LOCAL_TRAFFIC_POLICY, KEEP_LOCAL, node)
    step(LOCAL_TRAFFIC_POLICY, total, "internalTrafficPolicy Cluster: not applied")
    unhinted = cands.unhinted()
    if unhinted:
        step("unhinted", total, f"{unhinted} of {total} candidates have no zone hint: every candidate")
        return decision(UNHINTED_ENDPOINT, KEEP_ALL)
    step("unhinted", total, "every candidate has a zone hint")
    if client.node_hints:
        missing = cands.node_unhinted()
        on_node = cands.hinted_for_node(node) if node is not None and not missing else 0
        if node is None:
            step(NODE_HINTS, total, "no client node: node hints not used")
        elif missing:
            step(NODE_HINTS, total, f"{missing} of {total} candidates have no node hint: node hints not used")
        elif not on_node:
            step(NODE_HINTS, total, f"no candidate is hinted for node {node}: node hints not used")
        else:
            step(NODE_HINTS, on_node, f"every candidate has a node hint; {on_node} for node {node}")
            return decision(NODE_HINTS, KEEP_NODE_HINT, node)
    # Linkerd compares the zone label as a string; an unlabelled node has "".
    zone = client.zone or ""
    in_zone = cands.hinted_for_zone(zone)
    shown = zone or "'' (the client has no zone)"
    step(ZONE_HINTS, in_zone, f"{in_zone} of {total} candidates are hinted for zone {shown}")
    if in_zone:
        return decision(ZONE_HINTS, KEEP_ZONE, zone)
    step("fallback", total, "no candidate is hinted for the client's zone: every candidate")
    return decision(NO_ZONE_MATCH, KEEP_ALL)
