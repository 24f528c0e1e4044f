"""Why a client gets what it gets: a policy's decision, step by step.

``explain`` retraces one selection (the same question ``Engine.endpoints``
answers) and records, at each step the policy takes, how many endpoints are
left and why; the rule that decided; and, for one endpoint address, why it
is in the result or which step left it out.

For the Linkerd policies the candidates are the index's own (Linkerd's
address set depends on the order of past events, so it cannot be rebuilt
from the current slices); the steps are the trace the policy records as it
decides, and which candidates each step keeps is what the index applies.
What is left here is saying why: for each candidate a step dropped, and for
each listing in the slices that never became a candidate.  The kube-proxy
policy is retraced with its own pure functions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Optional

import attrs

from .errors import ArgumentError
from .events import Endpoint, SliceUpserted
from .policies import kube_proxy, linkerd, rule_text
from .render import table
from .values import SelectedEndpoint, Step, target_text

if TYPE_CHECKING:
    from .api import Engine

POD, EXTERNAL_WORKLOAD = linkerd.POD, linkerd.EXTERNAL_WORKLOAD

ZONE_SOURCES = {
    "node-label": "the topology.kubernetes.io/zone label of the client's node",
    "node-without-zone": "the client's node has no zone label",
    "unknown-node": "the client's node is not in the cluster",
    "given": "given directly, no node",
    "none": "neither a node nor a zone was given",
}

# Why one endpoint is in or out of the result.
VERDICTS = {
    "selected": "in the result",
    "not-in-slices": "no slice of the service lists this address (and port)",
    "no-port": "its slice gives no endpoint port for the requested Service port",
    "not-ready": "not ready",
    "unsupported-target": "its targetRef is of a kind Linkerd does not serve",
    "replaced": "another address with the same identity, written later, took its place",
    "lost": "removed from Linkerd's address set when another slice listing the same identity changed",
    "hostname": "another hostname than the one looked up",
    "not-pod": "not Pod-backed, and internalTrafficPolicy is Local",
    "other-node": "on another node than the client's, and the traffic policy is Local",
    "no-client-node": "the traffic policy is Local and the client's node is unknown",
    "node-hint": "not hinted for the client's node",
    "zone-hint": "not hinted for the client's zone",
    "address-family": "dropped by the address-family step",
    "other-family": "in a slice of the address family kube-proxy does not serve here",
    "not-first-address": "kube-proxy uses only addresses[0] of an entry",
    "duplicate": "another entry with the same IP:port is the one kube-proxy keeps",
    "not-serving-terminating": "not serving+terminating, and only those are used when nothing is ready",
    "no-endpoints": "nothing is usable anywhere",
    "no-service": "no Service, or one kube-proxy does not proxy",
}


@attrs.frozen(slots=True)
class Verdict:
    """Why one listing of an address is in or out."""

    address: str
    port: Optional[int]  # None when its slice gives no port for this Service port
    slice: Optional[str]  # "ns/name" of the slice it comes from, when known
    selected: bool
    reason: str  # a VERDICTS key
    detail: str

    def to_json(self) -> dict:
        return {
            "address": self.address,
            "port": self.port,
            "slice": self.slice,
            "selected": self.selected,
            "reason": self.reason,
            "detail": self.detail,
        }


@attrs.frozen(slots=True)
class Explanation:
    service: str
    port: int
    protocol: str
    policy: str
    node: Optional[str]
    zone: Optional[str]  # the client zone the policy used
    zone_source: str  # a ZONE_SOURCES key
    hostname: Optional[str]
    steps: tuple[Step, ...]
    rule: str
    candidates: int  # what Selection.candidates reports
    endpoints: tuple[SelectedEndpoint, ...]  # the result, sorted by (address, port)
    endpoint: Optional[str] = None  # the --endpoint query
    verdicts: tuple[Verdict, ...] = ()

    @property
    def rule_text(self) -> str:
        return rule_text(self.policy, self.rule)

    def to_json(self) -> dict:
        return {
            "service": self.service,
            "port": self.port,
            "protocol": self.protocol,
            "policy": self.policy,
            "client": {
                "node": self.node,
                "zone": self.zone,
                "zone_source": self.zone_source,
                "hostname": self.hostname,
            },
            "steps": [s.to_json() for s in self.steps],
            "rule": self.rule,
            "rule_text": self.rule_text,
            "candidates": self.candidates,
            "endpoints": [e.to_json() for e in self.endpoints],
            "endpoint": None
            if self.endpoint is None
            else {
                "query": self.endpoint,
                "verdicts": [v.to_json() for v in self.verdicts],
            },
        }


def explain(
    engine: Engine,
    service: str,
    port: int,
    *,
    node: Optional[str] = None,
    zone: Optional[str] = None,
    policy: str = "linkerd",
    protocol: str = "TCP",
    endpoint: Optional[str] = None,
    ipv6: bool = False,
    hostname: Optional[str] = None,
) -> Explanation:
    """The decision ``engine.endpoints(service, port, node=, zone=, policy=, ...)`` makes, step by step.

    ``endpoint`` is ``ADDRESS``, ``ADDRESS:PORT`` or ``[IPv6]:PORT`` (the
    endpoint port).  ``ipv6`` and ``hostname`` apply to the Linkerd policies
    only, as in ``Engine.endpoints``.  Raises LookupFailed and ArgumentError
    as ``Engine.endpoints`` does for an unknown service or port and for bad
    arguments.
    """
    query = parse_endpoint(endpoint) if endpoint is not None else None
    # A strict query checks the question exactly as Engine.endpoints does.
    protocol = engine.endpoints(
        service, port, node=node, zone=zone, policy=policy, protocol=protocol, hostname=hostname, ipv6=ipv6
    ).protocol
    zone_source, client_zone = _client_zone(engine.state, node, zone)
    if policy == "kube-proxy":
        trace = _KubeProxyTrace(engine, service, port, protocol, node, client_zone)
    else:
        trace = _LinkerdTrace(engine, service, port, node, client_zone, hostname, ipv6, policy == "linkerd+nodes")
    verdicts = trace.verdicts(*query) if query is not None else ()
    return Explanation(
        service=service,
        port=port,
        protocol=protocol,
        policy=policy,
        node=node,
        zone=client_zone,
        zone_source=zone_source,
        hostname=hostname if policy != "kube-proxy" else None,
        steps=tuple(trace.steps),
        rule=trace.rule,
        candidates=trace.candidate_count,
        endpoints=tuple(sorted(trace.final)),
        endpoint=endpoint,
        verdicts=tuple(verdicts),
    )


def parse_endpoint(text: str) -> tuple[str, Optional[int]]:
    """``ADDRESS``, ``ADDRESS:PORT`` or ``[IPv6]:PORT`` -> (address, port or None)."""
    address, port = text, None
    if text.startswith("["):
        address, _, rest = text[1:].partition("]")
        if rest:
            port = _port_number(text, rest[1:] if rest.startswith(":") else None)
    elif text.count(":") == 1:
        address, rest = text.split(":")
        port = _port_number(text, rest)
    if not address:
        raise ArgumentError(f"{text!r}: no address (expected ADDRESS or ADDRESS:PORT)", argument="endpoint")
    return address, port


def _port_number(text: str, digits: Optional[str]) -> int:
    if digits is None or not digits.isdigit() or not 0 < int(digits) <= 65535:
        raise ArgumentError(f"{text!r}: expected ADDRESS, ADDRESS:PORT or [IPv6]:PORT", argument="endpoint")
    return int(digits)


def _client_zone(state, node: Optional[str], zone: Optional[str]) -> tuple[str, Optional[str]]:
    """Where the client's zone comes from, and the zone; as Engine.endpoints decides it."""
    if node is not None:
        found = state.nodes.get(node)
        if found is None:
            return "unknown-node", None
        return ("node-label", found.zone) if found.zone else ("node-without-zone", None)
    if zone is not None:
        return "given", zone
    return "none", None


