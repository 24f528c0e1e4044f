"""The zone index: after every event, the incrementally kept index answers
exactly as a from-scratch rebuild (a new Engine replaying the same events,
and the index reloaded from its own dump through the bulk kernels) and as the
plain reference model; plus the cache is kept, and dropped, where it should."""

from hypothesis import given, settings
from hypothesis import strategies as st
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
from engine.index import ZoneIndex
from engine.policies import linkerd

FEW_ZONES = [f"z{i}" for i in range(3)]
MANY_ZONES = [f"zone-{i:02d}" for i in range(80)]  # past the 64 a hint mask holds
NODES = ["n0", "n1", "n2", "n3"]
SLICES = ["s0", "s1", "s2", "s3"]
PORTS = [(), (SlicePort("http", 8080),), (SlicePort("", 8081),), (SlicePort("admin", 9000), SlicePort("http", 8443))]


def endpoints_st(zones):
    return st.builds(
        Endpoint,
        addresses=st.lists(
            st.sampled_from(["10.0.0.1", "10.0.0.2", "10.0.0.3", "2001:db8::1"]), min_size=1, max_size=2
        ).map(tuple),
        ready=st.sampled_from([True, True, False, None]),
        node_name=st.sampled_from(NODES + [None]),
        zone=st.sampled_from(zones + [None]),
        hostname=st.sampled_from([None, None, "h0", "h1"]),
        target_kind=st.sampled_from([None, "Pod", "Pod", "Pod", "ExternalWorkload", "Service"]),
        target_namespace=st.just("ns"),
        target_name=st.sampled_from(["p0", "p1", "p2", "p3"]),
        # Mostly hinted, so the zone rules (not the unhinted fallback) decide.
        for_zones=st.lists(st.sampled_from(zones), min_size=1, max_size=8).map(tuple) | st.just(()),
        for_nodes=st.lists(st.sampled_from(NODES), min_size=1, max_size=2).map(tuple) | st.just(()),
    )


def events_st(zones):
    slices = st.builds(
        SliceUpserted,
        namespace=st.just("ns"),
        name=st.sampled_from(SLICES),
        service=st.sampled_from(["web", "web", "web", "other"]),
        address_type=st.sampled_from(["IPv4", "IPv4", "IPv6"]),
        ports=st.sampled_from(PORTS),
        endpoints=st.lists(endpoints_st(zones), max_size=5).map(tuple),
    )
    return st.one_of(
        slices,
        slices,
        st.builds(SliceDeleted, st.just("ns"), st.sampled_from(SLICES)),
        st.builds(ServiceDeleted, st.just("ns"), st.just("web")),
        st.builds(NodeUpserted, st.sampled_from(NODES), st.sampled_from(zones[:4] + [None]), st.just(1000)),
        st.builds(
            ServiceUpserted,
            st.just("ns"),
            st.just("web"),
            st.sampled_from([(ServicePort("http", 80),), (ServicePort("", 80),), ()]),
            st.sampled_from(["Cluster", "Cluster", "Local"]),
        ),
    )


def every_zone_slice(zones):
    """A slice naming every zone, so the service interns all of them (ids past 63 included)."""
    return SliceUpserted(
        "ns",
        "seed",
        "web",
        ports=(SlicePort("http", 8080),),
        endpoints=tuple(
            Endpoint(
                (f"10.1.{i // 250}.{i % 250}",),
                target_kind="Pod",
                target_namespace="ns",
                target_name=f"seed-{i}",
                for_zones=(zone,),
            )
            for i, zone in enumerate(zones)
        ),
    )


QUERIES = [
    dict(node="n0"),
    dict(node="n1", policy="linkerd+nodes"),
    dict(node="n2", ipv6=True),
    dict(node="ghost"),
    dict(node="n3", hostname="h0"),
    dict(node="n1", filtering=False),
]


def answers(eng, zones):
    """Every query the test asks, as the Engine answers it (order and values exact)."""
    found = []
    for port in (80, 81):
        for query in QUERIES:
            sel = eng.endpoints("ns/web", port, strict=False, **query)
            found.append((sel.rule, sel.endpoints, sel.candidates))
        for zone in (zones[0], zones[-1], "nowhere"):
            sel = eng.endpoints("ns/web", port, zone=zone, strict=False)
            found.append((sel.rule, sel.endpoints, sel.candidates))
    return found


def reloaded(eng):
    """The same engine with its index rebuilt from the index's own dump (the bulk path)."""
    copy = Engine(implementation=eng.implementation)
    copy.state = eng.state
    copy.index = ZoneIndex(eng.state)
    copy.index.load(eng.index.dump())
    return copy


def expected(model, zones):
    found = []
    for port in (80, 81):
        for query in QUERIES:
            query = dict(query)
            node_hints = query.pop("policy", "linkerd") == "linkerd+nodes"
            found.append(model.selection("ns/web", port, node_hints=node_hints, **query))
        for zone in (zones[0], zones[-1], "nowhere"):
            found.append(model.selection("ns/web", port, zone=zone))
    return found


def rendered(found):
    return [(rule, sorted(render(e.address, e.port) for e in endpoints)) for rule, endpoints, _ in found]


