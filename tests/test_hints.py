"""Hint writing (engine.hints): the EndpointSlice controller's tables, the
feasibility table, cases the controller's code implies, and properties."""

from __future__ import annotations

import json
import math
import random
from fractions import Fraction
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import hints
from engine.errors import ArgumentError
from engine.events import Endpoint, NodeUpserted, ServiceUpserted, SliceUpserted

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "conformance" / "hints"


def cases(file_name: str):
    data = json.loads((FIXTURES / file_name).read_text())
    return [pytest.param(case, id=case["name"]) for case in data["cases"]]


def endpoint(raw: dict) -> Endpoint:
    return Endpoint(
        addresses=tuple(raw.get("addresses", ())),
        ready=raw["ready"],
        zone=raw.get("zone"),
        node_name=raw.get("node"),
        for_zones=tuple(raw.get("for_zones", ())),
        for_nodes=tuple(raw.get("for_nodes", ())),
    )


def make_slice(raw: dict, address_type: str = "IPv4") -> SliceUpserted:
    return SliceUpserted("ns", raw["name"], "svc", address_type, endpoints=tuple(endpoint(e) for e in raw["endpoints"]))


def node(raw: dict) -> NodeUpserted:
    return NodeUpserted(raw["name"], raw["zone"], raw["cpu_millis"], raw["ready"], raw["control_plane"])


def per_slice(result: hints.AddressTypeHints, slices) -> dict:
    """Final hints as {slice name: [[for_zones, for_nodes], ...]}."""
    return {
        s.name: [[list(z), list(n)] for z, n in (result.hints[(s.key, i)] for i in range(len(s.endpoints)))]
        for s in slices
    }


# ---------------------------------------------------------------------------
# Upstream tables


@pytest.mark.parametrize("case", cases("add_hints.json"))
def test_add_hints(case):
    rewrite = [make_slice(s) for s in case["to_create"] + case["to_update"]]
    result = hints.reconcile("auto", rewrite, (), case["ratios"])
    expect = case["expect"]
    assert result.written is expect["written"]
    assert result.reason == expect["reason"]
    assert result.zones == expect["zones"]
    got = per_slice(result, rewrite)
    # The allocator writes zone hints only.
    assert {name: [z for z, _ in eps] for name, eps in got.items()} == expect["hints"]
    assert all(n == [] for eps in got.values() for _, n in eps)
    assert list(result.updated) == [f"ns/{name}" for name in expect["updated"]]
    if "allocations" in expect:
        assert result.allocations == {z: hints.Allocation(**a) for z, a in expect["allocations"].items()}


@pytest.mark.parametrize("case", cases("set_nodes.json"))
def test_set_nodes(case):
    # Exact equality, as upstream: the ratios are plain float divisions.
    assert hints.zone_ratios(node(n) for n in case["nodes"]) == case["ratios"]


@pytest.mark.parametrize("case", cases("giving_receiving.json"))
def test_giving_and_receiving(case):
    assert hints.giving_and_receiving(case["desired"], case["allocated"]) == (case["giving"], case["receiving"])


@pytest.mark.parametrize("case", cases("redistribute.json"))
def test_redistribute(case):
    endpoints = [endpoint(e) for e in case["endpoints"]]
    moves, changes = hints.redistribute(endpoints, case["giving"], case["receiving"])
    assert changes == case["changes"]
    assert moves == {int(i): zone for i, zone in case["moves"].items()}


@pytest.mark.parametrize("case", cases("hints_by_zone.json"))
def test_hints_by_zone(case):
    allocations = {z: hints.Allocation(0, maximum, 0.0) for z, maximum in case["maximums"].items()}
    endpoints = [endpoint(e) for e in case["endpoints"]]
    assert hints.hints_by_zone(endpoints, case["already_allocated"], allocations) == case["expected"]


