"""engine.explain: real reasons on the demo cluster and on small constructed
clusters, and a property over random clusters: the explanation's rule and
result equal Engine.endpoints for every policy, and its per-endpoint
verdicts select exactly the endpoints in the result."""

from __future__ import annotations

import io
import json
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import Engine
from engine.demo import demo_data
from engine.errors import ArgumentError, EngineError, LookupFailed
from engine.events import (
    Endpoint,
    NodeUpserted,
    ServiceDeleted,
    ServicePort,
    ServiceUpserted,
    SliceDeleted,
    SlicePort,
    SliceUpserted,
)
from engine.explain import VERDICTS, ZONE_SOURCES, explain, parse_endpoint, render_explanation


@pytest.fixture(scope="module")
def demo() -> Engine:
    eng = Engine()
    eng.ingest(json.loads((demo_data() / "cluster.json").read_text(encoding="utf-8"))["items"])
    return eng


def addresses(expl) -> list[str]:
    return [e.address for e in expl.endpoints]


def steps(expl) -> dict[str, int]:
    return {s.name: s.count for s in expl.steps}


def only_verdict(expl):
    assert len(expl.verdicts) == 1, expl.verdicts
    return expl.verdicts[0]


# ---------------------------------------------------------------------------
# The demo cluster


def test_demo_web_zone_hints_from_the_node_label(demo):
    expl = explain(demo, "shop/web", 80, node="node-a1", endpoint="10.244.3.11")
    assert (expl.zone, expl.zone_source, expl.rule) == ("zone-a", "node-label", "zone-hints")
    assert steps(expl) == {
        "candidates": 6,
        "local-traffic-policy": 6,
        "unhinted": 6,
        "zone-hints": 2,
        "address-family": 2,
    }
    assert addresses(expl) == ["10.244.1.11", "10.244.2.11"]
    verdict = only_verdict(expl)
    assert (verdict.selected, verdict.reason, verdict.port) == (False, "zone-hint", 8080)
    assert verdict.slice == "shop/web-ncrnr"
    assert "zone-b" in verdict.detail and "zone-a" in verdict.detail


def test_demo_web_selected_endpoint_says_why(demo):
    verdict = only_verdict(explain(demo, "shop/web", 80, node="node-a2", endpoint="10.244.1.11:8080"))
    assert verdict.selected and verdict.reason == "selected" and "zone" in verdict.detail


def test_demo_checkout_one_unhinted_vm_gives_everyone_all_four(demo):
    expl = explain(demo, "shop/checkout", 80, node="node-b1", endpoint="10.20.0.15")
    assert expl.rule == "unhinted-endpoint" and len(expl.endpoints) == 4
    assert "1 of 4 candidates have no zone hint" in next(s.detail for s in expl.steps if s.name == "unhinted")
    verdict = only_verdict(expl)
    assert verdict.selected and verdict.slice == "shop/checkout-legacy-vm"


def test_demo_node_cache_local_policy_keeps_the_pod_on_the_node(demo):
    expl = explain(demo, "shop/node-cache", 11211, node="node-b1", endpoint="10.244.1.41")
    assert expl.rule == "local-traffic-policy" and addresses(expl) == ["10.244.3.41"]
    assert steps(expl)["local-traffic-policy"] == 1
    verdict = only_verdict(expl)
    assert verdict.reason == "other-node" and "node-a1" in verdict.detail


def test_demo_unknown_node_has_no_zone_and_falls_back(demo):
    expl = explain(demo, "shop/web", 80, node="ghost", endpoint="10.9.9.9")
    assert (expl.zone, expl.zone_source, expl.rule) == (None, "unknown-node", "no-zone-match")
    assert steps(expl)["zone-hints"] == 0 and steps(expl)["fallback"] == 6
    assert only_verdict(expl).reason == "not-in-slices"


def test_demo_zone_given_without_node(demo):
    expl = explain(demo, "shop/api", 9090, zone="zone-c")
    assert (expl.zone_source, expl.rule, addresses(expl)) == ("given", "zone-hints", ["10.244.6.51"])
    assert [e.port for e in expl.endpoints] == [9090]