@settings(max_examples=60, deadline=None)
@given(data=st.data(), many_zones=st.booleans())
def test_incremental_index_equals_rebuild_and_reference_after_every_event(data, many_zones, implementation):
    zones = MANY_ZONES if many_zones else FEW_ZONES
    events = data.draw(st.lists(events_st(zones), min_size=1, max_size=10))
    if many_zones:
        events.insert(0, every_zone_slice(zones))
    eng = Engine(implementation=implementation)
    model = LinkerdModel()
    for count, event in enumerate(events, 1):
        eng.apply(event)
        model.apply(event)
        got = answers(eng, zones)  # the second half of these comes from caches kept across events
        fresh = Engine(implementation=implementation)
        fresh.apply_all(events[:count])
        assert got == answers(fresh, zones)
        assert got == answers(reloaded(eng), zones)
        assert rendered(got) == expected(model, zones)
        assert eng.index.dump() == fresh.index.dump()


# ---------------------------------------------------------------------------
# The cache: kept across unrelated changes, dropped by the ones that matter


def pod(ip, name, zones, node=None):
    return Endpoint(
        (ip,), node_name=node, target_kind="Pod", target_namespace="ns", target_name=name, for_zones=tuple(zones)
    )


def slice_of(name, *endpoints):
    return SliceUpserted("ns", name, "web", ports=(SlicePort("http", 8080),), endpoints=endpoints)


def zoned_engine(implementation):
    eng = Engine(implementation=implementation)
    eng.apply_all(
        [
            ServiceUpserted("ns", "web", (ServicePort("http", 80),)),
            slice_of("a", pod("10.0.0.1", "a1", ["za"]), pod("10.0.0.2", "a2", ["za"])),
            slice_of("b", pod("10.0.1.1", "b1", ["zb"])),
        ]
    )
    return eng


def test_a_change_in_one_zone_keeps_the_other_zones_cached_selection(implementation):
    eng = zoned_engine(implementation)
    in_b = eng.endpoints("ns/web", 80, zone="zb")
    in_a = eng.endpoints("ns/web", 80, zone="za")
    eng.apply(slice_of("a", pod("10.0.0.1", "a1", ["za"])))
    assert eng.endpoints("ns/web", 80, zone="zb").endpoints[0] is in_b.endpoints[0]  # cached
    after = eng.endpoints("ns/web", 80, zone="za")
    assert [e.address for e in in_a.endpoints] == ["10.0.0.1", "10.0.0.2"]
    assert [e.address for e in after.endpoints] == ["10.0.0.1"]


def test_first_unhinted_endpoint_flips_every_zone_to_all(implementation):
    eng = zoned_engine(implementation)
    assert eng.endpoints("ns/web", 80, zone="zb").rule == "zone-hints"
    eng.apply(slice_of("c", pod("10.0.2.1", "c1", [])))
    sel = eng.endpoints("ns/web", 80, zone="zb")
    assert sel.rule == "unhinted-endpoint" and len(sel.endpoints) == 4
    eng.apply(SliceDeleted("ns", "c"))
    assert [e.address for e in eng.endpoints("ns/web", 80, zone="zb").endpoints] == ["10.0.1.1"]


def test_zone_losing_its_last_endpoint_falls_back_to_all(implementation):
    eng = zoned_engine(implementation)
    assert eng.endpoints("ns/web", 80, zone="zb").rule == "zone-hints"
    eng.apply(SliceDeleted("ns", "b"))
    sel = eng.endpoints("ns/web", 80, zone="zb")
    assert sel.rule == "no-zone-match" and len(sel.endpoints) == 2


def test_identity_rows_are_reused_after_churn_and_counts_stay_exact(implementation):
    eng = zoned_engine(implementation)
    for generation in range(20):
        eng.apply(slice_of("a", *(pod(f"10.0.{generation}.{i}", f"a-{generation}-{i}", ["za"]) for i in range(3))))
    book = eng.index.book("ns/web")
    publisher = book.ports[80].publisher
    assert publisher.size == 4 and publisher.unhinted == 0

    def zone(name):
        return book.zones.find(book.table.find(name))

    assert publisher.zone_count(zone("za")) == 3 and publisher.zone_count(zone("zb")) == 1
    assert len(book.identities) <= 8  # freed rows were reused, not appended


def test_index_select_matches_policy_select_and_is_cached(implementation):
    eng = zoned_engine(implementation)
    client = linkerd.Client(zone="za")
    rule, endpoints, count = eng.index.select("ns/web", 80, client)
    sel = eng.endpoints("ns/web", 80, zone="za")
    assert (rule, endpoints, count) == (sel.rule, sel.endpoints, sel.candidates)
    assert eng.index.select("ns/web", 80, client)[1] is endpoints
    assert eng.index.select("ns/missing", 80, client) == ("no-endpoints", (), 0)


def test_more_than_64_zones_and_many_hints_per_endpoint(implementation):
    zones = MANY_ZONES
    eng = Engine(implementation=implementation)
    eng.apply_all(
        [
            every_zone_slice(zones),
            slice_of("wide", pod("10.9.0.1", "w1", zones[60:68]), pod("10.9.0.2", "w2", zones[70:72])),
        ]
    )
    for zone in (zones[62], zones[66], zones[71]):
        sel = eng.endpoints("ns/web", 80, zone=zone, strict=False)
        seeds = [e for e in sel.endpoints if e.address.startswith("10.1.")]
        assert sel.rule == "zone-hints" and len(seeds) == 1 and zone in seeds[0].for_zones
        assert all(zone in e.for_zones for e in sel.endpoints)
    assert [e.address for e in eng.endpoints("ns/web", 80, zone=zones[67], strict=False).endpoints] == [
        "10.1.0.67",
        "10.9.0.1",
    ]