@pytest.mark.parametrize("case", cases("ready_endpoints.json"))
def test_ready_endpoints(case):
    slices = []
    for group in ("to_create", "to_update", "unchanged"):
        for i, (ready, not_ready) in enumerate(case[group]):
            eps = [Endpoint((f"10.1.2.{j}",), ready=j < ready) for j in range(ready + not_ready)]
            slices.append(SliceUpserted("ns", f"{group}-{i}", "svc", endpoints=tuple(eps)))
    assert sum(len(s.endpoints) for s in slices) == case["total"]
    assert hints.ready_endpoint_count(slices) == case["ready"]


@pytest.mark.parametrize("case", cases("traffic_distribution.json"))
def test_traffic_distribution(case):
    expect = case["expect"]
    mode = hints.mode_for(ServiceUpserted("ns", "svc", traffic_distribution=case["traffic_distribution"]))
    assert mode == expect["mode"]
    rewrite = [make_slice(s) for s in case["to_create"] + case["to_update"]]
    unchanged = [make_slice(s) for s in case["unchanged"]]
    result = hints.reconcile(mode, rewrite, unchanged)
    assert per_slice(result, rewrite + unchanged) == expect["hints"]
    assert list(result.updated) == [f"ns/{name}" for name in expect["updated"]]
    assert result.reason == expect.get("reason")
    assert result.written is (expect.get("reason") is None)


def _three_equal_zones(n_ready: int):
    zones = ["zone-a", "zone-b", "zone-c"]
    nodes = [NodeUpserted(f"node-{z}", z, 1000) for z in zones]
    eps = tuple(Endpoint((f"10.0.{i // 250}.{i % 250}",), ready=True, zone=zones[i % 3]) for i in range(n_ready))
    service = ServiceUpserted("ns", "svc", topology_mode="Auto")
    return service, [SliceUpserted("ns", "svc-1", "svc", endpoints=eps)], nodes


@pytest.mark.parametrize("case", cases("feasibility.json"))
def test_feasibility(case):
    service, slices, nodes = _three_equal_zones(case["ready_endpoints"])
    result = hints.compute_hints(service, slices, nodes)
    assert result.mode == "auto"
    assert result.written is case["written"]
    assert result.reason == case["reason"]


def test_feasibility_table_agrees_with_exact_arithmetic():
    """An independent check of the table: with exact fractions, zone minimum = ceil(n / 3 / 1.2)."""
    data = json.loads((FIXTURES / "feasibility.json").read_text())
    for case in data["cases"]:
        n = case["ready_endpoints"]
        minimum = math.ceil(Fraction(n, 3) / Fraction(6, 5))
        assert case["written"] is (n >= 3 and 3 * minimum <= n), n


# ---------------------------------------------------------------------------
# What the controller's code implies beyond its tests

ZONES_AB = [NodeUpserted("node-a", "zone-a", 2000), NodeUpserted("node-b", "zone-b", 2000)]


def _slice(name, *eps, address_type="IPv4"):
    return SliceUpserted("ns", name, "svc", address_type, endpoints=tuple(eps))


def _ep(address, zone, ready=True, node=None, for_zones=(), for_nodes=()):
    return Endpoint((address,), ready=ready, zone=zone, node_name=node, for_zones=for_zones, for_nodes=for_nodes)


AUTO = ServiceUpserted("ns", "svc", topology_mode="auto")


def test_endpoint_without_zone_removes_hints_for_the_whole_service():
    slices = [
        _slice("s1", _ep("10.0.0.1", "zone-a"), _ep("10.0.0.2", "zone-b")),
        _slice("s2", _ep("10.0.0.3", "zone-a", for_zones=("zone-a",)), _ep("10.0.0.4", None)),
    ]
    result = hints.compute_hints(AUTO, slices, ZONES_AB)
    assert (result.written, result.reason) == (False, "no-zone-on-endpoint")
    assert set(result.hints.values()) == {((), ())}
    # A zone-less endpoint that is not ready does not count.
    slices[1] = _slice("s2", _ep("10.0.0.3", "zone-a"), _ep("10.0.0.4", None, ready=False), _ep("10.0.0.5", "zone-b"))
    assert hints.compute_hints(AUTO, slices, ZONES_AB).written


