"""Shape checks for the data under fixtures/ (Linkerd conformance cases) and
the demo cluster the package ships (engine/demo_data).

These tests do not run the engine; they make sure every case is well formed
so that a failing conformance run always points at behaviour, not at a typo.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.demo import demo_data

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
LINKERD_CASES = sorted((FIXTURES / "conformance" / "linkerd").glob("*.json"))
DEMO = demo_data()

RULES = {"no-endpoints", "filtering-off", "local-traffic-policy", "unhinted-endpoint", "zone-hints", "no-zone-match"}
CASE_KEYS = {"name", "upstream", "options", "watches", "steps"}
OPTIONAL_CASE_KEYS = {"notes"}
WATCH_KEYS = {"id", "service", "port", "node", "hostname", "filtering"}
WATCH_EVENT_TYPES = {"ADDED", "MODIFIED", "DELETED"}
KINDS = {"Node", "Service", "EndpointSlice"}
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
ZONE_LABEL = "topology.kubernetes.io/zone"
ENDPOINT_RE = re.compile(r"^(?:\[(?P<v6>[0-9a-f:]+)\]|(?P<v4>[0-9.]+)):(?P<port>[0-9]+)$")


def check_endpoint_list(endpoints: Any, where: str) -> None:
    """Sorted, unique, well-formed "IP:port" strings with canonical IPs."""
    assert isinstance(endpoints, list), f"{where}: endpoints must be a list"
    for item in endpoints:
        assert isinstance(item, str), f"{where}: {item!r} is not a string"
        match = ENDPOINT_RE.match(item)
        assert match, f"{where}: {item!r} is not IP:port ([IPv6]:port for IPv6)"
        port = int(match["port"])
        assert 1 <= port <= 65535, f"{where}: port out of range in {item!r}"
        if match["v6"] is not None:
            ip = ipaddress.IPv6Address(match["v6"])
            assert str(ip) == match["v6"], f"{where}: {item!r} is not in canonical IPv6 form"
        else:
            ip = ipaddress.IPv4Address(match["v4"])
            assert str(ip) == match["v4"], f"{where}: {item!r} is not in canonical IPv4 form"
    assert endpoints == sorted(endpoints), f"{where}: endpoints not sorted: {endpoints}"
    assert len(set(endpoints)) == len(endpoints), f"{where}: duplicate endpoints: {endpoints}"


def check_service_key(key: Any, where: str) -> None:
    assert isinstance(key, str) and re.fullmatch(r"[a-z0-9-]+/[a-z0-9-]+", key), f"{where}: bad service {key!r}"


def objects_of(apply: list, where: str) -> Iterator[tuple[str, dict]]:
    """(event type, object) for each applied item; plain objects count as upserts."""
    for i, item in enumerate(apply):
        assert isinstance(item, dict), f"{where}[{i}]: not an object"
        if "type" in item:
            assert item["type"] in WATCH_EVENT_TYPES, f"{where}[{i}]: unknown watch event type {item['type']!r}"
            assert set(item) == {"type", "object"}, f"{where}[{i}]: watch event keys {sorted(item)}"
            yield item["type"], item["object"]
        else:
            yield "UPSERT", item


def check_object(obj: dict, where: str) -> None:
    assert obj.get("kind") in KINDS, f"{where}: unexpected kind {obj.get('kind')!r}"
    assert obj.get("apiVersion") == ("discovery.k8s.io/v1" if obj["kind"] == "EndpointSlice" else "v1"), (
        f"{where}: wrong apiVersion for {obj['kind']}"
    )
    meta = obj.get("metadata")
    assert isinstance(meta, dict) and meta.get("name"), f"{where}: metadata.name missing"
    if obj["kind"] == "Service":
        assert meta.get("namespace"), f"{where}: Service without namespace"
        for port in obj["spec"]["ports"]:
            assert isinstance(port["port"], int), f"{where}: Service port must be an int"
        assert obj["spec"].get("internalTrafficPolicy") in ("Cluster", "Local"), f"{where}: internalTrafficPolicy"
    if obj["kind"] == "EndpointSlice":
        check_slice(obj, where)


def check_slice(obj: dict, where: str) -> None:
    assert obj["metadata"].get("namespace"), f"{where}: EndpointSlice without namespace"
    assert obj["metadata"].get("labels", {}).get(SERVICE_NAME_LABEL), f"{where}: no {SERVICE_NAME_LABEL} label"
    family = obj.get("addressType")
    assert family in ("IPv4", "IPv6"), f"{where}: addressType {family!r}"
    parse = ipaddress.IPv4Address if family == "IPv4" else ipaddress.IPv6Address
    for port in obj.get("ports") or []:
        assert isinstance(port["port"], int), f"{where}: slice port must be an int"
    for i, endpoint in enumerate(obj["endpoints"]):
        at = f"{where}.endpoints[{i}]"
        assert endpoint["addresses"], f"{at}: no addresses"
        for address in endpoint["addresses"]:
            assert str(parse(address)) == address, f"{at}: {address!r} is not a canonical {family} address"
        assert isinstance(endpoint.get("conditions"), dict), f"{at}: conditions must be an object"
        for value in endpoint["conditions"].values():
            assert isinstance(value, bool), f"{at}: condition values are booleans"
        for hint in endpoint.get("hints", {}).get("forZones", []):
            assert set(hint) == {"name"} and hint["name"], f"{at}: bad forZones entry {hint!r}"
        ref = endpoint.get("targetRef")
        if ref is not None:
            assert ref.get("kind") and ref.get("name") and ref.get("namespace"), f"{at}: incomplete targetRef"


def load_case(path: Path) -> dict:
    with path.open() as fh:
        return json.load(fh)


def test_there_are_linkerd_cases() -> None:
    assert len(LINKERD_CASES) >= 20


@pytest.mark.parametrize("path", LINKERD_CASES, ids=[p.stem for p in LINKERD_CASES])
def test_linkerd_case_is_well_formed(path: Path) -> None:
    case = load_case(path)
    assert CASE_KEYS <= set(case) <= CASE_KEYS | OPTIONAL_CASE_KEYS, f"keys: {sorted(case)}"
    assert isinstance(case["name"], str) and case["name"].strip()
    assert isinstance(case["upstream"], str) and case["upstream"].strip()
    assert case["upstream"].startswith(("linkerd2 ", "derived: ")), "upstream names a linkerd2 test or says derived:"
    assert set(case["options"]) <= {"ipv6"} and isinstance(case["options"].get("ipv6", False), bool)

    watch_ids = [watch["id"] for watch in case["watches"]]
    assert len(set(watch_ids)) == len(watch_ids), f"duplicate watch ids {watch_ids}"
    for watch in case["watches"]:
        assert set(watch) == WATCH_KEYS, f"watch keys {sorted(watch)}"
        check_service_key(watch["service"], f"watch {watch['id']}")
        assert isinstance(watch["port"], int) and isinstance(watch["filtering"], bool)

    assert case["steps"], "a case needs at least one step"
    subscribed: set[str] = set()
    for n, step in enumerate(case["steps"]):
        where = f"step {n}"
        assert set(step) <= {"apply", "subscribe", "expect"} and "apply" in step and "expect" in step
        for kind, obj in objects_of(step["apply"], f"{where}.apply"):
            check_object(obj, f"{where} {kind} {obj.get('kind')}/{obj.get('metadata', {}).get('name')}")
        for watch_id in step.get("subscribe", []):
            assert watch_id in watch_ids, f"{where}: subscribes unknown watch {watch_id!r}"
            assert watch_id not in subscribed, f"{where}: {watch_id!r} subscribed twice"
            subscribed.add(watch_id)

        expect = step["expect"]
        assert set(expect) <= {"queries", "updates"} and expect, f"{where}: expect needs queries or updates"
        for i, query in enumerate(expect.get("queries", [])):
            at = f"{where}.queries[{i}]"
            assert {"service", "port", "endpoints"} <= set(query), f"{at}: keys {sorted(query)}"
            assert ("node" in query) != ("zone" in query), f"{at}: give node or zone, not both"
            check_service_key(query["service"], at)
            assert isinstance(query["port"], int)
            if "rule" in query:
                assert query["rule"] in RULES, f"{at}: unknown rule {query['rule']!r}"
                assert (query["rule"] == "no-endpoints") <= (query["endpoints"] == []), f"{at}: no-endpoints not empty"
            check_endpoint_list(query["endpoints"], at)
        for watch_id, updates in expect.get("updates", {}).items():
            assert watch_id in subscribed, f"{where}: updates for {watch_id!r}, not subscribed yet"
            for i, update in enumerate(updates):
                at = f"{where}.updates.{watch_id}[{i}]"
                assert set(update) == {"op", "endpoints"} and update["op"] in ("add", "remove"), at
                assert update["endpoints"], f"{at}: Linkerd never sends an empty {update['op']}"
                check_endpoint_list(update["endpoints"], at)
    assert subscribed == set(watch_ids), f"watches never subscribed: {sorted(set(watch_ids) - subscribed)}"


def test_linkerd_case_names_are_unique() -> None:
    names = [load_case(path)["name"] for path in LINKERD_CASES]
    assert len(set(names)) == len(names)


# ---------------------------------------------------------------------------
# Demo cluster


def demo_cluster() -> dict:
    with (DEMO / "cluster.json").open(encoding="utf-8") as fh:
        return json.load(fh)


def demo_changes() -> list[dict]:
    with (DEMO / "changes.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def test_demo_cluster_is_a_realistic_list() -> None:
    cluster = demo_cluster()
    assert cluster["apiVersion"] == "v1" and cluster["kind"] == "List"
    for i, obj in enumerate(cluster["items"]):
        check_object(obj, f"items[{i}]")
    nodes = [o for o in cluster["items"] if o["kind"] == "Node"]
    workers = [n for n in nodes if "node-role.kubernetes.io/control-plane" not in n["metadata"]["labels"]]
    zones = {n["metadata"]["labels"][ZONE_LABEL] for n in nodes}
    assert zones == {"zone-a", "zone-b", "zone-c"}
    assert len(workers) == 6
    for zone in zones:
        assert sum(n["metadata"]["labels"][ZONE_LABEL] == zone for n in workers) == 2
    for n in nodes:
        assert n["status"]["allocatable"]["cpu"], n["metadata"]["name"]
        assert any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])
    services = {o["metadata"]["name"]: o for o in cluster["items"] if o["kind"] == "Service"}
    assert set(services) == {"web", "cart", "checkout", "node-cache", "api"}
    assert all(s["metadata"]["namespace"] == "shop" for s in services.values())
    assert services["node-cache"]["spec"]["internalTrafficPolicy"] == "Local"
    assert {p["name"] for p in services["api"]["spec"]["ports"]} == {"http", "grpc"}


def test_demo_slices_agree_with_nodes_and_services() -> None:
    cluster = demo_cluster()
    zone_of = {
        o["metadata"]["name"]: o["metadata"]["labels"][ZONE_LABEL] for o in cluster["items"] if o["kind"] == "Node"
    }
    services = {o["metadata"]["name"] for o in cluster["items"] if o["kind"] == "Service"}
    slices = [o for o in cluster["items"] if o["kind"] == "EndpointSlice"]
    slices += [event["object"] for event in demo_changes()]
    hinted_states = {"web": set(), "cart": set(), "checkout": set()}
    for es in slices:
        service = es["metadata"]["labels"][SERVICE_NAME_LABEL]
        assert service in services
        for endpoint in es["endpoints"]:
            if "nodeName" in endpoint:
                assert endpoint["zone"] == zone_of[endpoint["nodeName"]], endpoint
            hinted = "hints" in endpoint
            if service in hinted_states:
                hinted_states[service].add(hinted)
            # The EndpointSlice controller clears hints on endpoints that are not ready.
            if not endpoint["conditions"].get("ready", True):
                assert not hinted, f"{service}: not-ready endpoint carries hints"
    assert hinted_states["cart"] == {False}
    assert hinted_states["checkout"] == {True, False}
    assert True in hinted_states["web"]


def test_demo_changes_are_a_watch_stream_of_known_slices() -> None:
    events = demo_changes()
    assert 10 <= len(events) <= 20
    known = {
        (o["metadata"]["namespace"], o["metadata"]["name"])
        for o in demo_cluster()["items"]
        if o["kind"] == "EndpointSlice"
    }
    versions = []
    for i, event in enumerate(events):
        assert event["type"] in WATCH_EVENT_TYPES and set(event) == {"type", "object"}
        check_object(event["object"], f"changes line {i + 1}")
        meta = event["object"]["metadata"]
        if event["type"] != "ADDED":
            assert (meta["namespace"], meta["name"]) in known
        known.add((meta["namespace"], meta["name"]))
        versions.append(int(meta["resourceVersion"]))
    assert versions == sorted(versions) and len(set(versions)) == len(versions)


def test_demo_web_ends_with_no_zone_c_endpoint_and_zone_c_still_hinted() -> None:
    final = demo_changes()[-1]["object"]
    assert final["metadata"]["labels"][SERVICE_NAME_LABEL] == "web"
    ready = [e for e in final["endpoints"] if e["conditions"]["ready"]]
    assert ready and all(e["zone"] != "zone-c" for e in ready)
    for_c = [e for e in ready if {"name": "zone-c"} in e["hints"]["forZones"]]
    assert {e["zone"] for e in for_c} == {"zone-a", "zone-b"}