def _same_address(a: str, b: str) -> bool:
    return a == b or kube_proxy.canonical_ip(a) == kube_proxy.canonical_ip(b)


def _names(names: Sequence[str]) -> str:
    return ",".join(names) if names else "none"


def _plural(count: int, one: str, many: Optional[str] = None) -> str:
    return f"{count} {one}" if count == 1 else f"{count} {many or one + 's'}"


# ---------------------------------------------------------------------------
# Linkerd


@attrs.frozen(slots=True)
class _Candidate:
    value: SelectedEndpoint
    # "IPv6" / "IPv4": a Pod address from a slice of that address type; "":
    # any other candidate, which the address-family step never drops.
    family: str

    @property
    def pod(self) -> Optional[str]:
        target = self.value.target
        return target if target is not None and target.startswith(POD + "/") else None


class _LinkerdTrace:
    def __init__(
        self,
        engine: Engine,
        service: str,
        port: int,
        node: Optional[str],
        zone: Optional[str],
        hostname: Optional[str],
        ipv6: bool,
        node_hints: bool,
    ) -> None:
        self.state = engine.state
        self.service, self.port, self.node, self.zone = service, port, node, zone
        self.hostname, self.ipv6 = hostname, ipv6
        cands = engine.index.candidates(service, port)
        pub = cands.publisher
        self._rows = list(pub.sort(cands.book.table, pub.rows()))
        families = {cands.book.core.S_IPV4: "IPv4", cands.book.core.S_IPV6: "IPv6"}
        self.candidates = [_Candidate(cands.value(r), families.get(pub.row(r)[1], "")) for r in self._rows]
        self.candidate_count = len(cands)
        self.local_traffic_policy = engine.index.local_traffic_policy(service)
        self.rows = self._rows_listed()
        self.steps: list[Step] = [Step("candidates", len(self.candidates), self._candidates_detail())]
        self.out: dict[int, tuple[str, str]] = {}  # candidate index -> (verdict, detail)
        client = linkerd.Client(node=node, zone=zone, hostname=hostname, ipv6=ipv6, node_hints=node_hints)
        decision = linkerd.decide(cands, client, self.local_traffic_policy, trace=self.steps)
        self.rule = decision.rule
        kind, arg, host = cands.filter_of(decision)
        host_kind = cands.book.core.F_ALL
        chosen = set(cands.select(decision))
        for i, row in enumerate(self._rows):
            if not pub.passes(row, host_kind, 0, host):
                other = self.candidates[i].value.hostname
                self.out[i] = ("hostname", f"hostname {other or 'none'}, not {hostname}")
            elif not pub.passes(row, kind, arg, host):
                self.out[i] = self._filtered_out(self.candidates[i])
            elif row not in chosen:
                self.out[i] = self._other_family(i)
        if self.rule != linkerd.NO_ENDPOINTS:
            kept = len(chosen)
            dropped = sum(1 for reason, _ in self.out.values() if reason == "address-family")
            detail = (
                "IPv6 on: a pod with both families keeps only its IPv6 address"
                if ipv6
                else "IPv6 off: Pod IPv6 addresses dropped"
            )
            self.steps.append(Step("address-family", kept, f"{detail} ({dropped} dropped)"))
        self.final = [self.candidates[i].value for i, row in enumerate(self._rows) if row in chosen]

    def _filtered_out(self, c: _Candidate) -> tuple[str, str]:
        """Why the rule's filter dropped a candidate."""
        v = c.value
        if self.rule == linkerd.LOCAL_TRAFFIC_POLICY:
            if c.pod is None:
                return "not-pod", f"target {v.target or 'none'}: only Pod endpoints count under a Local policy"
            if self.node is None:
                return "no-client-node", "no client node given: a Local policy keeps nothing"
            return "other-node", f"on node {v.node or 'unknown'}, not {self.node}"
        if self.rule == linkerd.NODE_HINTS:
            return "node-hint", f"hinted for nodes {_names(v.for_nodes)}, not {self.node}"
        shown = self.zone or "'' (the client has no zone)"
        return "zone-hint", f"hinted for zones {_names(v.for_zones)}, not {shown}"

    def _other_family(self, i: int) -> tuple[str, str]:
        if not self.ipv6:
            return "address-family", "a Pod's IPv6 address, and IPv6 is off"
        pod = self.candidates[i].pod
        v6 = next(c.value for c in self.candidates if c.pod == pod and c.family == "IPv6")
        return "address-family", f"its pod also has IPv6 address {v6.address}, which is preferred"

    # -- why the candidates are what they are ----------------------------------

    def _rows_listed(self) -> list[tuple[SliceUpserted, Endpoint, str, Optional[int]]]:
        """Every (slice, entry, address, endpoint port) the service's slices list."""
        target = self._port_target()
        rows = []
        for s in self.state.slices_of(self.service):
            endpoint_port = linkerd.resolve_port(s.ports, target)
            for entry in s.endpoints:
                for address in entry.addresses:
                    rows.append((s, entry, address, endpoint_port))
        return rows

    def _port_target(self):
        return linkerd.target_for(self.state.services.get(self.service), self.port)

    def _row_problem(
        self, s: SliceUpserted, entry: Endpoint, endpoint_port: Optional[int]
    ) -> Optional[tuple[str, str]]:
        """Why a listing can never be a candidate, from the listing alone."""
        if endpoint_port is None:
            target = self._port_target()
            if not s.ports:
                return "no-port", f"slice {s.name} lists no ports"
            return "no-port", f"slice {s.name} has no port named {target!r} (Service port {self.port})"
        if entry.ready is False:
            return "not-ready", f"explicitly not ready in slice {s.name} (Linkerd skips only ready: false)"
        if entry.target_kind not in (None, POD, EXTERNAL_WORKLOAD):
            return "unsupported-target", (
                f"targetRef kind {entry.target_kind}: Linkerd serves Pod, ExternalWorkload or no targetRef"
            )
        return None

    def _candidates_detail(self) -> str:
        rows = self.rows
        problems = Counter(p[0] for p in (self._row_problem(s, e, port) for s, e, _, port in self.rows) if p)
        eligible = len(rows) - sum(problems.values())
        target = self._port_target()
        mapping = f"slice port named {target!r}" if isinstance(target, str) else "the port number itself"
        parts = [
            f"{_plural(len(rows), 'address', 'addresses')} listed in "
            f"{_plural(len({s.key for s, *_ in rows}), 'slice')}; Service port {self.port} maps to {mapping}"
        ]
        labels = {
            "no-port": "without a port for it",
            "not-ready": "explicitly not ready",
            "unsupported-target": "with a targetRef of another kind",
        }
        parts += [f"{problems[code]} {label}" for code, label in labels.items() if problems[code]]
        merged = eligible - len(self.candidates)
        if merged > 0:
            parts.append(f"{merged} sharing an identity with another address (one is kept)")
        return "; ".join(parts)

    # -- one endpoint ----------------------------------------------------------

    def verdicts(self, address: str, port: Optional[int]) -> list[Verdict]:
        found = []
        values: Counter[SelectedEndpoint] = Counter()
        for i, c in enumerate(self.candidates):
            v = c.value
            values[v] += 1
            if _same_address(v.address, address) and (port is None or v.port == port):
                found.append(self._candidate_verdict(i))
        for s, entry, listed, endpoint_port in self.rows:
            if not _same_address(listed, address):
                continue
            if port is not None and endpoint_port is not None and endpoint_port != port:
                continue
            if endpoint_port is not None and _as_selected(entry, listed, endpoint_port) in values:
                continue  # the candidate itself, already explained
            found.append(self._row_verdict(s, entry, listed, endpoint_port))
        if not found:
            return [_absent(address, port)]
        return found

    def _candidate_verdict(self, i: int) -> Verdict:
        v = self.candidates[i].value
        source = self._source_slice(v)
        if i in self.out:
            reason, detail = self.out[i]
            return Verdict(v.address, v.port, source, False, reason, detail)
        return Verdict(v.address, v.port, source, True, "selected", _LINKERD_SELECTED[self.rule])

    def _source_slice(self, v: SelectedEndpoint) -> Optional[str]:
        """The slice written last that lists exactly this candidate."""
        source = None
        for s, entry, listed, endpoint_port in self.rows:
            if endpoint_port is not None and _as_selected(entry, listed, endpoint_port) == v:
                source = s.key
        return source

    def _row_verdict(self, s: SliceUpserted, entry: Endpoint, address: str, endpoint_port: Optional[int]) -> Verdict:
        problem = self._row_problem(s, entry, endpoint_port)
        if problem is not None:
            return Verdict(address, endpoint_port, s.key, False, *problem)
        winner = self._same_identity(s, entry, address, endpoint_port)
        if winner is not None:
            where = self._source_slice(winner.value)
            place = "later in the same slice" if where == s.key else f"in slice {where}, written later"
            return Verdict(
                address,
                endpoint_port,
                s.key,
                False,
                "replaced",
                f"{_identity_text(s, entry, address)} is held by {winner.value.address}:"
                f"{winner.value.port}, listed {place}",
            )
        return Verdict(
            address,
            endpoint_port,
            s.key,
            False,
            "lost",
            f"{_identity_text(s, entry, address)} is not in Linkerd's address set: a later update or "
            f"deletion of another slice listing it removed it, and slice {s.name} has not been "
            f"written since",
        )

    def _same_identity(
        self, s: SliceUpserted, entry: Endpoint, address: str, endpoint_port: int
    ) -> Optional[_Candidate]:
        for c in self.candidates:
            v = c.value
            if entry.target_kind == POD:
                # A Pod's identity includes the address family of its slice.
                if v.target == entry.target and (c.family == "IPv6") == (s.address_type == "IPv6"):
                    return c
            elif entry.target_kind == EXTERNAL_WORKLOAD:
                if (
                    v.target is not None
                    and v.target.startswith(EXTERNAL_WORKLOAD + "/")
                    and v.target.rsplit("/", 1)[1] == entry.target_name
                ):
                    return c
            elif (
                v.target is None
                and v.address == address
                and v.port == endpoint_port
                and (v.hostname or "") == (entry.hostname or "")
            ):
                return c
        return None


