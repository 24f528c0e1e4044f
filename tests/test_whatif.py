"""The what-if traffic model on small clusters whose numbers are worked out
by hand in each test, the scenarios, the timeline and its chart."""

import csv
import io
import json
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.api import Engine
from engine.chart import timeline_spec, write_chart
from engine.cli import main
from engine.demo import demo_data, run_demo
from engine.errors import EngineError, LookupFailed
from engine.events import Endpoint, NodeUpserted, ServicePort, ServiceUpserted, SlicePort, SliceUpserted
from engine.timeline import Point, timelines
from engine.whatif import (
    Band,
    ClientSite,
    SiteGroups,
    TimelineRow,
    apportion,
    band_of,
    client_sites,
    evaluate,
    hazl_pool,
    parse_clients,
    parse_prices,
    parse_scenario,
    render_whatif,
    timeline,
    whatif,
    write_timeline,
    zone_rules,
)

ZONES = ("zone-a", "zone-b", "zone-c")
CLIENTS_40_40_20 = {"zone-a": 40, "zone-b": 40, "zone-c": 20}


def node(name, zone, cpu=4000):
    return NodeUpserted(name, zone, cpu)


def service(name="web", **kw):
    return ServiceUpserted("shop", name, (ServicePort("http", 80, target_port=8080),), **kw)


def endpoint(address, node_name, zone, for_zones=(), for_nodes=(), ready=True):
    return Endpoint(
        (address,),
        ready=ready,
        node_name=node_name,
        zone=zone,
        target_kind="Pod",
        target_namespace="shop",
        target_name=f"pod-{address}",
        for_zones=for_zones,
        for_nodes=for_nodes,
    )


def web_slice(*endpoints, name="web-1", svc="web"):
    return SliceUpserted("shop", name, svc, "IPv4", (SlicePort("http", 8080),), tuple(endpoints))


def engine_with(*events):
    engine = Engine()
    engine.apply_all(list(events))
    return engine


def by_name(report):
    return {s.name: s for s in report.scenarios}


def loads(result):
    return {e.address: e.load for e in result.endpoints}


# ---------------------------------------------------------------------------
# 3 zones, clients 40/40/20, endpoints 1/2/1 (25/50/25)


def one_two_one(cpu=(1000, 2000, 1000), **service_kw):
    """Endpoints 10.0.0.1 in zone-a, .2 and .3 in zone-b, .4 in zone-c; one node per zone."""
    return engine_with(
        node("node-a", "zone-a", cpu[0]),
        node("node-b", "zone-b", cpu[1]),
        node("node-c", "zone-c", cpu[2]),
        service(**service_kw),
        web_slice(
            endpoint("10.0.0.1", "node-a", "zone-a"),
            endpoint("10.0.0.2", "node-b", "zone-b"),
            endpoint("10.0.0.3", "node-b", "zone-b"),
            endpoint("10.0.0.4", "node-c", "zone-c"),
        ),
    )


def test_hand_computed_40_40_20_clients_over_1_2_1_endpoints():
    engine = one_two_one()
    report = whatif(
        engine, "shop/web", 80, clients=CLIENTS_40_40_20, scenarios=("recorded", "none", "auto", "prefer-close")
    )
    assert report.clients == pytest.approx({"zone-a": 0.4, "zone-b": 0.4, "zone-c": 0.2})
    got = by_name(report)

    # No hints: every client spreads over all 4 endpoints, 1/4 each.
    # zone-a sends 3/4 of its 0.4 away, zone-b 2/4 of 0.4, zone-c 3/4 of 0.2.
    no_hints_cross = 0.4 * 3 / 4 + 0.4 * 2 / 4 + 0.2 * 3 / 4
    assert no_hints_cross == pytest.approx(0.65)
    for name in ("recorded", "none"):
        assert got[name].cross_zone_share == pytest.approx(no_hints_cross)
        # Every endpoint gets 0.25 of all requests; an even share is 1/4.
        assert loads(got[name]) == pytest.approx({a: 1.0 for a in ("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4")})
        assert got[name].max_overload == pytest.approx(1.0)
        assert got[name].matrix["zone-c"]["zone-b"] == pytest.approx(0.2 * 2 / 4)

    # Own-zone hints: nothing crosses; zone-a's one endpoint takes all of 0.4.
    # CPU 25/50/25 gives Auto desired 1/2/1 endpoints, exactly the spread: own-zone hints too.
    even = 1 / 4
    for name in ("prefer-close", "auto"):
        assert got[name].cross_zone_share == pytest.approx(0.0)
        assert loads(got[name]) == pytest.approx(
            {
                "10.0.0.1": 0.4 / even,  # 1.6
                "10.0.0.2": 0.4 / 2 / even,  # 0.8
                "10.0.0.3": 0.4 / 2 / even,
                "10.0.0.4": 0.2 / even,  # 0.8
            }
        )
        assert got[name].max_overload == pytest.approx(1.6)
        assert got[name].flooded == ("zone-a",)
        assert got[name].matrix["zone-a"] == pytest.approx({"zone-a": 0.4, "zone-b": 0.0, "zone-c": 0.0})


def test_auto_refusing_leaves_every_client_every_endpoint():
    # CPU 40/40/20 and 4 endpoints: desired 1.6/1.6/0.8, minimums ceil(1.6/1.2)=2, 2, ceil(0.8/1.2)=1;
    # 2+2+1 = 5 > 4, so the allocator writes no hints and filtering falls back to all.
    engine = one_two_one(cpu=(4000, 4000, 2000))
    auto = by_name(whatif(engine, "shop/web", 80, clients=CLIENTS_40_40_20, scenarios=("auto",)))["auto"]
    assert auto.cross_zone_share == pytest.approx(0.4 * 3 / 4 + 0.4 * 2 / 4 + 0.2 * 3 / 4)
    assert "none written" in auto.note and "minimums" in auto.note


def test_auto_moves_an_endpoint_and_evens_the_load():
    # Equal CPU, endpoints 2/5/2 (n=9): desired 3 per zone, minimums ceil(3/1.2)=3 each (sum 9).
    # zone-b has 2 too many: one of its endpoints is hinted to zone-a, one to zone-c.
    engine = engine_with(
        *(node(f"node-{z[-1]}", z) for z in ZONES),
        service(),
        web_slice(
            *(endpoint(f"10.0.1.{i}", "node-a", "zone-a") for i in range(2)),
            *(endpoint(f"10.0.2.{i}", "node-b", "zone-b") for i in range(5)),
            *(endpoint(f"10.0.3.{i}", "node-c", "zone-c") for i in range(2)),
        ),
    )
    got = by_name(whatif(engine, "shop/web", 80, clients={z: 1 for z in ZONES}, scenarios=("prefer-close", "auto")))
    # Own zone: zone-a's third of the requests on 2 endpoints, even share 1/9 each.
    assert got["prefer-close"].cross_zone_share == pytest.approx(0.0)
    assert got["prefer-close"].max_overload == pytest.approx((1 / 3 / 2) / (1 / 9))  # 1.5
    assert set(got["prefer-close"].starved) == {"zone-b"}  # (1/3/5)/(1/9) = 0.6
    # Auto: each zone's clients over 3 endpoints, one of them in zone-b for zones a and c.
    assert got["auto"].cross_zone_share == pytest.approx(1 / 3 * 1 / 3 + 1 / 3 * 1 / 3)
    assert got["auto"].max_overload == pytest.approx(1.0)
    assert got["auto"].matrix["zone-a"]["zone-b"] == pytest.approx(1 / 9)


