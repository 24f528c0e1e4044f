"""A plain model of Linkerd's destination controller (SEMANTICS section 2),
written from the text with no index, cache or kernel, to check the engine
against.  A port publisher per port a Service has declared, created when it
is declared and updated event by event the way Linkerd's are; any other port
is answered by a publisher created at the moment of asking."""

from __future__ import annotations

from engine.events import NodeDeleted, NodeUpserted, ServiceDeleted, ServiceUpserted, SliceDeleted, SliceUpserted


def render(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


class Publisher:
    def __init__(self, target):
        self.target = target  # the port name, or the number once the Service stops naming it
        self.addresses = {}  # identity -> (ip, port, family, endpoint)


class LinkerdModel:
    def __init__(self):
        self.nodes = {}
        self.services = {}
        self.slices = {}  # in write order
        self.publishers = {}  # (service, port) -> Publisher, for ports a Service declared
        self.local = {}  # service -> internalTrafficPolicy Local, as the last Service said

    # -- events --------------------------------------------------------------

    def apply(self, event):
        if isinstance(event, NodeUpserted):
            self.nodes[event.name] = event
        elif isinstance(event, NodeDeleted):
            self.nodes.pop(event.name, None)
        elif isinstance(event, ServiceUpserted):
            self.services[event.key] = event
            self.local[event.key] = event.internal_traffic_policy == "Local"
            ports = {p.port for p in event.ports} | {port for service, port in self.publishers if service == event.key}
            for port in ports:
                target = port
                for p in event.ports:
                    if p.port == port:
                        target = p.name
                        break
                pub = self.publishers.get((event.key, port))
                if pub is None or pub.target != target:
                    pub = self.publishers[(event.key, port)] = Publisher(target)
                    pub.addresses = self._fresh(event.key, target)
        elif isinstance(event, ServiceDeleted):
            if self.services.pop(event.key, None) is not None:
                for (service, _), pub in self.publishers.items():
                    if service == event.key:
                        pub.addresses = {}
        elif isinstance(event, SliceUpserted):
            old = self.slices.pop(event.key, None)
            self.slices[event.key] = event
            if old is not None and self._service_of(old) != self._service_of(event):
                self._delete(old)
                old = None
            for (service, _), pub in self.publishers.items():
                if service == self._service_of(event):
                    if old is not None:
                        for identity in self._addresses(old, pub.target):
                            pub.addresses.pop(identity, None)
                    pub.addresses.update(self._addresses(event, pub.target))
        elif isinstance(event, SliceDeleted):
            old = self.slices.pop(event.key, None)
            if old is not None:
                self._delete(old)

    def _fresh(self, service, target):
        """A new publisher's map: every current slice, oldest write first."""
        addresses = {}
        for es in self.slices.values():
            if self._service_of(es) == service:
                addresses.update(self._addresses(es, target))
        return addresses

    def _delete(self, old):
        for (service, _), pub in self.publishers.items():
            if service == self._service_of(old):
                for identity in self._addresses(old, pub.target):
                    pub.addresses.pop(identity, None)

    @staticmethod
    def _service_of(es):
        return None if es.service is None else f"{es.namespace}/{es.service}"

    @staticmethod
    def _addresses(es, target):
        if not es.ports:
            return {}
        if isinstance(target, int):
            port = target
        else:
            named = [p.port for p in es.ports if p.name == target]
            if not named or named[0] is None:
                return {}
            port = named[0]
        found = {}
        for ep in es.endpoints:
            if ep.ready is False:
                continue
            for ip in ep.addresses:
                if ep.target_kind is None:
                    identity, family = ("svc", es.service, ip, port, ep.hostname or ""), ""
                elif ep.target_kind == "Pod":
                    identity, family = (
                        ("pod", ep.target_namespace or "", ep.target_name or "", es.address_type),
                        es.address_type,
                    )
                elif ep.target_kind == "ExternalWorkload":
                    identity, family = ("ew", es.namespace, ep.target_name or ""), ""
                else:
                    continue
                found[identity] = (ip, port, family, ep)
        return found

    # -- a client's view -----------------------------------------------------

    def selection(
        self, service, port, *, node=None, zone=None, hostname=None, filtering=True, ipv6=False, node_hints=False
    ):
        """(rule, sorted ["address:port", ...]) for one client."""
        pub = self.publishers.get((service, port))
        cands = dict(pub.addresses) if pub is not None else self._fresh(service, port)
        if hostname is not None:
            cands = {k: v for k, v in cands.items() if v[3].hostname == hostname}
        if node is not None:
            known = self.nodes.get(node)
            zone = known.zone if known is not None else None
        if not cands:
            rule, chosen = "no-endpoints", {}
        elif not filtering:
            rule, chosen = "filtering-off", cands
        elif self.local.get(service, False):
            rule = "local-traffic-policy"
            chosen = {
                k: v
                for k, v in cands.items()
                if v[3].target_kind == "Pod" and node is not None and v[3].node_name == node
            }
        elif any(not v[3].for_zones for v in cands.values()):
            rule, chosen = "unhinted-endpoint", cands
        else:
            on_node = {k: v for k, v in cands.items() if node in v[3].for_nodes}
            if node_hints and node is not None and all(v[3].for_nodes for v in cands.values()) and on_node:
                rule, chosen = "node-hints", on_node
            else:
                in_zone = {k: v for k, v in cands.items() if (zone or "") in v[3].for_zones}
                rule, chosen = ("zone-hints", in_zone) if in_zone else ("no-zone-match", cands)
        final = {}
        for key, value in chosen.items():
            family = value[2]
            if family == "IPv6" and not ipv6:
                continue
            if family == "IPv4" and ipv6 and ("pod", key[1], key[2], "IPv6") in chosen:
                continue
            final[key] = value
        return rule, sorted(render(ip, p) for ip, p, _, _ in final.values())