_LINKERD_SELECTED = {
    "filtering-off": "endpoint filtering is off",
    "local-traffic-policy": "a Pod on the client's node (internalTrafficPolicy Local)",
    "unhinted-endpoint": "some candidate has no zone hint, so every candidate is sent",
    "node-hints": "hinted for the client's node",
    "zone-hints": "hinted for the client's zone",
    "no-zone-match": "no candidate is hinted for the client's zone, so every candidate is sent",
}


def _as_selected(entry: Endpoint, address: str, endpoint_port: int) -> SelectedEndpoint:
    return SelectedEndpoint(
        address,
        endpoint_port,
        entry.node_name,
        entry.zone,
        entry.for_zones,
        entry.for_nodes,
        entry.target,
        entry.hostname,
    )


def _identity_text(s: SliceUpserted, entry: Endpoint, address: str) -> str:
    if entry.target_kind == POD:
        return f"pod {entry.target_namespace}/{entry.target_name} ({s.address_type})"
    if entry.target_kind == EXTERNAL_WORKLOAD:
        return f"external workload {entry.target_name}"
    return f"address {address}" + (f" (hostname {entry.hostname})" if entry.hostname else "")


def _absent(address: str, port: Optional[int]) -> Verdict:
    what = address if port is None else f"{address} with port {port}"
    return Verdict(address, port, None, False, "not-in-slices", f"no slice of the service lists {what}")