def test_kube_proxy_policy_gives_the_same_spread_for_zone_hints():
    engine = one_two_one()
    got = by_name(
        whatif(
            engine, "shop/web", 80, clients=CLIENTS_40_40_20, policy="kube-proxy", scenarios=("none", "prefer-close")
        )
    )
    assert got["none"].policy == "kube-proxy"
    assert got["none"].cross_zone_share == pytest.approx(0.65)
    assert got["prefer-close"].cross_zone_share == pytest.approx(0.0)
    assert got["prefer-close"].max_overload == pytest.approx(1.6)


# ---------------------------------------------------------------------------
# Node-level clients


def two_zones_three_nodes(**service_kw):
    """node-a1 and node-b1 each run one endpoint; node-a2 runs none.  Equal CPU."""
    return engine_with(
        node("node-a1", "zone-a"),
        node("node-a2", "zone-a"),
        node("node-b1", "zone-b"),
        NodeUpserted("cp", "zone-b", 4000, control_plane=True),
        service(**service_kw),
        web_slice(endpoint("10.0.0.1", "node-a1", "zone-a"), endpoint("10.0.0.2", "node-b1", "zone-b")),
    )


def test_cpu_clients_are_ready_worker_nodes_weighted_by_cpu():
    engine = two_zones_three_nodes()
    engine.apply(NodeUpserted("node-a2", "zone-a", 8000))
    basis, sites = client_sites(engine, "cpu")
    assert "CPU" in basis
    # 4000 + 8000 in zone-a, 4000 in zone-b; the control-plane node sends nothing.
    assert sites == [
        ClientSite("node-a1", "zone-a", 4 / 16),
        ClientSite("node-a2", "zone-a", 8 / 16),
        ClientSite("node-b1", "zone-b", 4 / 16),
    ]


def test_explicit_zone_weights_spread_over_the_zone_nodes_or_one_zone_client():
    engine = two_zones_three_nodes()
    engine.apply(NodeUpserted("node-x1", "zone-x", 4000, ready=False))  # zone-x: no Ready worker
    _, sites = client_sites(engine, {"zone-a": 60, "zone-b": 30, "zone-x": 10})
    assert sites == [
        ClientSite("node-a1", "zone-a", 0.3),
        ClientSite("node-a2", "zone-a", 0.3),
        ClientSite("node-b1", "zone-b", 0.3),
        ClientSite(None, "zone-x", pytest.approx(0.1)),
    ]


def test_a_client_zone_or_service_the_cluster_does_not_have_is_an_error():
    engine = two_zones_three_nodes()
    with pytest.raises(LookupFailed, match=r"^clients: no zone zone-q \(did you mean zone-a, zone-b\?\)$"):
        client_sites(engine, {"zone-a": 60, "zone-q": 40})
    with pytest.raises(LookupFailed, match=r"^clients: no service shop/nobody \(did you mean shop/web\?\)$"):
        whatif(engine, "shop/web", 80, clients="service:shop/nobody")


def test_client_service_counts_its_ready_endpoints_per_node():
    engine = two_zones_three_nodes()
    engine.apply_all(
        [
            service("front"),
            web_slice(
                endpoint("10.1.0.1", "node-a2", "zone-a"),
                endpoint("10.1.0.2", "node-a2", "zone-a"),
                endpoint("10.1.0.3", "node-b1", "zone-b"),
                endpoint("10.1.0.4", "node-b1", "zone-b", ready=False),
                name="front-1",
                svc="front",
            ),
        ]
    )
    report = whatif(engine, "shop/web", 80, clients="service:shop/front", scenarios=("prefer-close",))
    assert report.clients == pytest.approx({"zone-a": 2 / 3, "zone-b": 1 / 3})
    # 3 ready clients: two on node-a2 reach 10.0.0.1, one on node-b1 reaches 10.0.0.2; even share 1/2.
    assert loads(report.scenarios[0]) == pytest.approx({"10.0.0.1": (2 / 3) / (1 / 2), "10.0.0.2": (1 / 3) / (1 / 2)})


def test_prefer_same_node_uses_node_hints_with_linkerd_nodes():
    engine = two_zones_three_nodes()
    result = whatif(engine, "shop/web", 80, clients="cpu", scenarios=("prefer-same-node",)).scenarios[0]
    assert result.policy == "linkerd+nodes"
    # node-a1 -> its own endpoint; node-a2 has none hinted for it, so zone hints: 10.0.0.1 too.
    # Each node sends 1/3; even share 1/2.
    assert loads(result) == pytest.approx({"10.0.0.1": (2 / 3) / (1 / 2), "10.0.0.2": (1 / 3) / (1 / 2)})
    assert result.cross_zone_share == pytest.approx(0.0)


def test_local_traffic_policy_leaves_nodes_without_an_endpoint_unserved():
    engine = two_zones_three_nodes(internal_traffic_policy="Local")
    result = whatif(engine, "shop/web", 80, clients="cpu", scenarios=("none",)).scenarios[0]
    # node-a2 (1/3 of requests) has no local endpoint and Local has no fallback.
    assert result.unserved_share == pytest.approx(1 / 3)
    assert result.cross_zone_share == pytest.approx(0.0)
    assert loads(result) == pytest.approx({"10.0.0.1": 1.0, "10.0.0.2": 1.0})  # 1/3 each, even (2/3)/2
    out = io.StringIO()
    render_whatif(whatif(engine, "shop/web", 80, scenarios=("none",)), out)
    assert "unserved" in out.getvalue() and "33.3%" in out.getvalue()


# ---------------------------------------------------------------------------
# Drain and scale


def two_per_zone(**service_kw):
    """Six nodes (x1, x2 per zone, equal CPU), one endpoint on each, hinted to its own zone."""
    nodes = [node(f"node-{z[-1]}{i}", z) for z in ZONES for i in (1, 2)]
    eps = [
        endpoint(f"10.0.{k}.{i}", f"node-{z[-1]}{i}", z, for_zones=(z,)) for k, z in enumerate(ZONES, 1) for i in (1, 2)
    ]
    return engine_with(*nodes, service(**service_kw), web_slice(*eps))


def test_drain_zone_recomputes_auto_hints_which_then_give_up():
    engine = two_per_zone(topology_mode="Auto")
    got = by_name(whatif(engine, "shop/web", 80, scenarios=("recorded", "drain:zone-c")))
    assert got["recorded"].cross_zone_share == pytest.approx(0.0)
    drained = got["drain:zone-c"]
    # 4 endpoints left, 3 zones of equal CPU: minimums ceil(4/3/1.2) = 2 each, 6 > 4: no hints.
    assert "none written" in drained.note
    # Every client over the 4 endpoints: zone-a and zone-b keep 2/4 of their third, zone-c sends all.
    assert drained.cross_zone_share == pytest.approx(1 / 3 * 2 / 4 + 1 / 3 * 2 / 4 + 1 / 3)
    assert {e.zone for e in drained.endpoints} == {"zone-a", "zone-b"}
    assert drained.max_overload == pytest.approx(1.0)


