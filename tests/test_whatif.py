"""The what-if traffic model on small clusters whose numbers are worked out
by hand in each test, the scenarios, the timeline and its chart."""
import csv
import io
import json
import sys
import xml.etree.ElementTree as ET

import pytest

from engine.api import Engine
from engine.chart import write_chart
from engine.errors import EngineError, LookupFailed
from engine.events import Endpoint, NodeUpserted, ServicePort, ServiceUpserted, SlicePort, SliceUpserted
from engine.whatif import (
    ClientSite,
    apportion,
    client_sites,
    parse_clients,
    parse_prices,
    parse_scenario,
    render_whatif,
    timeline,
    whatif,
    write_timeline,
)

ZONES = ("zone-a", "zone-b", "zone-c")
CLIENTS_40_40_20 = {"zone-a": 40, "zone-b": 40, "zone-c": 20}


def node(name, zone, cpu=4000):
    return NodeUpserted(name, zone, cpu)


def service(name="web", **kw):
    return ServiceUpserted("shop", name, (ServicePort("http", 80, target_port=8080),), **kw)


def endpoint(address, node_name, zone, for_zones=(), for_nodes=(), ready=True):
    return Endpoint((address,), ready=ready, node_name=node_name, zone=zone, target_kind="Pod",
                    target_namespace="shop", target_name=f"pod-{address}", for_zones=for_zones, for_nodes=for_nodes)


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
        node("node-a", "zone-a", cpu[0]), node("node-b", "zone-b", cpu[1]), node("node-c", "zone-c", cpu[2]),
        service(**service_kw),
        web_slice(endpoint("10.0.0.1", "node-a", "zone-a"), endpoint("10.0.0.2", "node-b", "zone-b"),
                  endpoint("10.0.0.3", "node-b", "zone-b"), endpoint("10.0.0.4", "node-c", "zone-c")),
    )


def test_hand_computed_40_40_20_clients_over_1_2_1_endpoints():
    engine = one_two_one()
    report = whatif(engine, "shop/web", 80, clients=CLIENTS_40_40_20,
                    scenarios=("recorded", "none", "auto", "prefer-close"))
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
        assert loads(got[name]) == pytest.approx({
            "10.0.0.1": 0.4 / even,  # 1.6
            "10.0.0.2": 0.4 / 2 / even,  # 0.8
            "10.0.0.3": 0.4 / 2 / even,
            "10.0.0.4": 0.2 / even,  # 0.8
        })
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
        *(node(f"node-{z[-1]}", z) for z in ZONES), service(),
        web_slice(*(endpoint(f"10.0.1.{i}", "node-a", "zone-a") for i in range(2)),
                  *(endpoint(f"10.0.2.{i}", "node-b", "zone-b") for i in range(5)),
                  *(endpoint(f"10.0.3.{i}", "node-c", "zone-c") for i in range(2))),
    )
    got = by_name(whatif(engine, "shop/web", 80, clients={z: 1 for z in ZONES},
                         scenarios=("prefer-close", "auto")))
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
    got = by_name(whatif(engine, "shop/web", 80, clients=CLIENTS_40_40_20, policy="kube-proxy",
                         scenarios=("none", "prefer-close")))
    assert got["none"].policy == "kube-proxy"
    assert got["none"].cross_zone_share == pytest.approx(0.65)
    assert got["prefer-close"].cross_zone_share == pytest.approx(0.0)
    assert got["prefer-close"].max_overload == pytest.approx(1.6)


# ---------------------------------------------------------------------------
# Node-level clients