# ---------------------------------------------------------------------------
# kube-proxy


class _KubeProxyTrace:
    def __init__(
        self, engine: Engine, service: str, port: int, protocol: str, node: Optional[str], zone: Optional[str]
    ) -> None:
        self.service, self.port, self.protocol, self.node, self.zone = service, port, protocol, node, zone
        self.svc = engine.state.services.get(service)
        self.slices = list(engine.state.slices_of(service))
        self.endpoints = kube_proxy.proxy_endpoints(self.svc, self.slices, port, node, protocol=protocol)
        self.categorized = kube_proxy.categorize(self.endpoints, self.svc, port, node, zone, protocol=protocol)
        self.chosen = kube_proxy.internal_endpoints(self.categorized, self.svc)
        self.rule = self.categorized.rule
        self.candidate_count = len(self.endpoints)
        self.final = [e.selected() for e in self.chosen]
        self.family = _proxy_family(self.slices)
        self.steps: list[Step] = []
        self._describe()

    def _describe(self) -> None:
        eps, cat, svc = self.endpoints, self.categorized, self.svc
        if not kube_proxy.proxied(svc):
            self.steps.append(Step("endpoints", 0, "no Service, or an ExternalName one: kube-proxy programs nothing"))
            return
        entries = sum(len(s.endpoints) for s in self.slices if s.address_type == self.family)
        self.steps.append(
            Step(
                "endpoints",
                len(eps),
                f"{self.family} slices only, addresses[0] of each entry, one per IP:port "
                f"({_plural(entries, 'entry', 'entries')} in "
                f"{self.family} slices)",
            )
        )
        ready = sum(1 for e in eps if e.ready)
        fallback = sum(1 for e in eps if e.serving_terminating)
        self.steps.append(
            Step(
                "conditions",
                ready,
                f"{ready} ready, {fallback} serving+terminating, {len(eps) - ready - fallback} neither",
            )
        )
        sp = kube_proxy.service_port(svc, self.port, self.protocol)
        local_policy = kube_proxy.internal_policy_local(svc)
        self.steps.append(
            Step(
                "traffic-policy",
                len(eps),
                "internalTrafficPolicy Local: cluster-IP traffic uses the local set"
                if local_policy
                else "internalTrafficPolicy Cluster: cluster-IP traffic uses the cluster set",
            )
        )
        if cat.cluster is not None:
            in_mode = sum(1 for e in eps if e.ready and self._in_mode(e))
            self.steps.append(Step("topology-mode", in_mode, self._mode_detail()))
            if self.rule == "terminating-fallback":
                detail = "no ready endpoint anywhere: serving+terminating ones, hints ignored"
            else:
                detail = "the ready endpoints the topology mode keeps"
            self.steps.append(Step("cluster", len(cat.cluster), detail))
        if kube_proxy.uses_local_endpoints(svc, sp):
            where = f"node {self.node}" if self.node else "no client node"
            if self.rule == "local-terminating-fallback":
                detail = f"none ready on {where}: its serving+terminating ones"
            else:
                detail = f"ready endpoints on {where}, hints never applied"
            self.steps.append(Step("local", len(cat.local or ()), detail))
        self.steps.append(Step("result", len(self.chosen), "the local set" if local_policy else "the cluster set"))

    def _in_mode(self, e: kube_proxy.ProxyEndpoint) -> bool:
        mode = self.categorized.mode
        if mode == kube_proxy.PREFER_SAME_NODE:
            return (self.node or "") in e.node_hints
        if mode == kube_proxy.PREFER_SAME_ZONE:
            return (self.zone or "") in e.zone_hints
        return True

    def _mode_detail(self) -> str:
        ready = [e for e in self.endpoints if e.ready]
        if not ready:
            return "no ready endpoint: no topology mode"
        node, zone = self.node or "", self.zone or ""
        reasons = []
        for kind, hinted_for, name in (("node", lambda e: e.node_hints, node), ("zone", lambda e: e.zone_hints, zone)):
            mode = kube_proxy.PREFER_SAME_NODE if kind == "node" else kube_proxy.PREFER_SAME_ZONE
            unhinted = sum(1 for e in ready if not hinted_for(e))
            matching = sum(1 for e in ready if name in hinted_for(e))
            if unhinted:
                reasons.append(f"not {mode}: {unhinted} of {len(ready)} ready endpoints have no {kind} hint")
            elif not matching:
                shown = name or f"'' (the client has no {kind})"
                reasons.append(f"not {mode}: no ready endpoint is hinted for {kind} {shown}")
            else:
                reasons.append(f"{mode}: every ready endpoint has a {kind} hint, {matching} for {kind} {name}")
            if self.categorized.mode == mode:
                break
        else:
            reasons.append("every ready endpoint")
        return "; ".join(reasons)

    # -- one endpoint ----------------------------------------------------------

    def verdicts(self, address: str, port: Optional[int]) -> list[Verdict]:
        svc = self.svc
        found = []
        if not kube_proxy.proxied(svc):
            for s in self.slices:
                for entry in s.endpoints:
                    for listed in entry.addresses:
                        if _same_address(listed, address):
                            found.append(Verdict(listed, None, s.key, False, "no-service", VERDICTS["no-service"]))
            return found or [_absent(address, port)]
        sp = kube_proxy.service_port(svc, self.port, self.protocol)
        for s in sorted(self.slices, key=lambda s: s.name):
            ports = [p for p in s.ports if p.name == sp.name and p.protocol == sp.protocol and p.port]
            for entry in s.endpoints:
                for position, listed in enumerate(entry.addresses):
                    if not _same_address(listed, address):
                        continue
                    if s.address_type != self.family:
                        found.append(
                            Verdict(
                                listed,
                                None,
                                s.key,
                                False,
                                "other-family",
                                f"slice {s.name} is {s.address_type}; kube-proxy serves {self.family} for this service",
                            )
                        )
                        continue
                    if not ports:
                        found.append(
                            Verdict(
                                listed,
                                None,
                                s.key,
                                False,
                                "no-port",
                                f"slice {s.name} has no numbered port named {sp.name!r}/{sp.protocol}",
                            )
                        )
                        continue
                    for slice_port in ports:
                        if port is None or slice_port.port == port:
                            found.append(self._listing_verdict(s, entry, position, listed, slice_port.port))
        return found or [_absent(address, port)]

    def _listing_verdict(
        self, s: SliceUpserted, entry: Endpoint, position: int, listed: str, endpoint_port: int
    ) -> Verdict:
        if position > 0:
            return Verdict(
                listed,
                endpoint_port,
                s.key,
                False,
                "not-first-address",
                f"addresses[{position}] of its entry in slice {s.name}: only addresses[0] is used",
            )
        address = kube_proxy.canonical_ip(listed)
        kept = next(e for e in self.endpoints if e.address == address and e.port == endpoint_port)
        if kept.source is not entry:
            owner = next((t.name for t in self.slices if any(e is kept.source for e in t.endpoints)), "?")
            return Verdict(
                listed,
                endpoint_port,
                s.key,
                False,
                "duplicate",
                f"{kept.key} is also listed in slice {owner}; kube-proxy keeps that entry "
                f"(a terminating entry never replaces another)",
            )
        if any(e is kept for e in self.chosen):
            return Verdict(listed, endpoint_port, s.key, True, "selected", self._selected_detail())
        reason, detail = self._why_out(kept)
        return Verdict(listed, endpoint_port, s.key, False, reason, detail)

    def _selected_detail(self) -> str:
        return {
            "node-hints": f"ready and hinted for node {self.node}",
            "zone-hints": f"ready and hinted for zone {self.zone}",
            "all-ready": "ready, and no topology mode applies: every ready endpoint",
            "terminating-fallback": "serving+terminating, and nothing is ready anywhere",
            "local-traffic-policy": "ready, on the client's node",
            "local-terminating-fallback": "serving+terminating on the client's node, where none is ready",
        }[self.rule]

    def _why_out(self, e: kube_proxy.ProxyEndpoint) -> tuple[str, str]:
        rule = self.rule
        if rule == "no-endpoints":
            return "no-endpoints", "no endpoint is ready or serving+terminating anywhere"
        state = f"ready={e.ready}, serving={e.serving}, terminating={e.terminating}"
        if kube_proxy.internal_policy_local(self.svc):
            if not e.is_local:
                if not self.node:
                    return "no-client-node", "internalTrafficPolicy Local and no client node"
                return "other-node", f"on node {e.source.node_name if e.source else 'unknown'}, not {self.node}"
            if rule == "local-traffic-policy":
                return "not-ready", f"{state}; ready endpoints exist on this node"
            return "not-serving-terminating", f"{state}; none is ready on this node"
        if rule == "terminating-fallback":
            return "not-serving-terminating", f"{state}; nothing is ready anywhere"
        if not e.ready:
            return "not-ready", state
        if self.categorized.mode == kube_proxy.PREFER_SAME_NODE:
            return "node-hint", f"hinted for nodes {_names(sorted(e.node_hints))}, not {self.node}"
        return "zone-hint", f"hinted for zones {_names(sorted(e.zone_hints))}, not {self.zone}"