def test_drain_zone_with_prefer_close_sends_only_the_drained_zone_away():
    engine = two_per_zone(traffic_distribution="PreferClose")
    drained = whatif(engine, "shop/web", 80, scenarios=("drain:zone-c",)).scenarios[0]
    # zone-c clients match no hint and fall back to all 4 endpoints.
    assert drained.cross_zone_share == pytest.approx(1 / 3)
    # An endpoint in zone-a: half of zone-a's third plus a quarter of zone-c's, even share 1/4.
    assert loads(drained)["10.0.1.1"] == pytest.approx((1 / 3 / 2 + 1 / 3 / 4) / (1 / 4))


def test_drain_nodes_floods_the_zone_that_lost_an_endpoint():
    engine = two_per_zone(traffic_distribution="PreferClose")
    drained = whatif(engine, "shop/web", 80, scenarios=("drain-nodes:node-a1",)).scenarios[0]
    assert "10.0.1.1" not in loads(drained)
    # zone-a's third now lands on one endpoint; 5 endpoints, even share 1/5.
    assert drained.max_overload == pytest.approx((1 / 3) / (1 / 5))
    assert drained.flooded == ("zone-a",)
    assert drained.cross_zone_share == pytest.approx(0.0)


def test_scenarios_never_touch_the_recorded_state_or_log(tmp_path):
    with Engine.open(tmp_path / "log", create=True, write=True, sync=False) as engine:
        engine.apply_all(
            [
                *two_per_zone(topology_mode="Auto").state.nodes.values(),
                service(topology_mode="Auto"),
                *two_per_zone().state.slices.values(),
            ]
        )
        before, last = engine.state.dump(), engine.log.last_seq
        whatif(engine, "shop/web", 80, scenarios=("none", "auto", "drain:zone-a", "scale:9"))
        assert engine.state.dump() == before
        assert engine.log.last_seq == last
        assert engine.endpoints("shop/web", 80, node="node-a1").rule == "zone-hints"


def test_apportion_by_largest_remainder():
    # 6 over 1/2/1: quotas 1.5/3/1.5, floors 1/3/1, the last one to the first tied zone by name.
    assert apportion(6, {"zone-a": 1, "zone-b": 2, "zone-c": 1}) == {"zone-a": 2, "zone-b": 3, "zone-c": 1}
    # 2 over 1/2/1: quotas 0.5/1/0.5.
    assert apportion(2, {"zone-a": 1, "zone-b": 2, "zone-c": 1}) == {"zone-a": 1, "zone-b": 1, "zone-c": 0}
    # A tie in remainders goes to the zone with more endpoints: 3 over 2/3 -> 1.2/1.8 -> 1/2.
    assert apportion(3, {"zone-a": 2, "zone-b": 3}) == {"zone-a": 1, "zone-b": 2}


def test_scale_spreads_new_endpoints_by_zone_and_rewrites_hints():
    engine = one_two_one(traffic_distribution="PreferClose")
    got = by_name(whatif(engine, "shop/web", 80, clients=CLIENTS_40_40_20, scenarios=("scale:6", "scale:2")))
    up = got["scale:6"]
    per_zone = {z: sorted(e.address for e in up.endpoints if e.zone == z) for z in ZONES}
    assert per_zone == {
        "zone-a": ["10.0.0.1", "scaled-zone-a-1"],
        "zone-b": ["10.0.0.2", "10.0.0.3", "scaled-zone-b-1"],
        "zone-c": ["10.0.0.4"],
    }
    assert "prefer-same-zone" in up.note
    # Own-zone hints on 2/3/1 endpoints, even share 1/6.
    assert up.cross_zone_share == pytest.approx(0.0)
    assert loads(up) == pytest.approx(
        {
            "10.0.0.1": 0.2 * 6,
            "scaled-zone-a-1": 0.2 * 6,
            "10.0.0.2": 0.4 / 3 * 6,
            "10.0.0.3": 0.4 / 3 * 6,
            "scaled-zone-b-1": 0.4 / 3 * 6,
            "10.0.0.4": 0.2 * 6,
        }
    )
    down = got["scale:2"]
    assert sorted((e.zone, e.address) for e in down.endpoints) == [("zone-a", "10.0.0.1"), ("zone-b", "10.0.0.2")]
    # zone-c clients match no hint: all 2 endpoints.
    assert down.cross_zone_share == pytest.approx(0.2)


# ---------------------------------------------------------------------------
# Output, cost and errors


def test_json_has_exactly_the_documented_shape():
    report = whatif(one_two_one(), "shop/web", 80, clients=CLIENTS_40_40_20)
    data = json.loads(json.dumps(report.to_json()))
    assert set(data) == {"service", "clients", "scenarios"}
    assert data["service"] == "shop/web"
    assert [s["name"] for s in data["scenarios"]] == ["recorded", "none", "auto"]
    for s in data["scenarios"]:
        assert set(s) == {"name", "policy", "cross_zone_share", "max_overload", "matrix", "endpoints"}
        assert 0.0 <= s["cross_zone_share"] <= 1.0
        assert set(s["endpoints"][0]) == {"address", "zone", "load"}
        served = sum(v for row in s["matrix"].values() for v in row.values())
        assert served == pytest.approx(1.0)


def test_cost_from_a_flat_price_and_from_pair_prices():
    engine = one_two_one()
    # 1000 requests of 1 MB = 1 GB; 0.65 of it crosses zones at 0.01 per GB.
    flat = whatif(
        engine,
        "shop/web",
        80,
        clients=CLIENTS_40_40_20,
        scenarios=("none",),
        price_per_gb=0.01,
        bytes_per_request=1e6,
        requests=1000,
    ).scenarios[0]
    assert flat.cost.cross_zone_gb == pytest.approx(0.65)
    assert flat.cost.amount == pytest.approx(0.65 * 0.01)
    assert "cost" in flat.to_json()
    # Only a<->b priced (given one way): a->b 0.4/4 + b->a 0.4*1/4 = 0.2 GB at 0.02.
    pairs = whatif(
        engine,
        "shop/web",
        80,
        clients=CLIENTS_40_40_20,
        scenarios=("none",),
        price_per_gb=parse_prices("zone-a:zone-b=0.02"),
        bytes_per_request=1e6,
        requests=1000,
    ).scenarios[0]
    assert pairs.cost.amount == pytest.approx((0.4 * 2 / 4 + 0.4 * 1 / 4) * 0.02)
    with pytest.raises(EngineError, match="bytes_per_request"):
        whatif(engine, "shop/web", 80, price_per_gb=0.01)


def test_render_shows_the_scenarios_side_by_side():
    out = io.StringIO()
    report = whatif(one_two_one(), "shop/web", 80, clients=CLIENTS_40_40_20, scenarios=("none", "prefer-close"))
    render_whatif(report, out)
    lines = out.getvalue().splitlines()
    header = next(line for line in lines if "prefer-close" in line and "none" in line)
    assert header.index("none") < header.index("prefer-close")
    cross = next(line for line in lines if line.startswith("cross-zone"))
    assert cross.split()[1:] == ["65.0%", "0.0%"]
    assert any(line.startswith("load 10.0.0.1 (zone-a)") and line.split()[-1] == "1.60" for line in lines)