def test_unset_ready_condition_is_not_ready_for_the_controller():
    slices = [_slice("s1", _ep("10.0.0.1", "zone-a"), _ep("10.0.0.2", "zone-b", ready=None))]
    result = hints.compute_hints(AUTO, slices, ZONES_AB)
    assert (result.written, result.reason) == (False, "insufficient-endpoints")


def test_nodes_end_to_end_with_cpu_ratios():
    # zone-a has 3/4 of the CPU: of 8 endpoints all in zone-a, 2 go to zone-b.
    nodes = [
        NodeUpserted("a1", "zone-a", 3000),
        NodeUpserted("b1", "zone-b", 1000),
        NodeUpserted("cp", None, 0, control_plane=True),
        NodeUpserted("down", None, 0, ready=False),
    ]
    slices = [_slice("s1", *(_ep(f"10.0.0.{i}", "zone-a") for i in range(8)))]
    result = hints.compute_hints(AUTO, slices, nodes)
    assert result.written and result.zones == {"zone-a": 6, "zone-b": 2}
    assert [result.hints[("ns/s1", i)][0] for i in range(8)] == [("zone-b",)] * 2 + [("zone-a",)] * 6
    # One worker node without CPU disables hints for everyone.
    nodes.append(NodeUpserted("new", "zone-b", 0))
    assert hints.compute_hints(AUTO, slices, nodes).reason == "insufficient-node-info"


def test_each_address_type_is_allocated_on_its_own():
    v4 = _slice("v4", *(_ep(f"10.0.0.{i}", z) for i, z in enumerate(["zone-a", "zone-b"] * 2)))
    v6 = _slice("v6", _ep("fd00::1", "zone-a"), address_type="IPv6")
    result = hints.compute_hints(AUTO, [v6, v4], ZONES_AB)
    assert result.by_address_type["IPv4"].written
    assert result.by_address_type["IPv6"].reason == "insufficient-endpoints"
    assert (result.written, result.reason) == (False, "insufficient-endpoints")
    assert result.hints[("ns/v4", 0)] == (("zone-a",), ())
    assert result.hints[("ns/v6", 0)] == ((), ())
    assert result.zones == {"zone-a": 2, "zone-b": 2}


def test_valid_recorded_hints_stay_on_resync_but_not_on_rewrite():
    # Equal zones, 4 endpoints, 3 in zone-a: one zone-a endpoint must serve zone-b.
    recorded = _slice(
        "s1",
        _ep("10.0.0.1", "zone-a", for_zones=("zone-a",)),
        _ep("10.0.0.2", "zone-a", for_zones=("zone-b",)),
        _ep("10.0.0.3", "zone-a", for_zones=("zone-a",)),
        _ep("10.0.0.4", "zone-b", for_zones=("zone-b",)),
    )
    resync = hints.compute_hints(AUTO, [recorded], ZONES_AB, keep_recorded=True)
    assert resync.by_address_type["IPv4"].updated == ()
    assert [resync.hints[("ns/s1", i)][0] for i in range(4)] == [("zone-a",), ("zone-b",), ("zone-a",), ("zone-b",)]
    rewrite = hints.compute_hints(AUTO, [recorded], ZONES_AB)
    assert [rewrite.hints[("ns/s1", i)][0] for i in range(4)] == [("zone-b",), ("zone-a",), ("zone-a",), ("zone-b",)]
    assert resync.zones == rewrite.zones == {"zone-a": 2, "zone-b": 2}
    # Recorded hints past a zone's maximum get the slice rewritten.
    overfull = with_zone_hints(recorded, ["zone-a", "zone-a", "zone-a", "zone-b"])
    fixed = hints.compute_hints(AUTO, [overfull], ZONES_AB, keep_recorded=True)
    assert fixed.by_address_type["IPv4"].updated == ("ns/s1",)
    assert fixed.zones == {"zone-a": 2, "zone-b": 2}