def _proxy_family(slices: Sequence[SliceUpserted]) -> str:
    """The family kube_proxy.proxy_endpoints serves when none is chosen: IPv4 unless only IPv6 slices exist."""
    types = {s.address_type for s in slices}
    return "IPv6" if "IPv4" not in types and "IPv6" in types else "IPv4"


# ---------------------------------------------------------------------------
# Text output


def render_explanation(expl: Explanation, out: IO[str]) -> None:
    """The steps as a table, the rule, the result, and the endpoint verdicts."""
    client = (
        f"node {expl.node}"
        if expl.node is not None
        else f"zone {expl.zone}"
        if expl.zone is not None
        else "an unknown place"
    )
    out.write(
        f"{target_text(expl.service, expl.port, expl.protocol)} for a client on {client}, policy {expl.policy}"
        + (f", hostname {expl.hostname}" if expl.hostname else "")
        + "\n"
    )
    out.write(f"client zone: {expl.zone or 'none'} ({ZONE_SOURCES[expl.zone_source]})\n\n")
    table(("STEP", "LEFT", "WHY"), [(s.name, s.count, s.detail) for s in expl.steps], out)
    out.write(f"\nrule: {expl.rule}: {expl.rule_text}\n")
    out.write(f"{len(expl.endpoints)} of {expl.candidates} candidate endpoints\n")
    if expl.endpoints:
        table(
            ("ADDRESS", "PORT", "NODE", "ZONE", "FOR ZONES", "FOR NODES", "TARGET"),
            [
                (
                    e.address,
                    e.port,
                    e.node,
                    e.zone,
                    ",".join(e.for_zones) or None,
                    ",".join(e.for_nodes) or None,
                    e.target,
                )
                for e in expl.endpoints
            ],
            out,
        )
    if expl.endpoint is not None:
        out.write(f"\nendpoint {expl.endpoint}:\n")
        for v in expl.verdicts:
            where = f"{v.address}:{v.port}" if v.port is not None else v.address
            source = f" (slice {v.slice.split('/', 1)[1]})" if v.slice else ""
            out.write(f"  {'IN ' if v.selected else 'OUT'} {where}{source}: {v.reason}: {v.detail}\n")