def test_demo_kube_proxy_zone_mode_and_local_policy(demo):
    web = explain(demo, "shop/web", 80, node="node-b2", policy="kube-proxy", endpoint="10.244.1.11")
    assert web.rule == "zone-hints" and addresses(web) == ["10.244.3.11", "10.244.4.11"]
    mode = next(s for s in web.steps if s.name == "topology-mode")
    assert mode.count == 2 and "not PreferSameNode" in mode.detail and "PreferSameZone" in mode.detail
    assert only_verdict(web).reason == "zone-hint"
    cache = explain(demo, "shop/node-cache", 11211, node="node-b1", policy="kube-proxy", endpoint="10.244.3.41")
    assert cache.rule == "local-traffic-policy" and steps(cache)["local"] == 1
    assert only_verdict(cache).selected


def test_demo_agrees_with_engine_for_every_service_port_and_node(demo):
    for key, svc in demo.state.services.items():
        for spec in svc.ports:
            for node in [*demo.state.nodes, "ghost"]:
                for policy in ("linkerd", "linkerd+nodes", "kube-proxy"):
                    assert_agrees(demo, key, spec.port, node=node, policy=policy)


def test_json_and_text_output(demo):
    expl = explain(demo, "shop/web", 80, node="node-a1", endpoint="10.244.3.11")
    data = json.loads(json.dumps(expl.to_json()))
    assert data["client"] == {"node": "node-a1", "zone": "zone-a", "zone_source": "node-label", "hostname": None}
    assert [s["step"] for s in data["steps"]][0] == "candidates" and data["rule"] == "zone-hints"
    assert data["endpoint"]["verdicts"][0]["reason"] == "zone-hint"
    assert [e["address"] for e in data["endpoints"]] == ["10.244.1.11", "10.244.2.11"]
    assert explain(demo, "shop/web", 80, node="node-a1").to_json()["endpoint"] is None
    out = io.StringIO()
    render_explanation(expl, out)
    text = out.getvalue()
    assert "client zone: zone-a" in text and "rule: zone-hints" in text
    assert "OUT 10.244.3.11:8080 (slice web-ncrnr): zone-hint" in text


def test_lookup_errors_match_engine(demo):
    with pytest.raises(LookupFailed, match="shop/nope"):
        explain(demo, "shop/nope", 80)
    with pytest.raises(LookupFailed, match="no port 81"):
        explain(demo, "shop/web", 81, policy="kube-proxy")
    with pytest.raises(ArgumentError, match="^policy: unknown policy 'istio'"):
        explain(demo, "shop/web", 80, policy="istio")
    with pytest.raises(ArgumentError, match="^endpoint: '10.0.0.1:http': expected ADDRESS"):
        explain(demo, "shop/web", 80, endpoint="10.0.0.1:http")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("10.0.0.1", ("10.0.0.1", None)),
        ("10.0.0.1:8080", ("10.0.0.1", 8080)),
        ("2001:db8::1", ("2001:db8::1", None)),
        ("[2001:db8::1]:443", ("2001:db8::1", 443)),
        ("[2001:db8::1]", ("2001:db8::1", None)),
    ],
)
def test_parse_endpoint(text, expected):
    assert parse_endpoint(text) == expected


@pytest.mark.parametrize("text", ["", ":80", "10.0.0.1:0", "10.0.0.1:70000", "[::1]x", "[::1]:"])
def test_parse_endpoint_rejects(text):
    with pytest.raises(EngineError):
        parse_endpoint(text)


# ---------------------------------------------------------------------------
# Constructed clusters: each reason, for real

SVC = ServiceUpserted("ns", "web", (ServicePort("http", 80),))
HTTP = (SlicePort("http", 8080),)


def pod(address: str, name: str, **fields) -> Endpoint:
    fields.setdefault("ready", True)
    return Endpoint((address,), target_kind="Pod", target_namespace="ns", target_name=name, **fields)


