"""engine.hintcheck: recorded hints against the controller's, on the demo
cluster and on changed copies of it, and a property: once the controller's
hints are written, checking again finds nothing to change."""

from __future__ import annotations

import io
import json

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import Engine
from engine.demo import demo_data
from engine.errors import ArgumentError, LookupFailed
from engine.events import Endpoint, NodeUpserted, ServiceUpserted, SliceUpserted
from engine.hintcheck import MODES, STATUSES, check_hints, render_hint_report


@pytest.fixture
def demo() -> Engine:
    eng = Engine()
    eng.ingest(json.loads((demo_data() / "cluster.json").read_text(encoding="utf-8"))["items"])
    return eng


def statuses(report) -> dict[str, str]:
    return {row.address: row.status for row in report.endpoints}


def with_endpoint(eng: Engine, slice_key: str, address: str, **changes) -> None:
    """Rewrite one endpoint of a recorded slice."""
    old = eng.state.slices[slice_key]
    endpoints = tuple(attrs.evolve(e, **changes) if e.addresses[0] == address else e for e in old.endpoints)
    eng.apply(attrs.evolve(old, endpoints=endpoints))


def test_demo_web_auto_hints_are_what_the_controller_writes(demo):
    report = check_hints(demo, "shop/web")
    assert (report.mode, report.mode_source, report.written, report.reason) == ("auto", "service", True, None)
    # Allocatable CPU per zone 12 / 11.5 / 12 (cp-1 does not count): two each.
    assert report.zones == {"zone-a": 2, "zone-b": 2, "zone-c": 2}
    assert set(statuses(report).values()) == {"ok"} and len(report.endpoints) == 6


def test_demo_checkout_hints_are_unexpected_because_the_minimums_overdraw(demo):
    report = check_hints(demo, "shop/checkout")
    assert (report.written, report.reason, report.zones) == (False, "minimum-exceeds-threshold", {})
    assert statuses(report) == {
        "10.244.1.31": "unexpected",
        "10.244.4.31": "unexpected",
        "10.244.5.31": "unexpected",
        "10.20.0.15": "ok",
    }


def test_demo_cart_asks_for_nothing_but_prefer_close_would_hint_every_pod(demo):
    asked = check_hints(demo, "shop/cart")
    assert (asked.mode, asked.written, asked.reason) == ("none", False, "not-requested")
    assert set(statuses(asked).values()) == {"ok"}
    close = check_hints(demo, "shop/cart", "prefer-close")
    assert (close.mode, close.mode_source, close.written) == ("prefer-same-zone", "option", True)
    assert set(statuses(close).values()) == {"missing"}
    assert [(row.zone, row.for_zones) for row in close.endpoints] == [
        ("zone-a", ("zone-a",)),
        ("zone-b", ("zone-b",)),
        ("zone-c", ("zone-c",)),
    ]


def test_prefer_same_node_adds_the_own_node(demo):
    report = check_hints(demo, "shop/node-cache", "prefer-same-node")
    row = next(r for r in report.endpoints if r.address == "10.244.3.41")
    assert (row.for_zones, row.for_nodes, row.status) == (("zone-b",), ("node-b1",), "missing")
    # Zone hints alone are not what PreferSameNode writes: stale, not ok.
    for r in report.endpoints:
        with_endpoint(demo, "shop/node-cache-v9ktg", r.address, for_zones=r.for_zones)
    assert set(statuses(check_hints(demo, "shop/node-cache", "prefer-same-node")).values()) == {"stale"}


def test_a_wrong_zone_is_stale_and_the_rest_stays_ok(demo):
    with_endpoint(demo, "shop/web-ncrnr", "10.244.1.11", for_zones=("zone-c",))
    report = check_hints(demo, "shop/web")
    assert statuses(report)["10.244.1.11"] == "stale"
    assert [r.status for r in report.endpoints if r.address != "10.244.1.11"] == ["ok"] * 5
    row = next(r for r in report.endpoints if r.address == "10.244.1.11")
    assert (row.for_zones, row.recorded_for_zones) == (("zone-a",), ("zone-c",))


def test_own_zone_mode_wants_exactly_the_own_zone(demo):
    with_endpoint(demo, "shop/web-ncrnr", "10.244.1.11", for_zones=("zone-b", "zone-a"))
    assert statuses(check_hints(demo, "shop/web", "prefer-same-zone"))["10.244.1.11"] == "stale"
    # Auto rewrites it too: zone-b would count three endpoints, one past its maximum of two.
    assert statuses(check_hints(demo, "shop/web"))["10.244.1.11"] == "stale"
    with_endpoint(demo, "shop/web-ncrnr", "10.244.1.11", for_zones=("zone-a",))
    assert set(statuses(check_hints(demo, "shop/web", "prefer-same-zone")).values()) == {"ok"}