def test_parsing_and_errors():
    assert parse_clients("zone-a=60, zone-b=30") == {"zone-a": 60.0, "zone-b": 30.0}
    assert parse_clients("cpu") == "cpu"
    assert parse_clients("service:shop/front") == "service:shop/front"
    with pytest.raises(EngineError, match="ZONE=WEIGHT"):
        parse_clients("zone-a=lots")
    assert parse_scenario("drain-nodes:n1,n2").argument == ("n1", "n2")
    assert parse_scenario("scale:4").name == "scale:4"
    for bad in ("teleport", "scale:0", "drain", "none:x", "drain:a,b"):
        with pytest.raises(EngineError):
            parse_scenario(bad)
    engine = one_two_one()
    with pytest.raises(LookupFailed):
        whatif(engine, "shop/nope", 80)
    with pytest.raises(LookupFailed, match="no port 81"):
        whatif(engine, "shop/web", 81)
    with pytest.raises(EngineError, match="no such zone"):
        whatif(engine, "shop/web", 80, scenarios=("drain:zone-z",))
    with pytest.raises(EngineError, match="unknown node"):
        whatif(engine, "shop/web", 80, scenarios=("drain-nodes:node-z",))
    with pytest.raises(EngineError, match="no clients"):
        whatif(engine, "shop/web", 80, clients={"zone-a": 0})


# ---------------------------------------------------------------------------
# Timeline and chart


@pytest.fixture
def short_log(tmp_path):
    """3 zones, one endpoint each with own-zone hints, then zone-c's endpoint goes and zone-b's
    is hinted for zone-c too; an unrelated service's slice in between."""
    path = tmp_path / "log"
    a, b, c = (endpoint(f"10.0.0.{i}", f"node-{z[-1]}", z, for_zones=(z,)) for i, z in enumerate(ZONES, 1))
    with Engine.open(path, create=True, write=True, sync=False) as engine:
        for event in [
            *(node(f"node-{z[-1]}", z) for z in ZONES),  # 1-3: no row, the service has no slices yet
            service(traffic_distribution="PreferClose"),  # 4: no endpoints yet
            web_slice(a, b, c),  # 5: all local
            web_slice(a, b),  # 6: zone-c clients fall back to both
            web_slice(endpoint("10.9.0.1", "node-a", "zone-a"), name="other-1", svc="other"),  # 7: not web
            web_slice(a, endpoint("10.0.0.2", "node-b", "zone-b", for_zones=("zone-b", "zone-c"))),  # 8
        ]:
            engine.apply(event)
    return path


def test_timeline_rows_follow_the_events_that_touch_the_service(short_log):
    rows = timeline(short_log, "shop/web", 80, clients={z: 1 for z in ZONES})
    assert [r.seq for r in rows] == [4, 5, 6, 8]
    assert rows[0].cross_zone_share is None and rows[0].unserved_share == pytest.approx(1.0)
    assert (rows[1].cross_zone_share, rows[1].max_overload) == pytest.approx((0.0, 1.0))
    # seq 6: zone-c's third spread over a and b; each endpoint gets 1/3 + 1/6 = 1/2 = the even share.
    assert (rows[2].cross_zone_share, rows[2].max_overload) == pytest.approx((1 / 3, 1.0))
    # seq 8: zone-c's third all to b: b has 2/3 against an even 1/2.
    assert (rows[3].cross_zone_share, rows[3].max_overload) == pytest.approx((1 / 3, (2 / 3) / (1 / 2)))
    assert rows[3].event == "SliceUpserted shop/web-1"
    sampled = timeline(short_log, "shop/web", 80, clients={z: 1 for z in ZONES}, every=2)
    assert [r.seq for r in sampled] == [4, 6, 8]


def test_timeline_csv_and_json(short_log):
    rows = timeline(short_log, "shop/web", 80, clients={z: 1 for z in ZONES})
    out = io.StringIO()
    write_timeline(rows, out, "csv")
    table = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [int(r["seq"]) for r in table] == [4, 5, 6, 8]
    assert table[0]["cross_zone_share"] == "" and float(table[2]["cross_zone_share"]) == pytest.approx(1 / 3)
    out = io.StringIO()
    write_timeline(rows, out, "json")
    data = json.loads(out.getvalue())
    assert data[3]["max_overload"] == pytest.approx(4 / 3) and data[0]["max_overload"] is None