def engine_with(*events) -> Engine:
    eng = Engine()
    eng.apply_all(
        [NodeUpserted("n1", "za", 4000), NodeUpserted("n2", "zb", 4000), NodeUpserted("n3", None, 4000), *events]
    )
    return eng


def slice_of(name: str, *endpoints: Endpoint, ports=HTTP, address_type: str = "IPv4") -> SliceUpserted:
    return SliceUpserted("ns", name, "web", address_type, ports, endpoints)


def test_explicitly_not_ready_and_counted_in_the_candidates_step():
    eng = engine_with(SVC, slice_of("s1", pod("10.0.0.1", "p1", ready=False), pod("10.0.0.2", "p2")))
    expl = explain(eng, "ns/web", 80, node="n1", endpoint="10.0.0.1")
    assert only_verdict(expl).reason == "not-ready"
    assert "1 explicitly not ready" in expl.steps[0].detail and expl.steps[0].count == 1


def test_replaced_by_a_later_slice_with_the_same_pod_identity():
    eng = engine_with(SVC, slice_of("s1", pod("10.0.0.1", "p")), slice_of("s2", pod("10.0.0.9", "p")))
    verdict = only_verdict(explain(eng, "ns/web", 80, node="n1", endpoint="10.0.0.1"))
    assert verdict.reason == "replaced" and "10.0.0.9:8080" in verdict.detail and "s2" in verdict.detail
    assert "1 sharing an identity" in explain(eng, "ns/web", 80).steps[0].detail


def test_replaced_by_a_later_address_of_the_same_pod_in_the_same_slice():
    both = Endpoint(("10.0.0.1", "10.0.0.2"), ready=True, target_kind="Pod", target_namespace="ns", target_name="p")
    eng = engine_with(SVC, slice_of("s1", both))
    verdict = only_verdict(explain(eng, "ns/web", 80, endpoint="10.0.0.1"))
    assert verdict.reason == "replaced" and "same slice" in verdict.detail


def test_lost_when_another_slice_listing_the_identity_is_rewritten():
    # The pod moves to s2; rewriting s1 without it removes the identity,
    # and s2 is not read again until it is written.
    eng = engine_with(
        SVC,
        slice_of("s1", pod("10.0.0.1", "p")),
        slice_of("s2", pod("10.0.0.1", "p")),
        slice_of("s1", pod("10.0.0.5", "q")),
    )
    expl = explain(eng, "ns/web", 80, node="n1", endpoint="10.0.0.1")
    assert addresses(expl) == ["10.0.0.5"]
    verdict = only_verdict(expl)
    assert (verdict.reason, verdict.slice) == ("lost", "ns/s2")


def test_slice_without_the_port_and_unsupported_target_kind():
    other = Endpoint(("10.0.0.3",), ready=True, target_kind="Service", target_namespace="ns", target_name="x")
    eng = engine_with(
        SVC,
        slice_of("s1", pod("10.0.0.1", "p1"), ports=(SlicePort("admin", 9000),)),
        slice_of("s2", other),
        slice_of("s3", pod("10.0.0.4", "p4"), ports=()),
    )
    assert only_verdict(explain(eng, "ns/web", 80, endpoint="10.0.0.1")).reason == "no-port"
    assert "no port named 'http'" in only_verdict(explain(eng, "ns/web", 80, endpoint="10.0.0.1")).detail
    assert only_verdict(explain(eng, "ns/web", 80, endpoint="10.0.0.3")).reason == "unsupported-target"
    assert "lists no ports" in only_verdict(explain(eng, "ns/web", 80, endpoint="10.0.0.4")).detail
    assert explain(eng, "ns/web", 80).rule == "no-endpoints"


