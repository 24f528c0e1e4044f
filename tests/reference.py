"""An obviously-correct evaluation of the Linkerd rules (SEMANTICS section 2),
written plainly from the text with no index, cache or kernel, to check the
engine against."""
from __future__ import annotations


def linkerd_selection(state, service_key, port, *, node=None, zone=None, hostname=None,
                      filtering=True, ipv6=False, node_hints=False):
    """(rule, sorted ["address:port", ...]) for one client."""
    svc = state.services.get(service_key)
    target = port
    if svc is not None:
        for p in svc.ports:
            if p.port == port:
                target = p.name
                break
    name = service_key.split("/")[1]
    addresses = {}
    for es in state.slices_of(service_key):
        if not es.ports:
            continue
        if isinstance(target, int):
            endpoint_port = target
        else:
            matches = [p.port for p in es.ports if p.name == target]
            if not matches:
                continue
            endpoint_port = matches[0]
        if endpoint_port is None:
            continue
        for ep in es.endpoints:
            if ep.ready is False:
                continue
            for ip in ep.addresses:
                if ep.target_kind is None:
                    key, family = ("svc", name, ip, endpoint_port, ep.hostname or ""), ""
                elif ep.target_kind == "Pod":
                    key, family = ("pod", ep.target_namespace or "", ep.target_name or "", es.address_type), es.address_type
                elif ep.target_kind == "ExternalWorkload":
                    key, family = ("ew", es.namespace, ep.target_name or ""), ""
                else:
                    continue
                addresses[key] = (ip, endpoint_port, family, ep)
    cands = dict(addresses)
    if hostname is not None:
        cands = {k: v for k, v in cands.items() if v[3].hostname == hostname}
    if node is not None:
        n = state.nodes.get(node)
        zone = n.zone if n is not None else None
    if not cands:
        rule, chosen = "no-endpoints", {}
    elif not filtering:
        rule, chosen = "filtering-off", cands
    elif svc is not None and svc.internal_traffic_policy == "Local":
        rule = "local-traffic-policy"
        chosen = {k: v for k, v in cands.items()
                  if v[3].target_kind == "Pod" and node is not None and v[3].node_name == node}
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


def render(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
