"""Subscriptions: the Add/Remove stream agrees with the selection after every
event, never sends empty updates, never removes what it did not add, and
keeps failing subscribers from hurting the others."""

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from k8s import endpoint, endpoint_slice, node, two_zone_cluster
from reference import render
from test_linkerd_policy import event_st

from engine import ArgumentError, Engine, Overflow


def key(e):
    return render(e.address, e.port)


class Recorder:
    """Applies updates in order, keyed by identity: an add of a changed
    endpoint replaces it, a remove must name one held."""

    def __init__(self):
        self.current = {}
        self.updates = []

    def __call__(self, update):
        assert update.endpoints, "an empty update was sent"
        assert list(update.endpoints) == sorted(update.endpoints), "endpoints are sorted by (address, port)"
        self.updates.append(update)
        for e in update.endpoints:
            assert e.identity, "updates carry each endpoint's identity"
            if update.op == "add":
                self.current[e.identity] = key(e)
            else:
                assert self.current.get(e.identity) == key(e), f"removed {key(e)} which was never added"
                del self.current[e.identity]

    def view(self):
        return sorted(self.current.values())


WATCHES = [
    dict(node="n0"),
    dict(node="n1", hostname="h0"),
    dict(node="ghost"),
    dict(node="n2", filtering=False),
    dict(node="n1", ipv6=True),
    dict(node="n0", policy="linkerd+nodes"),
    dict(zone="z1"),
    dict(node="n1", policy="kube-proxy"),
    dict(zone="z0", policy="kube-proxy"),
]


@settings(max_examples=150, deadline=None)
@given(before=st.lists(event_st, max_size=5), after=st.lists(event_st, min_size=1, max_size=12))
def test_stream_applied_in_order_equals_current_selection(before, after, implementation):
    eng = Engine(implementation=implementation)
    eng.apply_all(before)
    recorders = []
    for watch in WATCHES:
        rec = Recorder()
        eng.subscribe("ns/web", 80, on_update=rec, **watch)
        recorders.append(rec)
    for event in after:
        eng.apply(event)
        for watch, rec in zip(WATCHES, recorders):
            sel = eng.endpoints("ns/web", 80, strict=False, **watch)
            assert rec.view() == sorted(key(e) for e in sel.endpoints)
            assert all(u.seq <= eng.seq for u in rec.updates)


def test_same_filter_key_shares_one_group_and_updates_carry_seq(implementation):
    eng = Engine(implementation=implementation)
    eng.ingest(two_zone_cluster())
    a, b = Recorder(), Recorder()
    eng.subscribe("ns/web", 80, node="n1", on_update=a)
    eng.subscribe("ns/web", 80, node="n1", on_update=b)
    assert eng.subscriptions.group_count == 1 and len(eng.subscriptions) == 2
    eng.ingest([node("n1", "zone-b")])  # relabelled: the group follows the node's current zone
    assert [u.op for u in a.updates] == ["add", "add", "remove"]
    assert a.updates[-1].seq == eng.seq and a.view() == ["10.0.0.2:8080"]
    assert [(u.op, u.seq) for u in a.updates] == [(u.op, u.seq) for u in b.updates]


def test_failing_callback_is_dropped_and_others_keep_receiving(implementation):
    eng = Engine(implementation=implementation)
    eng.ingest(two_zone_cluster())
    good = Recorder()

    def bad(update):
        if update.op == "remove":
            raise RuntimeError("boom")

    handle = eng.subscribe("ns/web", 80, node="n1", on_update=bad)
    eng.subscribe("ns/web", 80, node="n1", on_update=good)
    eng.ingest([endpoint_slice("ns/s", "web", [endpoint("10.0.0.3", hints=["zone-a"], pod="p3")])])
    assert isinstance(handle.error, RuntimeError) and not handle.active
    assert good.view() == ["10.0.0.3:8080"]
    eng.ingest([endpoint_slice("ns/s", "web", [endpoint("10.0.0.4", hints=["zone-a"], pod="p4")])])
    assert good.view() == ["10.0.0.4:8080"]


def test_cancel_stops_updates_and_drops_the_group(implementation):
    eng = Engine(implementation=implementation)
    eng.ingest(two_zone_cluster())
    rec = Recorder()
    handle = eng.subscribe("ns/web", 80, node="n1", on_update=rec)
    handle.cancel()
    eng.ingest([endpoint_slice("ns/s", "web", [])])
    assert len(rec.updates) == 1 and eng.subscriptions.group_count == 0


def test_linkerd_subscriptions_are_tcp_only_and_bad_arguments_are_named(implementation):
    eng = Engine(implementation=implementation)
    eng.ingest(two_zone_cluster())
    with pytest.raises(ArgumentError, match="^protocol: policy linkerd answers TCP only"):
        eng.subscribe("ns/web", 80, node="n1", protocol="UDP", on_update=print)
    with pytest.raises(ArgumentError, match="^port: expected an integer 1..65535, got str '80'"):
        eng.subscribe("ns/web", "80", node="n1", on_update=print)
    with pytest.raises(ArgumentError, match="^policy: unknown policy 'envoy'"):
        eng.subscribe("ns/web", 80, node="n1", policy="envoy", on_update=print)
    assert eng.subscriptions.group_count == 0


def test_a_zone_client_and_a_kube_proxy_client_are_named_in_their_updates(implementation):
    eng = Engine(implementation=implementation)
    eng.ingest(two_zone_cluster())
    zone, proxy = Recorder(), Recorder()
    eng.subscribe("ns/web", 80, zone="zone-b", on_update=zone)
    eng.subscribe("ns/web", 80, node="n1", policy="kube-proxy", on_update=proxy)
    assert str(zone.updates[0].watch) == "ns/web:80@zone:zone-b" and zone.view() == ["10.0.0.2:8080"]
    assert str(proxy.updates[0].watch) == "ns/web:80@n1" and proxy.view() == ["10.0.0.1:8080"]


def test_async_updates_and_overflow(implementation):
    async def scenario():
        eng = Engine(implementation=implementation)
        eng.ingest(two_zone_cluster())
        stream = eng.updates("ns/web", 80, node="n1", max_queue=2)
        first = await stream.__anext__()
        assert first.op == "add"
        for i in range(3):  # each rewrite is an add and a remove: the queue of 2 overflows
            eng.ingest([endpoint_slice("ns/s", "web", [endpoint(f"10.0.1.{i}", hints=["zone-a"], pod=f"q{i}")])])
        received = [await stream.__anext__(), await stream.__anext__()]
        assert [u.op for u in received] == ["add", "remove"]
        with pytest.raises(Overflow):
            await stream.__anext__()
        assert not stream.subscription.active

    asyncio.run(scenario())
