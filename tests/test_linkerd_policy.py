"""Policy `linkerd`: unit cases for each rule, and a property test against
the plain reference evaluation over random event sequences."""

from hypothesis import given, settings
from hypothesis import strategies as st
from k8s import endpoint, endpoint_slice, node, service
from reference import LinkerdModel, render

from engine import Engine
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


def engine_with(*objects):
    eng = Engine()
    eng.ingest(list(objects))
    return eng


def got(selection):
    return sorted(render(e.address, e.port) for e in selection.endpoints)


def test_zone_hints_pick_same_zone_and_map_port_by_name():
    eng = engine_with(
        node("n1", "zone-a"),
        service("ns/web", ports=((80, "http"),)),
        endpoint_slice(
            "ns/web-1",
            "web",
            [
                endpoint("10.0.0.1", zone="zone-a", hints=["zone-a"], pod="p1"),
                endpoint("10.0.0.2", zone="zone-b", hints=["zone-b"], pod="p2"),
            ],
            ports=(("metrics", 9100), ("http", 8080)),
        ),
    )
    sel = eng.endpoints("ns/web", 80, node="n1")
    assert (sel.rule, got(sel), sel.zone) == ("zone-hints", ["10.0.0.1:8080"], "zone-a")


def test_hint_naming_several_zones_matches_any():
    eng = engine_with(
        service("ns/web"),
        endpoint_slice(
            "ns/s", "web", [endpoint("10.0.0.1", hints=["zone-b", "zone-c"]), endpoint("10.0.0.2", hints=["zone-a"])]
        ),
    )
    assert got(eng.endpoints("ns/web", 80, zone="zone-c")) == ["10.0.0.1:8080"]


def test_one_unhinted_candidate_disables_filtering():
    eng = engine_with(
        service("ns/web"), endpoint_slice("ns/s", "web", [endpoint("10.0.0.1", hints=["zone-a"]), endpoint("10.0.0.2")])
    )
    sel = eng.endpoints("ns/web", 80, zone="zone-a")
    assert sel.rule == "unhinted-endpoint" and len(sel.endpoints) == 2


def test_no_zone_match_falls_back_to_all_and_unknown_node_has_no_zone():
    eng = engine_with(
        service("ns/web"),
        endpoint_slice("ns/s", "web", [endpoint("10.0.0.1", hints=["zone-a"]), endpoint("10.0.0.2", hints=["zone-b"])]),
    )
    for sel in (eng.endpoints("ns/web", 80, zone="zone-c"), eng.endpoints("ns/web", 80, node="never-seen")):
        assert sel.rule == "no-zone-match" and len(sel.endpoints) == 2


def test_not_ready_skipped_but_unset_ready_kept():
    eng = engine_with(
        service("ns/web"),
        endpoint_slice(
            "ns/s",
            "web",
            [endpoint("10.0.0.1", ready=False), endpoint("10.0.0.2", ready=None, serving=False, terminating=True)],
        ),
    )
    assert got(eng.endpoints("ns/web", 80, zone="a")) == ["10.0.0.2:8080"]


def test_local_traffic_policy_only_pods_on_client_node_no_fallback():
    eng = engine_with(
        node("n1", "zone-a"),
        service("ns/cache", itp="Local"),
        endpoint_slice(
            "ns/c",
            "cache",
            [
                endpoint("10.0.0.1", node="n1", pod="p1", hints=["zone-b"]),
                endpoint("10.0.0.2", node="n1"),  # not a Pod: dropped
                endpoint("10.0.0.3", node="n2", pod="p3"),
            ],
        ),
    )
    assert got(eng.endpoints("ns/cache", 80, node="n1")) == ["10.0.0.1:8080"]
    empty = eng.endpoints("ns/cache", 80, node="n9")
    assert empty.rule == "local-traffic-policy" and empty.endpoints == ()
    assert eng.endpoints("ns/cache", 80, zone="zone-a").endpoints == ()


def test_last_written_slice_wins_for_a_shared_pod_identity():
    first = endpoint_slice("ns/s1", "web", [endpoint("10.0.0.1", pod="p", hints=["zone-a"])])
    second = endpoint_slice("ns/s2", "web", [endpoint("10.0.0.9", pod="p", hints=["zone-a"])])
    eng = engine_with(service("ns/web"), first, second)
    assert got(eng.endpoints("ns/web", 80, zone="zone-a")) == ["10.0.0.9:8080"]
    eng.ingest([first])  # rewriting s1 makes it the last written
    assert got(eng.endpoints("ns/web", 80, zone="zone-a")) == ["10.0.0.1:8080"]


def test_dual_stack_pod_prefers_ipv6_only_when_enabled():
    v4 = endpoint_slice("ns/v4", "web", [endpoint("1.1.1.1", pod="p", hints=["a"])])
    v6 = endpoint_slice("ns/v6", "web", [endpoint("2001:db8::1", pod="p", hints=["a"])], address_type="IPv6")
    eng = engine_with(service("ns/web"), v4, v6)
    assert got(eng.endpoints("ns/web", 80, zone="a", ipv6=True)) == ["[2001:db8::1]:8080"]
    assert got(eng.endpoints("ns/web", 80, zone="a", ipv6=False)) == ["1.1.1.1:8080"]