def with_zone_hints(s: SliceUpserted, zones) -> SliceUpserted:
    return attrs.evolve(s, endpoints=tuple(attrs.evolve(e, for_zones=(z,)) for e, z in zip(s.endpoints, zones)))


@pytest.mark.parametrize(
    "desired, allocated, moves",
    [
        (
            {"zone-a": 5.0, "zone-b": 5.3, "zone-c": 4.7},
            {"zone-a": 6, "zone-b": 5, "zone-c": 4},
            ({"zone-a": 1}, {"zone-c": 1}),
        ),
        # A whole endpoint to spare, but no zone short of even half a one.
        ({"zone-a": 5.0, "zone-b": 5.3, "zone-c": 4.7}, {"zone-a": 6, "zone-b": 5, "zone-c": 5}, ({}, {})),
        # A whole endpoint missing, but no zone with even half a one to spare.
        ({"zone-a": 4.7, "zone-b": 4.6, "zone-c": 5.0}, {"zone-a": 5, "zone-b": 5, "zone-c": 4}, ({}, {})),
    ],
)
def test_no_move_for_less_than_half_an_endpoint(desired, allocated, moves):
    assert hints.giving_and_receiving(desired, allocated) == moves


def test_removal_writes_only_untouched_slices_that_carried_hints():
    carrying = _slice("a", _ep("10.0.0.1", "zone-a", for_zones=("zone-a",)))
    bare = _slice("b", _ep("10.0.0.2", "zone-b"))
    result = hints.reconcile("none", (), [carrying, bare])
    assert (result.updated, result.reason) == (("ns/a",), "not-requested")


def test_a_small_zone_can_end_below_its_minimum():
    """The controller stops moving endpoints once a giving zone has less than
    half an endpoint to spare, even when a receiving zone is under its minimum."""
    eps = [_ep(f"10.0.0.{i}", "zone-a") for i in range(10)]
    result = hints.reconcile("auto", [_slice("s1", *eps)], (), {"zone-a": 0.99, "zone-b": 0.01})
    assert result.written
    assert result.allocations["zone-b"] == hints.Allocation(1, 1, 1.0)
    assert result.allocations["zone-a"].maximum == 9
    assert result.zones == {"zone-a": 10, "zone-b": 0}


def test_prefer_close_leaves_not_ready_endpoints_alone_but_auto_clears_them():
    stale = _slice("s1", _ep("10.0.0.1", "zone-a", ready=False, for_zones=("zone-b",)), _ep("10.0.0.2", "zone-a"))
    close = hints.reconcile("prefer-close", [stale])
    assert close.hints[("ns/s1", 0)] == (("zone-b",), ())
    assert close.hints[("ns/s1", 1)] == (("zone-a",), ())
    assert close.zones == {"zone-a": 1}
    auto = hints.reconcile("auto", [stale, _slice("s2", _ep("10.0.0.3", "zone-b"))], (), {"zone-a": 0.5, "zone-b": 0.5})
    assert auto.hints[("ns/s1", 0)] == ((), ())


@pytest.mark.parametrize(
    "service, mode",
    [
        (None, "none"),
        (ServiceUpserted("ns", "svc"), "none"),
        (ServiceUpserted("ns", "svc", topology_mode="Auto", traffic_distribution="PreferSameNode"), "auto"),
        (ServiceUpserted("ns", "svc", topology_mode="AUTO"), "none"),
        (
            ServiceUpserted("ns", "svc", topology_mode="Disabled", traffic_distribution="PreferClose"),
            "prefer-same-zone",
        ),
        (ServiceUpserted("ns", "svc", traffic_distribution="PreferSameNode"), "prefer-same-node"),
    ],
)
def test_mode_for(service, mode):
    assert hints.mode_for(service) == mode


