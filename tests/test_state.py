"""The reducer: replacement, deletion, write order, snapshot images."""

import msgpack

from engine.events import NodeDeleted, NodeUpserted, ServiceDeleted, ServiceUpserted, SliceDeleted, SliceUpserted
from engine.state import ClusterState


def slice_(name, service="web", ns="shop"):
    return SliceUpserted(ns, name, service, "IPv4", (), ())


def test_upsert_replaces_whole_and_moves_slice_to_last_written():
    state = ClusterState()
    state.apply(slice_("a"))
    state.apply(slice_("b"))
    change = state.apply(slice_("a"))
    assert list(k for k in state.service_slices["shop/web"]) == ["shop/b", "shop/a"]
    assert change.services == {"shop/web"}
    assert state.seq == 3


def test_slice_moving_between_services_touches_both():
    state = ClusterState()
    state.apply(slice_("a", "web"))
    change = state.apply(slice_("a", "api"))
    assert change.services == {"shop/web", "shop/api"}
    assert "shop/web" not in state.service_slices


def test_deletes_and_unknown_deletes():
    state = ClusterState()
    assert not state.apply(SliceDeleted("shop", "nope"))
    state.apply(slice_("a"))
    assert state.apply(SliceDeleted("shop", "a")).services == {"shop/web"}
    assert state.slices == {} and state.service_slices == {}
    state.apply(ServiceUpserted("shop", "web"))
    assert state.apply(ServiceDeleted("shop", "web")).services == {"shop/web"}
    assert not state.apply(NodeDeleted("ghost"))


def test_node_change_reported_only_when_zone_moves():
    state = ClusterState()
    assert state.apply(NodeUpserted("n1", "a", 1000)).nodes == {"n1"}
    assert not state.apply(NodeUpserted("n1", "a", 2000))
    assert state.apply(NodeUpserted("n1", "b", 2000)).nodes == {"n1"}
    assert state.node_zone("n1") == "b" and state.node_zone("ghost") is None


def test_dump_load_round_trip_is_byte_identical():
    state = ClusterState()
    for event in [
        NodeUpserted("n1", "a", 1000),
        slice_("a"),
        slice_("b"),
        ServiceUpserted("shop", "web"),
        slice_("a"),
        NodeUpserted("n0", None, 0),
    ]:
        state.apply(event)
    image = msgpack.packb(state.dump())
    again = ClusterState.load(msgpack.unpackb(image))
    assert msgpack.packb(again.dump()) == image
    assert list(again.service_slices["shop/web"]) == ["shop/b", "shop/a"]