def test_local_policy_reasons_not_pod_other_node_and_no_node():
    svc = ServiceUpserted("ns", "web", (ServicePort("http", 80),), internal_traffic_policy="Local")
    vm = Endpoint(("10.0.0.3",), ready=True, node_name="n1")
    eng = engine_with(
        svc, slice_of("s1", pod("10.0.0.1", "p1", node_name="n1"), pod("10.0.0.2", "p2", node_name="n2"), vm)
    )
    assert only_verdict(explain(eng, "ns/web", 80, node="n1", endpoint="10.0.0.3")).reason == "not-pod"
    assert only_verdict(explain(eng, "ns/web", 80, node="n1", endpoint="10.0.0.2")).reason == "other-node"
    none = explain(eng, "ns/web", 80, zone="za", endpoint="10.0.0.1")
    assert none.endpoints == () and only_verdict(none).reason == "no-client-node"


def test_address_family_step_both_ways():
    v6 = SliceUpserted("ns", "v6", "web", "IPv6", HTTP, (pod("2001:db8::1", "p"),))
    eng = engine_with(SVC, slice_of("v4", pod("10.0.0.1", "p")), v6)
    on = explain(eng, "ns/web", 80, ipv6=True, endpoint="10.0.0.1")
    assert addresses(on) == ["2001:db8::1"]
    assert only_verdict(on).reason == "address-family" and "2001:db8::1" in only_verdict(on).detail
    off = explain(eng, "ns/web", 80, ipv6=False, endpoint="[2001:db8::1]:8080")
    assert addresses(off) == ["10.0.0.1"] and only_verdict(off).reason == "address-family"
    assert steps(on)["candidates"] == 2 and steps(on)["address-family"] == 1


def test_hostname_lookup_and_node_hints_extension():
    eng = engine_with(
        SVC,
        slice_of(
            "s1",
            pod("10.0.0.1", "p1", hostname="h0", for_zones=("za",), for_nodes=("n1",)),
            pod("10.0.0.2", "p2", hostname="h1", for_zones=("za",), for_nodes=("n2",)),
        ),
    )
    by_name = explain(eng, "ns/web", 80, node="n1", hostname="h1", endpoint="10.0.0.1")
    assert steps(by_name)["hostname"] == 1 and only_verdict(by_name).reason == "hostname"
    plain = explain(eng, "ns/web", 80, node="n1")
    assert plain.rule == "zone-hints" and len(plain.endpoints) == 2
    nodes = explain(eng, "ns/web", 80, node="n1", policy="linkerd+nodes", endpoint="10.0.0.2")
    assert nodes.rule == "node-hints" and addresses(nodes) == ["10.0.0.1"]
    assert only_verdict(nodes).reason == "node-hint"


def test_node_without_zone_label():
    expl = explain(engine_with(SVC, slice_of("s1", pod("10.0.0.1", "p1", for_zones=("za",)))), "ns/web", 80, node="n3")
    assert (expl.zone_source, expl.zone, expl.rule) == ("node-without-zone", None, "no-zone-match")


def test_kube_proxy_listing_reasons():
    terminating = Endpoint(("10.0.0.1",), ready=False, serving=True, terminating=True, node_name="n2")
    replacement = Endpoint(("10.0.0.1",), ready=True, node_name="n1")
    second = Endpoint(("10.0.0.7", "10.0.0.8"), ready=False, serving=False)
    v6 = SliceUpserted("ns", "v6", "web", "IPv6", HTTP, (Endpoint(("2001:db8::5",), ready=True),))
    eng = engine_with(SVC, slice_of("a", terminating), slice_of("b", replacement, second), v6)
    reasons = {
        query: [
            (v.reason, v.slice)
            for v in explain(eng, "ns/web", 80, node="n1", policy="kube-proxy", endpoint=query).verdicts
        ]
        for query in ("10.0.0.1", "10.0.0.7", "10.0.0.8", "2001:db8::5")
    }
    assert reasons == {
        "10.0.0.1": [("duplicate", "ns/a"), ("selected", "ns/b")],
        "10.0.0.7": [("not-ready", "ns/b")],
        "10.0.0.8": [("not-first-address", "ns/b")],
        "2001:db8::5": [("other-family", "ns/v6")],
    }


