"""subscribe: Destination-style subscriptions under load, each next to the naive reference.

Fan-out: 10,000 subscribers on one zone-hinted service of 10,000 endpoints
spread over 1,000 nodes in 3 zones.  One slice update (a pod replaced) is
timed from ``apply`` until the last callback returns, for several numbers
of distinct filter keys (client nodes) and subscribers, so the cost per key
and per subscriber can be told apart.

Churn: 1,000 subscribers, clients on random nodes of the generated cluster,
watching the services the churn touches most; the same window of churn
events is fed to the engine and to the naive reference, and the final
selections of both are checked to agree.
"""

from __future__ import annotations

import random
import statistics
import time
from collections import Counter

from engine import kernels
from engine.api import Engine
from engine.events import Endpoint, NodeUpserted, ServicePort, ServiceUpserted, SlicePort, SliceUpserted
from engine.log import EventLog
from engine.records import RecordCodec

from . import Context, result, timed
from .naive import NaiveController

SUITE = "subscribe"
NAMESPACE, SERVICE, PORT = "bench", "fanout", 80
ZONES = ("zone-a", "zone-b", "zone-c")
REPEAT_BUDGET = 10.0  # seconds of repeated slice updates per configuration, after the first


def fanout_cluster(endpoints: int, nodes: int) -> tuple[list, list[SliceUpserted]]:
    """Events for a hinted service of ``endpoints`` over ``nodes`` nodes in 3 zones; also its slices.

    The Service first names its port ``pending``, which no slice serves, so
    that subscribing is cheap; ``port_named`` then gives every subscriber
    its initial Add in one event.
    """
    events: list = [NodeUpserted(f"node-{i:04d}", ZONES[i % 3], 8000) for i in range(nodes)]
    events.append(port_named("pending"))
    slices = []
    for s in range(0, endpoints, 100):
        slices.append(
            SliceUpserted(
                NAMESPACE,
                f"{SERVICE}-{s // 100:03d}",
                SERVICE,
                "IPv4",
                (SlicePort("http", 8080),),
                tuple(_endpoint(i, f"pod-{i}", nodes) for i in range(s, min(s + 100, endpoints))),
            )
        )
    return events + slices, slices


def port_named(name: str) -> ServiceUpserted:
    return ServiceUpserted(NAMESPACE, SERVICE, (ServicePort(name, PORT, target_port=8080),), topology_mode="Auto")


