"""Builders for Kubernetes objects as kubectl prints them, for tests."""

from __future__ import annotations

from typing import Optional


def node(
    name: str, zone: Optional[str] = None, cpu: str = "4", ready: bool = True, control_plane: bool = False
) -> dict:
    labels = {"kubernetes.io/hostname": name}
    if zone is not None:
        labels["topology.kubernetes.io/zone"] = zone
    if control_plane:
        labels["node-role.kubernetes.io/control-plane"] = ""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "status": {
            "allocatable": {"cpu": cpu},
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def service(key: str, ports=((80, "http"),), itp: Optional[str] = None, **spec) -> dict:
    namespace, name = key.split("/")
    body = {"ports": [{"name": n, "port": p, "targetPort": n or p} for p, n in ports], **spec}
    if itp is not None:
        body["internalTrafficPolicy"] = itp
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace}, "spec": body}


def endpoint(
    ip: str,
    *,
    zone: Optional[str] = None,
    node: Optional[str] = None,
    hints=None,
    node_hints=None,
    ready: Optional[bool] = True,
    pod: Optional[str] = None,
    hostname: Optional[str] = None,
    serving: Optional[bool] = None,
    terminating: Optional[bool] = None,
    namespace: str = "ns",
) -> dict:
    ep: dict = {"addresses": [ip], "conditions": {}}
    for key, value in (("ready", ready), ("serving", serving), ("terminating", terminating)):
        if value is not None:
            ep["conditions"][key] = value
    if zone is not None:
        ep["zone"] = zone
    if node is not None:
        ep["nodeName"] = node
    if hostname is not None:
        ep["hostname"] = hostname
    if pod is not None:
        ep["targetRef"] = {"kind": "Pod", "namespace": namespace, "name": pod}
    if hints is not None or node_hints is not None:
        ep["hints"] = {}
        if hints is not None:
            ep["hints"]["forZones"] = [{"name": z} for z in hints]
        if node_hints is not None:
            ep["hints"]["forNodes"] = [{"name": n} for n in node_hints]
    return ep


def endpoint_slice(
    key: str, service_name: str, endpoints: list, ports=(("http", 8080),), address_type: str = "IPv4"
) -> dict:
    namespace, name = key.split("/")
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": namespace, "labels": {"kubernetes.io/service-name": service_name}},
        "addressType": address_type,
        "ports": [{"name": n, "port": p, "protocol": "TCP"} for n, p in ports],
        "endpoints": endpoints,
    }


def watch(kind: str, obj: dict) -> dict:
    return {"type": kind, "object": obj}


def two_zone_cluster() -> list[dict]:
    """Two nodes in two zones and one Service with an endpoint hinted for each zone."""
    return [
        node("n1", "zone-a"),
        node("n2", "zone-b"),
        service("ns/web"),
        endpoint_slice(
            "ns/s",
            "web",
            [
                endpoint("10.0.0.1", zone="zone-a", hints=["zone-a"], pod="p1"),
                endpoint("10.0.0.2", zone="zone-b", hints=["zone-b"], pod="p2"),
            ],
        ),
    ]