def test_chart_svg_png_and_html_from_the_same_spec(short_log, tmp_path):
    points = timelines(short_log, [("shop/web", 80)], clients={z: 1 for z in ZONES})[("shop/web", 80)]
    svg = write_chart(points, tmp_path / "web.svg", title="shop/web:80")
    root = ET.parse(svg).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = {t.text for t in root.iter("{http://www.w3.org/2000/svg}text")}
    assert {"shop/web:80", "cross-zone share (%)", "max overload (1 = even)"} <= texts
    png = write_chart(points, tmp_path / "web.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = write_chart(points, tmp_path / "web.html").read_text()
    assert page.count("data-chart=") == 1 and "<script src" not in page and "vegaEmbed" in page
    with pytest.raises(EngineError, match="unknown chart format"):
        write_chart(points, tmp_path / "web.gif")
    with pytest.raises(EngineError, match="no timeline rows"):
        write_chart([], tmp_path / "web.svg")


def test_timeline_spec_marks_the_points_that_moved_and_holds_values_up_to_a_gap(short_log):
    points = timelines(short_log, [("shop/web", 80)], clients={z: 1 for z in ZONES})[("shop/web", 80)]
    values = timeline_spec(points)["data"]["values"]
    assert [v["seq"] for v in values] == [4, 5, 6, 8] and not any(v["hold"] for v in values)
    # 4 served nobody; 5 served everyone (from nothing: moved), 6 lost an endpoint, 8 rewrote hints.
    assert [v["cause"] for v in values] == [None, "endpoints", "endpoints", "hints"]
    assert values[0]["cross"] is None and values[2]["cross"] == pytest.approx(100 / 3, abs=1e-3)
    assert [v["time"] for v in values] == [1000 * p.row.time for p in points]
    # A value holds up to the event after which nobody was served, then the line breaks.
    served, emptied = (
        Point(TimelineRow(seq, 100.0 + seq, "e", 1, cross, load, 0.0), (("endpoints", 1),))
        for seq, cross, load in ((1, 0.25, 1.5), (2, None, None))
    )
    held = timeline_spec([served, emptied])["data"]["values"]
    assert [(v["time"], v["cross"], v["hold"]) for v in held] == [
        (101000.0, 25.0, False),
        (102000.0, 25.0, True),
        (102000.0, None, False),
    ]
    assert held[2]["cause"] == "endpoints"


def test_demo_cluster_after_zone_c_lost_its_web_pods():
    engine = Engine()
    for name in ("cluster.json", "changes.jsonl"):
        with (demo_data() / name).open(encoding="utf-8") as stream:
            engine.ingest_streams([(name, stream)])
    # Clients by worker CPU: zone-a 4000+8000, zone-b 8000+3500, zone-c 4000+8000 (cp-1 excluded).
    zone_c = 12000 / 35500
    got = by_name(whatif(engine, "shop/web", 80, scenarios=("recorded", "none")))
    assert got["recorded"].matrix["zone-c"].get("zone-c", 0.0) == 0.0
    # web has no endpoint left in zone-c: with the recorded hints only zone-c's clients cross.
    assert got["recorded"].cross_zone_share == pytest.approx(zone_c)
    # Without hints every client spreads over the 3 + 3 endpoints in zones a and b.
    zone_a, zone_b = 12000 / 35500, 11500 / 35500
    assert got["none"].cross_zone_share == pytest.approx(zone_a * 3 / 6 + zone_b * 3 / 6 + zone_c)


# ---------------------------------------------------------------------------
# Rates, latency and HAZL

CLIENTS_60_20_20 = {"zone-a": 60, "zone-b": 20, "zone-c": 20}


def rps_of(result):
    return {e.address: e.rps for e in result.endpoints}


def pools_of(result):
    return {p.zone: (p.local, p.pool) for p in result.pools}


def test_hazl_issue_hand_case_3_zones_2_endpoints_clients_60_20_20():
    # 1000 rps at 10 ms: zone-a keeps 1000 x 0.6 x 0.01 = 6 requests in flight, zones b and c 2 each.
    report = whatif(
        two_per_zone(), "shop/web", 80, clients=CLIENTS_60_20_20, scenarios=("hazl",), rps=1000, latency=0.01
    )
    hazl = report.scenarios[0]
    assert hazl.policy == "linkerd" and hazl.band == Band(0.8, 2.0)
    # zone-a: 6/2 = 3 > 2, pool ceil(6/2) = 3: its 2 plus one slot shared by the 4 others (a quarter
    # each, half an endpoint's worth per zone).  Zones b, c: 2/2 = 1 <= 2, local.
    assert pools_of(hazl) == {"zone-a": (2, 3), "zone-b": (2, 2), "zone-c": (2, 2)}
    assert [p.inflight for p in hazl.pools] == pytest.approx([6.0, 2.0, 2.0])
    # 600 rps over 3 slots: 200 per local endpoint, 200 / 4 = 50 to each other one.
    assert hazl.cross_zone_share == pytest.approx(0.2)
    assert hazl.matrix["zone-a"] == pytest.approx({"zone-a": 0.4, "zone-b": 0.1, "zone-c": 0.1})
    assert hazl.matrix["zone-b"] == pytest.approx({"zone-a": 0.0, "zone-b": 0.2, "zone-c": 0.0})
    assert rps_of(hazl) == pytest.approx(
        {"10.0.1.1": 200, "10.0.1.2": 200, "10.0.2.1": 150, "10.0.2.2": 150, "10.0.3.1": 150, "10.0.3.2": 150}
    )
    assert {e.address: e.inflight for e in hazl.endpoints}["10.0.2.1"] == pytest.approx(1.5)
    assert hazl.max_overload == pytest.approx(200 / (1000 / 6))  # 1.2
    assert hazl.flooded == () and hazl.starved == ()  # 1.2 is on the flood line, not above it


def test_hazl_rule_no_local_endpoint_spreads_the_zone_over_every_candidate():
    # zone-c has no endpoint: its third spreads evenly over the 4 of zones a and b, whatever its demand.
    engine = engine_with(
        *(node(f"node-{z[-1]}", z) for z in ZONES),
        service(),
        web_slice(
            endpoint("10.0.1.1", "node-a", "zone-a"),
            endpoint("10.0.1.2", "node-a", "zone-a"),
            endpoint("10.0.2.1", "node-b", "zone-b"),
            endpoint("10.0.2.2", "node-b", "zone-b"),
        ),
    )
    hazl = whatif(
        engine, "shop/web", 80, clients={z: 1 for z in ZONES}, scenarios=("hazl",), rps=300, latency=0.01
    ).scenarios[0]
    # Demand 1 per zone: a and b 1/2 per endpoint, inside the band's top: local.
    assert pools_of(hazl) == {"zone-a": (2, 2), "zone-b": (2, 2), "zone-c": (0, 4)}
    assert hazl.cross_zone_share == pytest.approx(1 / 3)
    # Each endpoint: 100 rps of its own zone + 100 / 4 from zone-c.
    assert rps_of(hazl) == pytest.approx({a: 50 + 25 for a in ("10.0.1.1", "10.0.1.2", "10.0.2.1", "10.0.2.2")})
    assert hazl.unserved_share == 0.0


def test_hazl_rule_stays_local_up_to_the_band_top_and_spill_stops_at_every_candidate():
    # 1000 rps at 8 ms, clients 50/25/25: zone-a 4 in flight on 2 endpoints = 2.0 exactly, the top: local.
    at_top = whatif(
        two_per_zone(),
        "shop/web",
        80,
        clients={"zone-a": 50, "zone-b": 25, "zone-c": 25},
        scenarios=("hazl",),
        rps=1000,
        latency=0.008,
    ).scenarios[0]
    assert pools_of(at_top)["zone-a"] == (2, 2)
    assert at_top.cross_zone_share == pytest.approx(0.0)
    # 10 times the traffic: zone-a 40 in flight wants ceil(40/2) = 20 endpoints; there are 6.
    # Zones b and c: 20/2 = 10 > 2, pool min(6, 10) = 6.  Everyone spreads over all 6: as with no hints.
    flooded = whatif(
        two_per_zone(),
        "shop/web",
        80,
        clients={"zone-a": 50, "zone-b": 25, "zone-c": 25},
        scenarios=("hazl", "none"),
        rps=10000,
        latency=0.008,
    )
    hazl, none = flooded.scenarios
    assert pools_of(hazl) == {"zone-a": (2, 6), "zone-b": (2, 6), "zone-c": (2, 6)}
    assert hazl.cross_zone_share == pytest.approx(none.cross_zone_share) == pytest.approx(2 / 3)
    assert hazl.max_overload == pytest.approx(1.0)


def test_hazl_keeps_internal_traffic_policy_local_and_ignores_hints():
    engine = two_zones_three_nodes(internal_traffic_policy="Local")
    hazl = whatif(engine, "shop/web", 80, clients="cpu", scenarios=("hazl",), rps=10000, latency=1).scenarios[0]
    # Huge demand, but Local decides first: node-a2 has no endpoint and stays unserved, no band applies.
    assert hazl.pools == ()
    assert hazl.unserved_share == pytest.approx(1 / 3)
    assert hazl.cross_zone_share == pytest.approx(0.0)
    assert "internalTrafficPolicy Local" in hazl.note
    # Own-zone hints on the recorded slices do not keep HAZL's candidates in their zone.
    hinted = two_per_zone()  # every endpoint hinted for its own zone
    spread = whatif(
        hinted, "shop/web", 80, clients={z: 1 for z in ZONES}, scenarios=("recorded", "hazl"), rps=10000, latency=1
    ).scenarios
    assert spread[0].cross_zone_share == pytest.approx(0.0)
    assert spread[1].cross_zone_share == pytest.approx(2 / 3)


def test_hazl_band_on_the_command_line(tmp_path, capsys):
    path, source = tmp_path / "log", two_per_zone().state
    with Engine.open(path, create=True, write=True, sync=False) as engine:
        engine.apply_all([*source.nodes.values(), *source.services.values(), *source.slices.values()])
    code = main(
        [
            "whatif",
            str(path),
            "shop/web:80",
            "--clients",
            "zone-a=60,zone-b=20,zone-c=20",
            "--rps",
            "1000",
            "--latency",
            "0.01",
            "--scenario",
            "hazl:0.5,1.5",
            "--json",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    data = json.loads(out)
    assert (data["rps"], data["latency"]) == (1000, 0.01)
    hazl = data["scenarios"][0]
    assert hazl["name"] == "hazl:0.5,1.5"
    # HIGH 1.5: zone-a 6/2 = 3 > 1.5, pool ceil(6/1.5) = 4: its 2 and 2 slots over the other 4.
    # Zones b and c: 2/2 = 1, inside 0.5..1.5: local.
    assert hazl["hazl"] == {
        "low": 0.5,
        "high": 1.5,
        "zones": {
            "zone-a": {"inflight": 6.0, "local": 2, "pool": 4},
            "zone-b": {"inflight": 2.0, "local": 2, "pool": 2},
            "zone-c": {"inflight": 2.0, "local": 2, "pool": 2},
        },
    }
    assert hazl["cross_zone_share"] == pytest.approx(0.6 * 2 / 4)
    by_address = {e["address"]: e for e in hazl["endpoints"]}
    # zone-a's 600 rps over 4 slots: 150 to each local endpoint, 150 x 2/4 = 75 to each other one.
    assert by_address["10.0.1.1"]["rps"] == pytest.approx(150)
    assert by_address["10.0.2.1"]["rps"] == pytest.approx(100 + 75)
    assert by_address["10.0.2.1"]["inflight"] == pytest.approx(1.75)


def test_hazl_pool_rules_and_hysteresis_by_hand():
    band = Band()  # 0.8 .. 2.0
    # No previous pool: the three rules.
    assert hazl_pool(5.0, 0, 6, band) == 6  # nothing local: every candidate
    assert hazl_pool(0.0, 0, 0, band) == 0  # nothing at all
    assert hazl_pool(4.0, 2, 6, band) == 2  # 2.0 per endpoint: at the top, local
    assert hazl_pool(1.0, 2, 6, band) == 2  # 0.5, below the band: still local (nothing to shed)
    assert hazl_pool(4.2, 2, 6, band) == 3  # 2.1 > 2: ceil(2.1) = 3
    assert hazl_pool(100.0, 2, 6, band) == 6  # ceil(50) capped at every candidate
    assert hazl_pool(1000 * 0.6 * 0.01, 2, 6, band) == 3  # a product of decimals a hair over 6
    # A spilled zone keeps its pool while the load per pool endpoint stays inside the band.
    assert hazl_pool(4.0, 2, 8, band, previous=5) == 5  # 0.8: the bottom, kept (static: local)
    assert hazl_pool(10.0, 2, 8, band, previous=5) == 5  # 2.0: the top, kept
    # Above the band it grows to ceil(D/HIGH); below, it shrinks to max(n, floor(D/LOW)).
    assert hazl_pool(11.0, 2, 8, band, previous=5) == 6  # 2.2 -> ceil(5.5)
    assert hazl_pool(3.9, 2, 8, band, previous=5) == 4  # 0.78 -> floor(4.875)
    assert hazl_pool(1.0, 2, 8, band, previous=5) == 2  # 0.2 -> floor(1.25) = 1, but never below n
    # The remembered pool is first brought inside n..N: endpoints came or went.
    assert hazl_pool(4.0, 5, 8, band, previous=3) == 5  # now 5 local: local again
    assert hazl_pool(6.0, 2, 4, band, previous=6) == 4  # only 4 candidates left: 1.5 per slot, kept
    # A band given on the command line moves every limit.
    narrow = band_of(parse_scenario("hazl:1,1.5"))
    assert narrow == Band(1.0, 1.5)
    assert hazl_pool(4.0, 2, 8, narrow) == 3  # 2 > 1.5: ceil(2.67)
    assert hazl_pool(4.0, 2, 8, narrow, previous=5) == 4  # 0.8 < 1: floor(4)
    # A shrink stops where the top would be crossed: band 4..5, 6 in flight over a pool of 2 is 3 < 4,
    # floor(6/4) = 1 would put 6 on one endpoint; ceil(6/5) = 2 keeps it.
    assert hazl_pool(6.0, 1, 2, Band(4, 5), previous=2) == 2


@given(
    inflight=st.floats(0, 1000),
    local=st.integers(0, 50),
    others=st.integers(0, 50),
    low=st.floats(0, 5),
    width=st.floats(0.01, 5),
    previous=st.none() | st.integers(0, 120),
)
def test_hazl_pool_invariants(inflight, local, others, low, width, previous):
    band = Band(low, low + width)
    total = local + others
    pool = hazl_pool(inflight, local, total, band, previous)
    if local == 0:
        assert pool == total
        return
    assert local <= pool <= total
    if previous is None:
        # Without a memory: local exactly while the zone's own endpoints stay at or under the top
        # (or there is nothing else to add).
        assert (pool == local) == (inflight / local <= band.high * (1 + 1e-9) or total == local)
    elif previous > local and inflight / min(previous, total) < band.low * (1 - 1e-9):
        assert pool <= min(previous, total)  # a shrink never grows
    per_endpoint = inflight / pool
    # A decision never leaves a pool above the band when more endpoints were there to add.
    assert per_endpoint <= band.high * (1 + 1e-9) or pool == total


def test_render_and_json_with_a_rate_carry_rps_and_in_flight():
    report = whatif(two_per_zone(), "shop/web", 80, clients=CLIENTS_60_20_20, rps=1000, latency=0.01)
    assert [s.name for s in report.scenarios] == ["recorded", "none", "auto", "hazl"]
    data = json.loads(json.dumps(report.to_json()))
    for s in data["scenarios"]:
        assert set(s["endpoints"][0]) == {"address", "zone", "load", "rps", "inflight"}
        assert sum(e["rps"] for e in s["endpoints"]) == pytest.approx(1000)
        assert ("hazl" in s) == (s["name"] == "hazl")
    # No hints: 1000 rps over 6 endpoints, 10 in flight over 6.
    none = next(s for s in data["scenarios"] if s["name"] == "none")
    assert none["endpoints"][0]["rps"] == pytest.approx(1000 / 6)
    assert none["endpoints"][0]["inflight"] == pytest.approx(10 / 6)
    out = io.StringIO()
    render_whatif(report, out)
    text = out.getvalue()
    assert "rate: 1000 rps, mean latency 0.01 s, 10 requests in flight" in text
    lines = text.splitlines()
    cross = next(line for line in lines if line.startswith("cross-zone"))
    assert cross.split()[1:] == ["0.0%", "66.7%", "0.0%", "20.0%"]
    rps_line = next(line for line in lines if line.startswith("rps 10.0.2.1 (zone-b)"))
    assert rps_line.split()[3:] == ["100.0", "166.7", "100.0", "150.0"]
    assert any(line.startswith("in flight 10.0.1.1 (zone-a)") and line.split()[-1] == "2.00" for line in lines)
    assert "zone-a spills (6 in flight over 2 local endpoints, pool 3); zone-b, zone-c stay local" in text
    # Without a rate: no rate rows, no hazl by default.
    plain = whatif(two_per_zone(), "shop/web", 80, clients=CLIENTS_60_20_20)
    assert [s.name for s in plain.scenarios] == ["recorded", "none", "auto"]
    assert "rps" not in plain.scenarios[0].endpoints[0].to_json()


def test_rate_and_band_errors():
    engine = two_per_zone()
    with pytest.raises(EngineError, match="needs a request rate"):
        whatif(engine, "shop/web", 80, scenarios=("hazl",))
    with pytest.raises(EngineError, match="both rps and latency"):
        whatif(engine, "shop/web", 80, rps=1000)
    for rps, latency in ((-1, 0.01), (float("nan"), 0.01), (1000, float("inf"))):
        with pytest.raises(EngineError, match="finite number of 0 or more"):
            whatif(engine, "shop/web", 80, rps=rps, latency=latency)
    assert parse_scenario("hazl").name == "hazl" and band_of(parse_scenario("hazl")) == Band(0.8, 2.0)
    assert parse_scenario("hazl:0.5, 1.5").name == "hazl:0.5,1.5"
    for bad, message in (
        ("hazl:1", "two numbers"),
        ("hazl:a,b", "two numbers"),
        ("hazl:1,2,3", "two numbers"),
        ("hazl:", "two numbers"),
        ("hazl:2,1", "LOW <= HIGH"),
        ("hazl:0,0", "HIGH > 0"),
        ("hazl:-1,2", "finite"),
        ("hazl:nan,2", "finite"),
    ):
        with pytest.raises(EngineError, match=message):
            parse_scenario(bad)


# A log for the hysteresis: zones a and b with 4 endpoints each from the start, zone-c's come and go.
# Clients 30/30/40 at 1000 rps and 10 ms: demand 3, 3 and 4 in flight.
HYSTERESIS_CLIENTS = {"zone-a": 30, "zone-b": 30, "zone-c": 40}


@pytest.fixture
def hysteresis_log(tmp_path):
    path = tmp_path / "log"
    a = [endpoint(f"10.0.1.{i}", "node-a", "zone-a") for i in range(1, 5)]
    b = [endpoint(f"10.0.2.{i}", "node-b", "zone-b") for i in range(1, 5)]
    c = [endpoint(f"10.0.3.{i}", "node-c", "zone-c") for i in range(1, 4)]
    with Engine.open(path, create=True, write=True, sync=False) as engine:
        for event in [
            *(node(f"node-{z[-1]}", z) for z in ZONES),  # 1-3
            service(),  # 4: no endpoints
            web_slice(*a, *b),  # 5: zone-c has none
            web_slice(*a, *b, *c[:2]),  # 6: two in zone-c
            node("node-c", "zone-c", cpu=8000),  # 7: nothing changes for explicit clients
            web_slice(*a, *b, *c),  # 8: a third in zone-c
            web_slice(*a, *b),  # 9: zone-c's go again
        ]:
            engine.apply(event)
    return path


def test_hazl_timeline_hysteresis_event_by_event(hysteresis_log):
    rows = timeline(hysteresis_log, "shop/web", 80, clients=HYSTERESIS_CLIENTS, scenario="hazl", rps=1000, latency=0.01)
    assert [r.seq for r in rows] == [4, 5, 6, 7, 8, 9]
    assert rows[0].spilled == () and rows[0].unserved_share == pytest.approx(1.0)
    # seq 5: zones a and b: 3/4 = 0.75, under the band but nothing to shed: local.
    # zone-c has no endpoint: its 40% over all 8, so it all crosses; every endpoint gets 0.3/4 + 0.4/8.
    assert rows[1].spilled == (("zone-c", 8),)
    assert (rows[1].cross_zone_share, rows[1].max_overload) == pytest.approx((0.4, 1.0))
    # seq 6: zone-c has 2 of 10; its remembered pool of 8 gives 4/8 = 0.5 < 0.8, shrink to
    # max(2, floor(4/0.8)) = 5.  (Decided afresh it would stay local: 4/2 = 2.)
    # It keeps 2/5 at home and sends 3/5 of 0.4 out, 3/40 of it to each of the 8 others.
    assert rows[2].spilled == (("zone-c", 5),)
    assert rows[2].cross_zone_share == pytest.approx(0.4 * 3 / 5)
    assert rows[2].max_overload == pytest.approx((0.3 / 4 + 0.4 * 3 / 40) / (1 / 10))  # 1.05
    # seq 7: nothing moved; 4/5 = 0.8 is the band's bottom: the pool is kept.
    assert rows[3].spilled == (("zone-c", 5),) and rows[3].cross_zone_share == pytest.approx(0.24)
    # seq 8: a third local endpoint: pool 5 still, 3 at home and 2 slots over the 8 others.
    assert rows[4].spilled == (("zone-c", 5),)
    assert rows[4].cross_zone_share == pytest.approx(0.4 * 2 / 5)
    # seq 9: zone-c's endpoints go: every candidate again.
    assert rows[5].spilled == (("zone-c", 8),) and rows[5].cross_zone_share == pytest.approx(0.4)

    # The same state decided afresh (no memory): zone-c stays local at seq 6.
    with Engine.open(hysteresis_log, at=6) as engine:
        fresh = whatif(
            engine, "shop/web", 80, clients=HYSTERESIS_CLIENTS, scenarios=("hazl",), rps=1000, latency=0.01
        ).scenarios[0]
    assert pools_of(fresh)["zone-c"] == (2, 2) and fresh.cross_zone_share == pytest.approx(0.0)


def test_hazl_timeline_with_a_given_band_grows_pools_above_it(hysteresis_log, tmp_path):
    # At 3000 rps, band 0.8..1.2: demand 9, 9 and 12 in flight.
    rows = timeline(
        hysteresis_log, "shop/web", 80, clients=HYSTERESIS_CLIENTS, scenario="hazl:0.8,1.2", rps=3000, latency=0.01
    )
    by_seq = {r.seq: dict(r.spilled) for r in rows}
    # seq 5: zones a and b at 9/4 = 2.25 > 1.2 grow to ceil(9/1.2) = 8 of the 8 candidates.
    assert by_seq[5] == {"zone-a": 8, "zone-b": 8, "zone-c": 8}
    # seq 6: 10 candidates.  a, b: 9/8 = 1.125, inside: kept.  c, with 2 of its own now, keeps its
    # pool of 8 at first, 12/8 = 1.5 > 1.2: it grows to ceil(12/1.2) = 10.
    assert by_seq[6] == {"zone-a": 8, "zone-b": 8, "zone-c": 10}
    # seq 8: 11 candidates, zone-c 12/10 = 1.2, the top: kept.
    assert by_seq[8] == {"zone-a": 8, "zone-b": 8, "zone-c": 10}
    # seq 9: zone-c's endpoints go, 8 candidates: its pool is cut to all 8 there are.
    assert by_seq[9] == {"zone-a": 8, "zone-b": 8, "zone-c": 8}


def test_hazl_timeline_csv_json_and_command_line(hysteresis_log, tmp_path, capsys):
    rows = timeline(hysteresis_log, "shop/web", 80, clients=HYSTERESIS_CLIENTS, scenario="hazl", rps=1000, latency=0.01)
    out = io.StringIO()
    write_timeline(rows, out, "csv")
    table = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["spilled"] for r in table] == ["", "zone-c=8", "zone-c=5", "zone-c=5", "zone-c=5", "zone-c=8"]
    out = io.StringIO()
    write_timeline(rows, out, "json")
    assert json.loads(out.getvalue())[2]["spilled"] == {"zone-c": 5}
    # Rows of the recorded state have no spilled column.
    out = io.StringIO()
    write_timeline(timeline(hysteresis_log, "shop/web", 80, clients=HYSTERESIS_CLIENTS), out, "csv")
    assert "spilled" not in out.getvalue().splitlines()[0]

    args = ["whatif", str(hysteresis_log), "shop/web:80", "--clients", "zone-a=30,zone-b=30,zone-c=40"]
    csv_path, svg = tmp_path / "hazl.csv", tmp_path / "hazl.svg"
    assert (
        main(
            [
                *args,
                "--scenario",
                "hazl",
                "--rps",
                "1000",
                "--latency",
                "0.01",
                "--timeline",
                str(csv_path),
                "--chart",
                str(svg),
            ]
        )
        == 0
    )
    assert [r["spilled"] for r in csv.DictReader(csv_path.open())][2] == "zone-c=5"
    assert "under hazl" in svg.read_text()
    capsys.readouterr()
    # Each is bad usage, named by the flag typed: exit 2, one error line (after the usage, from argparse).
    for extra, message in (
        (["--rps", "1000"], "--rps and --latency go together"),
        (["--scenario", "hazl"], "--scenario: hazl needs a request rate"),
        (["--timeline", "-", "--scenario", "none"], "--scenario: a timeline follows the recorded state or hazl"),
        (["--timeline", "-", "--scenario", "hazl", "--scenario", "recorded"], "one scenario"),
        (["--scenario", "hazl:2,1", "--rps", "1", "--latency", "1"], "LOW <= HIGH"),
        (["--rps", "-5", "--latency", "0.01"], "--rps: request rate: must be a finite number of 0 or more"),
    ):
        with pytest.raises(SystemExit) as info:
            main([*args, *extra])
        err = capsys.readouterr().err
        assert info.value.code == 2 and message in err.splitlines()[-1]
        assert err.splitlines()[-1].startswith("topology-engine whatif: error: ")


def test_demo_log_side_by_side_where_hazl_spills(tmp_path):
    # The README's example: the demo log at seq 18, web with 2 endpoints per zone, clients 60/30/10,
    # 1000 rps at 10 ms: demand 6, 3 and 1 in flight.
    run_demo(io.StringIO(), keep=str(tmp_path / "demo"))
    with Engine.open(tmp_path / "demo", at=18) as engine:
        report = whatif(
            engine, "shop/web", 80, clients={"zone-a": 60, "zone-b": 30, "zone-c": 10}, rps=1000, latency=0.01
        )
    got = by_name(report)
    assert list(got) == ["recorded", "none", "auto", "hazl"]
    # Own-zone hints: zone-a's 600 rps on its 2 endpoints, 300 each against an even 1000/6.
    assert (got["recorded"].cross_zone_share, got["recorded"].max_overload) == pytest.approx((0.0, 1.8))
    # HAZL: zone-a's 6/2 = 3 > 2 spills to a pool of 3; b (1.5) and c (0.5) stay local.
    hazl = got["hazl"]
    assert pools_of(hazl) == {"zone-a": (2, 3), "zone-b": (2, 2), "zone-c": (2, 2)}
    assert hazl.cross_zone_share == pytest.approx(0.6 / 3)
    # zone-b's endpoints: 150 of their own and 50 from zone-a each; zone-c's: 50 + 50.
    assert sorted(rps_of(hazl).values()) == pytest.approx([100, 100, 200, 200, 200, 200])
    assert hazl.max_overload == pytest.approx(1.2)


# ---------------------------------------------------------------------------
# Merging client sites: the same answers as asking for every site


def spread_per_site(engine, service, port, sites, policy):
    """The model's spreading, asking the policy for every site separately."""
    flows, traffic, rules = {}, {}, {}
    for site in sites:
        selection = engine.endpoints(service, port, node=site.node, zone=site.zone or None, policy=policy, strict=False)
        rules.setdefault(site.zone, {}).setdefault(selection.rule, 0.0)
        rules[site.zone][selection.rule] += site.share
        for e in selection.endpoints:
            zone = e.zone or engine.state.node_zone(e.node) or ""
            flows[(site.zone, zone)] = flows.get((site.zone, zone), 0.0) + site.share / len(selection.endpoints)
            traffic[e.address] = traffic.get(e.address, 0.0) + site.share / len(selection.endpoints)
    return flows, traffic, rules


site_nodes = st.sampled_from(["n-a1", "n-a2", "n-b1", "n-b2", "n-c1", "n-x"])  # n-x has no zone
site_endpoints = st.builds(
    lambda i, node_name, zones, nodes, ready: endpoint(
        f"10.1.0.{i}",
        node_name,
        {"n-x": None}.get(node_name, f"zone-{node_name[2]}"),
        for_zones=tuple(sorted(zones)),
        for_nodes=tuple(sorted(nodes)),
        ready=ready,
    ),
    st.integers(1, 40),
    site_nodes,
    st.sets(st.sampled_from(ZONES), max_size=2),
    st.sets(site_nodes, max_size=2),
    st.booleans(),
)


@settings(max_examples=150, deadline=None)
@given(
    local=st.booleans(),
    endpoints=st.lists(site_endpoints, max_size=8, unique_by=lambda e: e.addresses),
    clients=st.sampled_from(["cpu", "service:shop/other", {"zone-a": 3, "zone-c": 1, "zone-q": 1}]),
    policy=st.sampled_from(["linkerd", "linkerd+nodes", "kube-proxy"]),
)
def test_merged_sites_give_what_asking_every_site_gives(local, endpoints, clients, policy):
    zone_of = {"n-a1": "zone-a", "n-a2": "zone-a", "n-b1": "zone-b", "n-b2": "zone-b", "n-c1": "zone-c", "n-x": None}
    engine = engine_with(
        *(node(name, zone, 1000 + 500 * i) for i, (name, zone) in enumerate(zone_of.items())),
        NodeUpserted("n-q1", "zone-q", 1000, ready=False),  # zone-q: a zone with no Ready worker
        service(internal_traffic_policy="Local" if local else "Cluster"),
        web_slice(*endpoints),
        service("other"),
        web_slice(
            *(endpoint(f"10.2.0.{i}", name, zone) for i, (name, zone) in enumerate(zone_of.items())),
            name="other-1",
            svc="other",
        ),
    )
    _, sites = client_sites(engine, clients)
    result = evaluate(engine, "shop/web", 80, sites, policy)
    flows, traffic, rules = spread_per_site(engine, "shop/web", 80, sites, policy)
    for source, row in result.matrix.items():
        for target, share in row.items():
            assert share == pytest.approx(flows.get((source, target), 0.0), abs=1e-12)
    assert {e.address: e.traffic for e in result.endpoints if e.traffic} == pytest.approx(traffic, abs=1e-12)
    assert zone_rules(engine, "shop/web", 80, sites, policy) == {
        zone: pytest.approx(found, abs=1e-12) for zone, found in rules.items()
    }


def test_site_groups_ask_once_per_zone_unless_a_node_is_named():
    engine = engine_with(
        *(node(f"node-{z[-1]}{i}", z) for z in ZONES for i in range(3)),
        service(),
        web_slice(
            endpoint("10.0.0.1", "node-a0", "zone-a", for_zones=("zone-a",)),
            endpoint("10.0.0.2", "node-b0", "zone-b", for_zones=("zone-b", "zone-c")),
        ),
        service("local", internal_traffic_policy="Local"),
        web_slice(endpoint("10.0.1.1", "node-a0", "zone-a"), name="local-1", svc="local"),
    )
    _, sites = client_sites(engine, "cpu")
    groups = SiteGroups(engine, sites)
    merged = groups.alike(engine, "shop/web")
    assert [(s.node, s.zone) for s in merged] == [("node-a0", "zone-a"), ("node-b0", "zone-b"), ("node-c0", "zone-c")]
    assert [s.share for s in merged] == pytest.approx([1 / 3] * 3)
    # ITP Local: node-a0 holds an endpoint and is asked on its own; the others of zone-a together.
    local = groups.alike(engine, "shop/local")
    assert [(s.node, round(s.share, 9)) for s in local] == [
        ("node-a0", round(1 / 9, 9)),
        ("node-a1", round(2 / 9, 9)),
        ("node-b0", round(1 / 3, 9)),
        ("node-c0", round(1 / 3, 9)),
    ]