def test_kube_proxy_terminating_fallback_and_node_mode():
    eps = [
        Endpoint(("10.0.0.1",), ready=False, serving=True, terminating=True, node_name="n1"),
        Endpoint(("10.0.0.2",), ready=False, serving=False, terminating=True, node_name="n2"),
    ]
    fallback = explain(
        engine_with(SVC, slice_of("s", *eps)), "ns/web", 80, node="n1", policy="kube-proxy", endpoint="10.0.0.2"
    )
    assert fallback.rule == "terminating-fallback" and addresses(fallback) == ["10.0.0.1"]
    assert only_verdict(fallback).reason == "not-serving-terminating"
    assert steps(fallback)["conditions"] == 0
    hinted = [
        Endpoint((f"10.0.0.{i}",), ready=True, node_name=f"n{i}", for_zones=("za",), for_nodes=(f"n{i}",))
        for i in (1, 2)
    ]
    node_mode = explain(
        engine_with(SVC, slice_of("s", *hinted)), "ns/web", 80, node="n2", policy="kube-proxy", endpoint="10.0.0.1"
    )
    assert node_mode.rule == "node-hints" and addresses(node_mode) == ["10.0.0.2"]
    assert only_verdict(node_mode).reason == "node-hint"
    assert next(s.detail for s in node_mode.steps if s.name == "topology-mode").startswith("PreferSameNode")


def test_kube_proxy_local_policy_without_a_client_node():
    svc = ServiceUpserted("ns", "web", (ServicePort("http", 80),), internal_traffic_policy="Local")
    expl = explain(
        engine_with(svc, slice_of("s", Endpoint(("10.0.0.1",), ready=True, node_name="n1"))),
        "ns/web",
        80,
        zone="za",
        policy="kube-proxy",
        endpoint="10.0.0.1",
    )
    assert expl.endpoints == () and only_verdict(expl).reason == "no-client-node"


def test_kube_proxy_slices_without_their_service():
    eng = engine_with(slice_of("s", Endpoint(("10.0.0.1",), ready=True)))
    expl = explain(eng, "ns/web", 80, policy="kube-proxy", endpoint="10.0.0.1")
    assert expl.rule == "no-service" and only_verdict(expl).reason == "no-service"


# ---------------------------------------------------------------------------
# Property: explain agrees with Engine.endpoints on random small clusters


def assert_agrees(eng: Engine, service: str, port: int, **query) -> None:
    try:
        sel = eng.endpoints(service, port, **query)
    except LookupFailed:
        with pytest.raises(LookupFailed):
            explain(eng, service, port, **query)
        return
    expl = explain(eng, service, port, **query)
    assert (expl.rule, Counter(expl.endpoints)) == (sel.rule, Counter(sel.endpoints))
    assert (expl.candidates, expl.zone) == (sel.candidates, sel.zone)
    assert expl.zone_source in ZONE_SOURCES
    if query.get("policy") != "kube-proxy":
        assert expl.steps[0].count == sel.candidates
    # Every endpoint of the result is explained as selected, and nothing else is.
    for address in {e.address for e in sel.endpoints} | set(ADDRESSES[:2]):
        verdicts = explain(eng, service, port, endpoint=address, **query).verdicts
        assert verdicts and all(v.reason in VERDICTS for v in verdicts)
        assert all(v.selected == (v.reason == "selected") for v in verdicts)
        chosen = Counter((e.address, e.port) for e in sel.endpoints if e.address == address)
        assert Counter((v.address, v.port) for v in verdicts if v.selected) == chosen


ZONES = ["z0", "z1"]
NODES = ["n0", "n1", "n2"]
V4 = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
V6 = ["2001:db8::1", "2001:db8::2"]
ADDRESSES = V4 + V6