def test_insufficient_node_information_removes_auto_hints(demo):
    node = demo.state.nodes["node-c2"]
    demo.apply(attrs.evolve(node, zone=None))
    report = check_hints(demo, "shop/web")
    assert (report.written, report.reason) == (False, "insufficient-node-info")
    assert set(statuses(report).values()) == {"unexpected"}


def test_json_has_exactly_the_documented_shape(demo):
    data = json.loads(json.dumps(check_hints(demo, "shop/checkout").to_json()))
    assert list(data) == ["service", "mode", "written", "reason", "zones", "endpoints"]
    assert data["service"] == "shop/checkout" and data["reason"] == "minimum-exceeds-threshold"
    assert data["endpoints"][0] == {
        "address": "10.244.1.31",
        "zone": "zone-a",
        "for_zones": [],
        "for_nodes": [],
        "recorded_for_zones": ["zone-a"],
        "recorded_for_nodes": [],
        "status": "unexpected",
    }


def test_text_marks_the_differences(demo):
    out = io.StringIO()
    render_hint_report(check_hints(demo, "shop/checkout"), out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "shop/checkout: mode auto (asked for by the Service)"
    assert "minimum-exceeds-threshold" in lines[1]
    marked = [line for line in lines if line.startswith("*")]
    assert len(marked) == 3 and all("unexpected" in line for line in marked)
    assert lines[-1] == "1 ok, 0 stale, 0 missing, 3 unexpected"


def test_unknown_service_names_the_near_ones_and_bad_mode(demo):
    with pytest.raises(LookupFailed, match="did you mean: shop/web"):
        check_hints(demo, "shop/webb")
    with pytest.raises(LookupFailed, match="services in shop: api, cart, checkout, node-cache, web"):
        check_hints(demo, "shop/zzzzzzzz")
    with pytest.raises(LookupFailed, match="no services in namespace other"):
        check_hints(demo, "other/x")
    with pytest.raises(ArgumentError, match="^mode: unknown hint mode 'PreferClose'"):
        check_hints(demo, "shop/web", "PreferClose")


def test_slices_without_their_service_ask_for_nothing():
    eng = Engine()
    eng.apply(
        SliceUpserted("ns", "s", "gone", endpoints=(Endpoint(("10.0.0.1",), ready=True, zone="a", for_zones=("a",)),))
    )
    report = check_hints(eng, "ns/gone")
    assert (report.mode, report.written) == ("none", False)
    assert statuses(report) == {"10.0.0.1": "unexpected"}


# ---------------------------------------------------------------------------
# Property: the controller's own hints check out as ok

ZONES = ["za", "zb", "zc"]

nodes = st.lists(
    st.builds(
        NodeUpserted,
        st.sampled_from([f"n{i}" for i in range(6)]),
        st.sampled_from(ZONES),
        st.sampled_from([1000, 2000, 4000, 3500]),
    ),
    min_size=2,
    max_size=6,
    unique_by=lambda n: n.name,
)
endpoint_st = st.builds(
    Endpoint,
    st.sampled_from([f"10.0.0.{i}" for i in range(1, 40)]).map(lambda a: (a,)),
    ready=st.sampled_from([True, True, True, False, None]),
    node_name=st.sampled_from([f"n{i}" for i in range(6)]),
    zone=st.sampled_from(ZONES),
    for_zones=st.lists(st.sampled_from(ZONES), max_size=1).map(tuple),
)
slices_st = st.lists(
    st.builds(
        SliceUpserted,
        st.just("ns"),
        st.sampled_from(["s0", "s1", "s2"]),
        st.just("web"),
        endpoints=st.lists(endpoint_st, max_size=8).map(tuple),
    ),
    min_size=1,
    max_size=3,
    unique_by=lambda s: s.name,
)


@settings(max_examples=150, deadline=None)
@given(nodes=nodes, slices=slices_st, mode=st.sampled_from(MODES))
def test_writing_the_controllers_hints_leaves_nothing_to_change(nodes, slices, mode):
    eng = Engine()
    eng.apply_all([*nodes, ServiceUpserted("ns", "web"), *slices])
    report = check_hints(eng, "ns/web", mode)
    assert all(row.status in STATUSES for row in report.endpoints)
    assert len(report.endpoints) == sum(len(s.endpoints) for s in slices)
    # Write what the controller would, slice by slice, in the report's order.
    rows = iter(report.endpoints)
    for s in sorted(slices, key=lambda s: s.key):
        rewritten = []
        for entry in s.endpoints:
            row = next(rows)
            assert (row.slice, row.address) == (s.key, entry.addresses[0])
            rewritten.append(attrs.evolve(entry, for_zones=row.for_zones, for_nodes=row.for_nodes))
        eng.apply(attrs.evolve(s, endpoints=tuple(rewritten)))
    again = check_hints(eng, "ns/web", mode)
    assert {row.status for row in again.endpoints} <= {"ok"}
    assert (again.written, again.reason, again.zones) == (report.written, report.reason, report.zones)