def _endpoint(i: int, pod: str, nodes: int) -> Endpoint:
    node = i % nodes
    zone = ZONES[node % 3]
    return Endpoint(
        (f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",),
        True,
        True,
        False,
        f"node-{node:04d}",
        zone,
        None,
        "Pod",
        NAMESPACE,
        pod,
        (zone,),
    )


def replaced(es: SliceUpserted, version: int, nodes: int) -> SliceUpserted:
    """``es`` with its first pod replaced by a new one (new name and address)."""
    first = es.endpoints[0]
    n = 1_000_000 + version
    new = _endpoint(n, f"pod-r{version}", nodes)
    new = Endpoint(
        new.addresses,
        True,
        True,
        False,
        first.node_name,
        first.zone,
        None,
        "Pod",
        NAMESPACE,
        new.target_name,
        first.for_zones,
    )
    return SliceUpserted(es.namespace, es.name, es.service, es.address_type, es.ports, (new, *es.endpoints[1:]))


class Clock:
    """A callback that remembers when it last ran and how often."""

    def __init__(self) -> None:
        self.last = 0.0
        self.calls = 0

    def __call__(self, update) -> None:
        self.last = time.perf_counter()
        self.calls += 1


def fanout(keys: int, subscribers: int, endpoints: int, nodes: int, repeats: int) -> dict[str, float]:
    """Seconds to give every subscriber its initial Add (one event), median seconds of one slice
    update to the last callback, callbacks per update, and seconds to subscribe one more
    subscriber to a populated filter key."""
    events, slices = fanout_cluster(endpoints, nodes)
    engine = Engine()
    engine.apply_all(events)
    clock = Clock()
    for j in range(subscribers):
        engine.subscribe(f"{NAMESPACE}/{SERVICE}", PORT, node=f"node-{j % keys:04d}", on_update=clock)
    start = time.perf_counter()
    engine.apply(port_named("http"))
    initial = clock.last - start
    if clock.calls != subscribers:
        raise AssertionError(f"{clock.calls} of {subscribers} subscribers got an initial Add")
    costs = []
    calls = []
    budget = time.perf_counter() + REPEAT_BUDGET
    for version in range(repeats):
        if costs and time.perf_counter() > budget:
            break  # slow configurations: fewer repeats keep the suite inside its time budget
        update = replaced(slices[0], version, nodes)
        clock.calls = 0
        start = time.perf_counter()
        engine.apply(update)
        costs.append(clock.last - start)
        calls.append(clock.calls)
    start = time.perf_counter()
    extra = engine.subscribe(f"{NAMESPACE}/{SERVICE}", PORT, node="node-0000", on_update=clock)
    one_more = time.perf_counter() - start
    extra.cancel()
    return {"initial": initial, "update": statistics.median(costs), "calls": max(calls), "subscribe": one_more}


def naive_fanout(subscribers: int, endpoints: int, nodes: int, repeats: int) -> float:
    """Median seconds of one slice update to the last callback, naive reference, one subscriber per node."""
    events, slices = fanout_cluster(endpoints, nodes)
    naive = NaiveController()
    for event in events:
        naive.apply(event)
    clock = Clock()
    for j in range(subscribers):
        naive.subscribe(f"{NAMESPACE}/{SERVICE}", PORT, f"node-{j % nodes:04d}", lambda op, eps: clock(None))
    naive.apply(port_named("http"))
    costs = []
    for version in range(repeats):
        start = time.perf_counter()
        naive.apply(replaced(slices[0], version, nodes))
        costs.append(clock.last - start)
    return statistics.median(costs)


def churn_window(ctx: Context, window: int) -> tuple[list, list]:
    """The initial events and the first ``window`` churn events of the data set."""
    data = ctx.dataset()
    decode = RecordCodec(kernels.StringTable()).decode  # in log order, as the string table grows
    with EventLog.open(data.log) as log:
        initial = [decode(r) for _, _, r in log.read(1, data.initial_events)]
        churn = [decode(r) for _, _, r in log.read(data.initial_events + 1, data.initial_events + window)]
    return initial, churn


def churn_subscribers(initial: list, churn: list, count: int, services: int, seed: int) -> list[tuple[str, str]]:
    """(service, node) for ``count`` clients on random nodes, over the ``services`` most churned services."""
    touched = Counter(
        f"{e.namespace}/{e.service}" for e in churn if isinstance(e, SliceUpserted) and e.service is not None
    )
    chosen = [s for s, _ in touched.most_common(services)]
    nodes = [e.name for e in initial if isinstance(e, NodeUpserted)]
    rng = random.Random(seed)
    return [(chosen[i % len(chosen)], rng.choice(nodes)) for i in range(count)]


def churn_replay(ctx: Context, subscribers: int, window: int, services: int) -> dict:
    initial, churn = churn_window(ctx, window)
    clients = churn_subscribers(initial, churn, subscribers, services, ctx.seed)

    engine = Engine()
    engine.apply_all(initial)
    received = Counter()

    def on_update(update) -> None:
        received[update.op] += len(update.endpoints)

    for service, node in clients:
        engine.subscribe(service, PORT, node=node, on_update=on_update)
    first = engine.seq + 1

    def engine_run() -> None:
        for offset, event in enumerate(churn):
            engine.fold(event, first + offset)

    ctx.progress("subscribe: churn replay, engine", 0, 1)
    engine_seconds, _ = timed(engine_run)
    ctx.progress("subscribe: churn replay, engine", 1, 1)

    naive = NaiveController()
    for event in initial:
        naive.apply(event)
    naive_received = Counter()
    subs = [
        naive.subscribe(service, PORT, node, lambda op, eps: naive_received.update({op: len(eps)}))
        for service, node in clients
    ]

    def naive_run() -> None:
        for n, event in enumerate(churn):
            naive.apply(event)
            if n % 50 == 0:
                ctx.progress("subscribe: churn replay, naive", n, len(churn))

    naive_seconds, _ = timed(naive_run)
    ctx.progress("subscribe: churn replay, naive", 1, 1)
    for sub in subs:
        selection = engine.endpoints(sub.service, PORT, node=sub.node, strict=False)
        mine = {(e.address, e.port) for e in selection.endpoints}
        if mine != set(sub.sent):
            raise AssertionError(f"engine and naive reference disagree on {sub.service} for {sub.node}")
    return {"engine": engine_seconds, "naive": naive_seconds, "events": len(churn), "updates": sum(received.values())}


def run(ctx: Context) -> list[dict]:
    if ctx.quick:
        endpoints, nodes, repeats = 1_000, 100, 2
        grid = [(1, 1_000), (10, 1_000), (100, 1_000), (100, 100)]
        naive_subs, naive_repeats, churn_subs, window, services = 100, 2, 100, 150, 10
    else:
        endpoints, nodes, repeats = 10_000, 1_000, 3
        grid = [(1, 1_000), (1, 10_000), (10, 10_000), (100, 10_000), (1_000, 10_000), (1_000, 1_000)]
        naive_subs, naive_repeats, churn_subs, window, services = 1_000, 1, 1_000, 300, 50
    out = []
    costs = {}
    for keys, subscribers in grid:
        label = f"subscribe: fan-out, {keys:,} keys, {subscribers:,} subscribers"
        ctx.progress(label, 0, 1)
        measured = fanout(keys, subscribers, endpoints, nodes, repeats)
        ctx.progress(label, 1, 1)
        costs[keys, subscribers] = measured["update"]
        what = f"{endpoints:,} endpoints, {keys:,} keys, {subscribers:,} subscribers"
        out.append(
            result(
                SUITE,
                f"one slice update to last callback: {what}",
                measured["update"] * 1e3,
                "ms",
                higher_is_better=False,
            )
        )
        out.append(
            result(
                SUITE,
                f"initial Add to every subscriber (one event): {what}",
                measured["initial"] * 1e3,
                "ms",
                higher_is_better=False,
            )
        )
    out.append(
        result(
            SUITE,
            f"subscribe one more to a populated key ({endpoints // 3:,} endpoints selected)",
            measured["subscribe"] * 1e3,
            "ms",
            higher_is_better=False,
        )
    )
    ctx.progress("subscribe: fan-out, naive", 0, 1)
    naive_cost = naive_fanout(naive_subs, endpoints, nodes, naive_repeats)
    ctx.progress("subscribe: fan-out, naive", 1, 1)
    out.append(
        result(
            SUITE,
            f"peer: naive, one slice update: {endpoints:,} endpoints, {naive_subs:,} subscribers on distinct nodes",
            naive_cost * 1e3,
            "ms",
            higher_is_better=False,
        )
    )
    peer = costs.get((naive_subs, naive_subs))
    if peer:
        out.append(
            result(
                SUITE,
                f"naive / engine, one slice update, {naive_subs:,} subscribers on distinct nodes",
                naive_cost / peer,
                "x",
            )
        )
    churn = churn_replay(ctx, churn_subs, window, services)
    out += [
        result(
            SUITE, f"churn replay, {churn_subs:,} subscribers, engine", churn["events"] / churn["engine"], "events/s"
        ),
        result(
            SUITE,
            f"peer: churn replay, {churn_subs:,} subscribers, naive",
            churn["events"] / churn["naive"],
            "events/s",
        ),
        result(
            SUITE,
            f"engine / naive, churn replay, {churn_subs:,} subscribers",
            churn["naive"] / churn["engine"],
            "x",
            ">= 100",
        ),
    ]
    return out