@st.composite
def endpoints_for(draw, address_type: str, hinted: bool):
    pool = V4 if address_type == "IPv4" else V6
    return Endpoint(
        addresses=tuple(draw(st.lists(st.sampled_from(pool), min_size=1, max_size=2))),
        ready=draw(st.sampled_from([True, True, False, None])),
        serving=draw(st.sampled_from([True, False, None])),
        terminating=draw(st.sampled_from([True, False, None])),
        node_name=draw(st.sampled_from(NODES + [None])),
        zone=draw(st.sampled_from(ZONES + [None])),
        hostname=draw(st.sampled_from([None, "h0"])),
        target_kind=draw(st.sampled_from([None, "Pod", "Pod", "Pod", "ExternalWorkload", "Service"])),
        target_namespace="ns",
        target_name=draw(st.sampled_from(["p0", "p1", "p2"])),
        for_zones=tuple(draw(st.lists(st.sampled_from(ZONES), min_size=int(hinted), max_size=2, unique=True))),
        for_nodes=tuple(draw(st.lists(st.sampled_from(NODES), min_size=int(hinted), max_size=1))),
    )


@st.composite
def slices(draw):
    address_type = draw(st.sampled_from(["IPv4", "IPv4", "IPv6"]))
    # Mostly fully hinted slices, so that the hint rules get their turn.
    hinted = draw(st.sampled_from([True, True, False]))
    return SliceUpserted(
        "ns",
        draw(st.sampled_from(["s0", "s1", "s2"])),
        draw(st.sampled_from(["web", "web", "web", "other"])),
        address_type,
        draw(
            st.sampled_from(
                [
                    (SlicePort("http", 8080),),
                    (SlicePort("http", 8080),),
                    (),
                    (SlicePort("", 8081),),
                    (SlicePort("admin", 9000), SlicePort("http", 8443)),
                ]
            )
        ),
        tuple(draw(st.lists(endpoints_for(address_type, hinted), max_size=4))),
    )


services = st.builds(
    ServiceUpserted,
    st.just("ns"),
    st.just("web"),
    st.sampled_from(
        [
            (ServicePort("http", 80),),
            (ServicePort("http", 80),),
            (ServicePort("", 80),),
            (ServicePort("http", 80, node_port=30080),),
        ]
    ),
    st.sampled_from(["Cluster", "Cluster", "Local"]),
    st.sampled_from(["Cluster", "Local"]),
    st.sampled_from(["ClusterIP", "NodePort"]),
)
events = st.one_of(
    slices(),
    slices(),
    slices(),
    services,
    st.builds(ServiceDeleted, st.just("ns"), st.just("web")),
    st.builds(
        SliceUpserted,
        st.just("ns"),
        st.sampled_from(["s0", "s1", "s2"]),
        st.just("web"),
        st.just("IPv4"),
        st.just((SlicePort("http", 8080),)),
        st.lists(
            st.builds(
                Endpoint,
                st.sampled_from(V4).map(lambda a: (a,)),
                st.just(False),
                st.sampled_from([True, False]),
                st.just(True),
                st.sampled_from(NODES),
            ),
            min_size=1,
            max_size=3,
        ).map(tuple),
    ),
    st.builds(SliceDeleted, st.just("ns"), st.sampled_from(["s0", "s1", "s2"])),
    st.builds(NodeUpserted, st.sampled_from(NODES), st.sampled_from(ZONES + [None]), st.just(1000)),
)


@settings(max_examples=100, deadline=None)
@given(service=services, history=st.lists(events, min_size=1, max_size=8))
def test_explain_agrees_with_engine_on_random_clusters(service, history):
    eng = Engine()
    eng.apply(service)
    for event in history:
        eng.apply(event)
        check_every_client(eng)


def check_every_client(eng: Engine) -> None:
    for node in ("n0", "n1", "ghost", None):
        for policy in ("linkerd", "linkerd+nodes", "kube-proxy"):
            for ipv6 in (False, True):
                query = {"node": node, "policy": policy, "ipv6": ipv6}
                if node is None:
                    query["zone"] = "z1"
                assert_agrees(eng, "ns/web", 80, **query)
        assert_agrees(eng, "ns/web", 80, node=node, hostname="h0")