def test_mode_override_and_unknown_mode():
    slices = [_slice("s1", _ep("10.0.0.1", "zone-a", node="n1"))]
    result = hints.compute_hints(ServiceUpserted("ns", "svc"), slices, (), mode="prefer-same-node")
    assert result.hints[("ns/s1", 0)] == (("zone-a",), ("n1",))
    with pytest.raises(ArgumentError, match="^mode: unknown hint mode 'nearest'"):
        hints.compute_hints(None, slices, (), mode="nearest")
    assert hints.compute_hints(AUTO, [], ZONES_AB).reason == "no-slices"


# ---------------------------------------------------------------------------
# Properties

ZONE_NAMES = ["zone-a", "zone-b", "zone-c", "zone-d"]


@st.composite
def auto_inputs(draw):
    n_zones = draw(st.integers(2, 4))
    nodes = [NodeUpserted(f"node-{z}", z, draw(st.integers(1, 16)) * 250) for z in ZONE_NAMES[:n_zones]]
    endpoint_zones = ZONE_NAMES[: n_zones + draw(st.integers(0, 1))]  # sometimes a zone without nodes
    eps = draw(
        st.lists(
            st.tuples(st.sampled_from(endpoint_zones), st.sampled_from([True, True, True, False, None])), max_size=40
        )
    )
    endpoints = [_ep(f"10.0.{i // 200}.{i % 200}", z, ready=r) for i, (z, r) in enumerate(eps)]
    cut = draw(st.integers(0, len(endpoints)))
    slices = [_slice("s1", *endpoints[:cut]), _slice("s2", *endpoints[cut:])]
    return nodes, slices


@settings(max_examples=300, deadline=None)
@given(auto_inputs())
def test_written_auto_hints_give_each_ready_endpoint_exactly_one_zone(inputs):
    nodes, slices = inputs
    result = hints.compute_hints(AUTO, slices, nodes)
    ready = [(s.key, i) for s in slices for i, e in enumerate(s.endpoints) if e.ready is True]
    if not result.written:
        assert result.reason in hints.REASONS
        assert set(result.hints.values()) <= {((), ())}
        return
    allocations = result.by_address_type["IPv4"].allocations
    hinted = {place: hint for place, hint in result.hints.items() if hint != ((), ())}
    assert set(hinted) == set(ready)
    counted = {}
    for (key, index), (for_zones, for_nodes) in hinted.items():
        assert len(for_zones) == 1 and for_nodes == ()
        zone = for_zones[0]
        own = next(s for s in slices if s.key == key).endpoints[index].zone
        # An endpoint serves its own zone, or moves to a zone with an allocation.
        assert zone == own or zone in allocations
        counted[zone] = counted.get(zone, 0) + 1
    assert {z: c for z, c in result.zones.items() if c} == counted
    assert sum(result.zones.values()) == len(ready)
    # A zone gives endpoints away only out of a surplus over its desired share.
    for zone, allocation in allocations.items():
        own_count = sum(1 for s in slices for e in s.endpoints if e.ready is True and e.zone == zone)
        moved_away = own_count - sum(
            1
            for p in hinted
            if hinted[p][0] == (zone,) and next(s for s in slices if s.key == p[0]).endpoints[p[1]].zone == zone
        )
        assert moved_away <= max(0.0, own_count - allocation.desired + 0.5)


@settings(max_examples=200, deadline=None)
@given(auto_inputs(), st.randoms(use_true_random=False))
def test_zone_counts_do_not_depend_on_endpoint_order(inputs, rng: random.Random):
    nodes, slices = inputs
    endpoints = [e for s in slices for e in s.endpoints]
    shuffled = list(endpoints)
    rng.shuffle(shuffled)
    first = hints.compute_hints(AUTO, [_slice("s1", *endpoints)], nodes)
    second = hints.compute_hints(AUTO, [_slice("s1", *shuffled)], nodes)
    assert (first.written, first.reason, first.zones) == (second.written, second.reason, second.zones)