def two_zones_three_nodes(**service_kw):
    """node-a1 and node-b1 each run one endpoint; node-a2 runs none.  Equal CPU."""
    return engine_with(
        node("node-a1", "zone-a"), node("node-a2", "zone-a"), node("node-b1", "zone-b"),
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
    assert sites == [ClientSite("node-a1", "zone-a", 4 / 16), ClientSite("node-a2", "zone-a", 8 / 16),
                     ClientSite("node-b1", "zone-b", 4 / 16)]


def test_explicit_zone_weights_spread_over_the_zone_nodes_or_one_zone_client():
    engine = two_zones_three_nodes()
    _, sites = client_sites(engine, {"zone-a": 60, "zone-b": 30, "zone-x": 10})
    assert sites == [ClientSite("node-a1", "zone-a", 0.3), ClientSite("node-a2", "zone-a", 0.3),
                     ClientSite("node-b1", "zone-b", 0.3), ClientSite(None, "zone-x", pytest.approx(0.1))]


def test_client_service_counts_its_ready_endpoints_per_node():
    engine = two_zones_three_nodes()
    engine.apply_all([
        service("front"),
        web_slice(endpoint("10.1.0.1", "node-a2", "zone-a"), endpoint("10.1.0.2", "node-a2", "zone-a"),
                  endpoint("10.1.0.3", "node-b1", "zone-b"), endpoint("10.1.0.4", "node-b1", "zone-b", ready=False),
                  name="front-1", svc="front"),
    ])
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
    eps = [endpoint(f"10.0.{k}.{i}", f"node-{z[-1]}{i}", z, for_zones=(z,))
           for k, z in enumerate(ZONES, 1) for i in (1, 2)]
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
        engine.apply_all([*two_per_zone(topology_mode="Auto").state.nodes.values(), service(topology_mode="Auto"),
                          *two_per_zone().state.slices.values()])
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
    assert per_zone == {"zone-a": ["10.0.0.1", "scaled-zone-a-1"], "zone-b": ["10.0.0.2", "10.0.0.3", "scaled-zone-b-1"],
                        "zone-c": ["10.0.0.4"]}
    assert "prefer-same-zone" in up.note
    # Own-zone hints on 2/3/1 endpoints, even share 1/6.
    assert up.cross_zone_share == pytest.approx(0.0)
    assert loads(up) == pytest.approx({"10.0.0.1": 0.2 * 6, "scaled-zone-a-1": 0.2 * 6,
                                       "10.0.0.2": 0.4 / 3 * 6, "10.0.0.3": 0.4 / 3 * 6, "scaled-zone-b-1": 0.4 / 3 * 6,
                                       "10.0.0.4": 0.2 * 6})
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
    flat = whatif(engine, "shop/web", 80, clients=CLIENTS_40_40_20, scenarios=("none",), price_per_gb=0.01,
                  bytes_per_request=1e6, requests=1000).scenarios[0]
    assert flat.cost.cross_zone_gb == pytest.approx(0.65)
    assert flat.cost.amount == pytest.approx(0.65 * 0.01)
    assert "cost" in flat.to_json()
    # Only a<->b priced (given one way): a->b 0.4/4 + b->a 0.4*1/4 = 0.2 GB at 0.02.
    pairs = whatif(engine, "shop/web", 80, clients=CLIENTS_40_40_20, scenarios=("none",),
                   price_per_gb=parse_prices("zone-a:zone-b=0.02"), bytes_per_request=1e6, requests=1000).scenarios[0]
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
        whatif(engine, "shop/web", 80, clients="service:shop/nobody")


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


def test_chart_svg_is_valid_and_png_needs_matplotlib(short_log, tmp_path, monkeypatch):
    rows = timeline(short_log, "shop/web", 80, clients={z: 1 for z in ZONES})
    svg = write_chart(rows, tmp_path / "web.svg", title="shop/web:80")
    root = ET.parse(svg).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert len(root.findall("{http://www.w3.org/2000/svg}path")) == 2  # one line per panel
    with pytest.raises(EngineError, match="unknown chart format"):
        write_chart(rows, tmp_path / "web.gif")
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.raises(EngineError, match=r"topology-engine\[chart\]"):
        write_chart(rows, tmp_path / "web.png")


def test_chart_png(short_log, tmp_path):
    pytest.importorskip("matplotlib")
    rows = timeline(short_log, "shop/web", 80, clients={z: 1 for z in ZONES})
    png = write_chart(rows, tmp_path / "web.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_cluster_after_zone_c_lost_its_web_pods(fixtures_dir):
    engine = Engine()
    for name in ("cluster.json", "changes.jsonl"):
        with (fixtures_dir / "demo" / name).open(encoding="utf-8") as stream:
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