def test_hostname_filter_first():
    eng = engine_with(
        service("ns/db"),
        endpoint_slice(
            "ns/s", "db", [endpoint("10.0.0.1", hostname="db-0", hints=["a"]), endpoint("10.0.0.2", hostname="db-1")]
        ),
    )
    sel = eng.endpoints("ns/db", 80, zone="b", hostname="db-0")
    assert sel.rule == "no-zone-match" and got(sel) == ["10.0.0.1:8080"]
    assert eng.endpoints("ns/db", 80, zone="b", hostname="db-9").rule == "no-endpoints"


def test_node_hints_extension_is_opt_in():
    eng = engine_with(
        node("n1", "a"),
        service("ns/web"),
        endpoint_slice(
            "ns/s",
            "web",
            [
                endpoint("10.0.0.1", hints=["a"], node_hints=["n1"]),
                endpoint("10.0.0.2", hints=["a"], node_hints=["n2"]),
            ],
        ),
    )
    assert len(eng.endpoints("ns/web", 80, node="n1").endpoints) == 2
    sel = eng.endpoints("ns/web", 80, node="n1", policy="linkerd+nodes")
    assert sel.rule == "node-hints" and got(sel) == ["10.0.0.1:8080"]


def test_slice_without_ports_or_matching_name_contributes_nothing():
    eng = engine_with(
        service("ns/web"),
        endpoint_slice("ns/a", "web", [endpoint("10.0.0.1")], ports=()),
        endpoint_slice("ns/b", "web", [endpoint("10.0.0.2")], ports=(("admin", 9000),)),
    )
    assert eng.endpoints("ns/web", 80, zone="a").rule == "no-endpoints"


# ---------------------------------------------------------------------------
# Property: engine == reference after every event

ZONES = ["z0", "z1", "z2"]
NODES = ["n0", "n1", "n2", "n3"]

endpoints_st = st.builds(
    Endpoint,
    addresses=st.lists(
        st.sampled_from(["10.0.0.1", "10.0.0.2", "10.0.0.3", "2001:db8::1"]), min_size=1, max_size=2
    ).map(tuple),
    ready=st.sampled_from([True, False, None]),
    node_name=st.sampled_from(NODES + [None]),
    zone=st.sampled_from(ZONES + [None]),
    hostname=st.sampled_from([None, "h0", "h1"]),
    target_kind=st.sampled_from([None, "Pod", "Pod", "ExternalWorkload", "Service"]),
    target_namespace=st.just("ns"),
    target_name=st.sampled_from(["p0", "p1", "p2"]),
    for_zones=st.lists(st.sampled_from(ZONES), max_size=2).map(tuple),
    for_nodes=st.lists(st.sampled_from(NODES), max_size=1).map(tuple),
)
slice_st = st.builds(
    SliceUpserted,
    namespace=st.just("ns"),
    name=st.sampled_from(["s0", "s1", "s2"]),
    service=st.sampled_from(["web", "web", "other"]),
    address_type=st.sampled_from(["IPv4", "IPv6"]),
    ports=st.sampled_from(
        [(), (SlicePort("http", 8080),), (SlicePort("", 8081),), (SlicePort("admin", 9000), SlicePort("http", 8443))]
    ),
    endpoints=st.lists(endpoints_st, max_size=4).map(tuple),
)
event_st = st.one_of(
    st.builds(ServiceDeleted, st.just("ns"), st.just("web")),
    slice_st,
    st.builds(SliceDeleted, st.just("ns"), st.sampled_from(["s0", "s1", "s2"])),
    st.builds(NodeUpserted, st.sampled_from(NODES), st.sampled_from(ZONES + [None]), st.just(1000)),
    st.builds(
        ServiceUpserted,
        st.just("ns"),
        st.just("web"),
        st.sampled_from([(ServicePort("http", 80),), (ServicePort("", 80),), ()]).map(tuple),
        st.sampled_from(["Cluster", "Local"]),
    ),
)


@settings(max_examples=150, deadline=None)
@given(events=st.lists(event_st, min_size=1, max_size=12))
def test_engine_matches_reference_after_every_event(events, implementation):
    eng = Engine(implementation=implementation)
    model = LinkerdModel()
    for event in events:
        eng.apply(event)
        model.apply(event)
        for node_name in NODES[:3] + ["ghost"]:
            for kwargs in ({}, {"hostname": "h0"}, {"filtering": False}, {"ipv6": True}):
                for policy in ("linkerd", "linkerd+nodes"):
                    sel = eng.endpoints("ns/web", 80, node=node_name, policy=policy, strict=False, **kwargs)
                    expected = model.selection(
                        "ns/web", 80, node=node_name, node_hints=policy == "linkerd+nodes", **kwargs
                    )
                    assert (sel.rule, got(sel)) == expected
        sel = eng.endpoints("ns/web", 81, zone="z1", strict=False)
        assert (sel.rule, got(sel)) == model.selection("ns/web", 81, zone="z1")
