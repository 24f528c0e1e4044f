"""Small seeded workloads for the suites that time one thing at a time.

Built with ``generate.py``'s cluster model (nodes placed by CPU over uneven
zones, slices of 100, hints as the EndpointSlice controller writes them),
handed one at a time, as kubectl-shaped objects, to a callback in the
order a watch would show them:

* ``services``: nodes over three zones and services of 100-endpoint slices;
* ``rollouts``: Deployment rollouts of every service, round after round
  (``generate.Churn.rollout``: a quarter of the pods at a time go
  terminating, then are replaced by new ready pods, one slice write each);
* ``pod_replaced``: one slice rewritten with one pod replaced, one step of
  such a rollout.

The same arguments give the same objects.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Optional

from .generate import HINTED, LOCAL, UNHINTED, Churn, Cluster, Scale, Service, Slice

ZONES = 3
NAMESPACE = "bench"
PORT = 80  # every generated Service's port (generate.Cluster.service_object)

Emit = Callable[[dict], None]  # receives each kubectl object in turn


def _objects(emit: Emit) -> Callable[[dict], None]:
    """generate.py emits watch events; these workloads hand on their objects."""
    return lambda watch_event: emit(watch_event["object"])


def services(count: int, size: int, nodes: int, seed: int, emit: Emit, kind: Optional[str] = None) -> Cluster:
    """``nodes`` nodes over three zones and ``count`` services of ``size`` endpoints each.

    ``kind`` (generate.HINTED, UNHINTED or LOCAL) for every service, or drawn
    per service with the full data set's weights when None.
    """
    scale = Scale(
        nodes=nodes,
        services=count,
        endpoints=count * size,
        big_services=(),
        namespaces=1,
        rollouts=0,
        scalings=0,
        drains=0,
        hint_toggles=0,
    )
    cluster = Cluster(scale, seed)
    cluster.add_nodes(ZONES, nodes, _objects(emit))
    for index in range(count):
        chosen = kind or cluster.rng.choices((HINTED, UNHINTED, LOCAL), weights=(55, 35, 10))[0]
        cluster.add_service(NAMESPACE, f"svc-{index:05d}", chosen, size, _objects(emit))
    return cluster


def rollouts(cluster: Cluster, rounds: int, emit: Emit) -> None:
    """Every service rolls out once per round, in an order shuffled each round."""
    churn = Churn(cluster, _objects(emit))
    order = list(cluster.services)
    for _ in range(rounds):
        cluster.rng.shuffle(order)
        for svc in order:
            churn.rollout(svc)


def pod_replaced(cluster: Cluster, svc: Service, es: Slice, position: int) -> dict:
    """``es`` rewritten with the pod at ``position`` replaced by a new pod on a
    node drawn by CPU: the slice object the next write carries."""
    es.pods[position % len(es.pods)] = cluster.new_pod(svc)
    return cluster.slice_object(svc, es, cluster.hinted(svc))


def endpoints_in(obj: dict) -> int:
    """Endpoints an object carries: what a replay folds for it."""
    return len(obj["endpoints"]) if obj["kind"] == "EndpointSlice" else 0


class LogWriter:
    """Ingests objects into a new event log through ``Engine.ingest``, a batch at a time."""

    BATCH = 500

    def __init__(self, log_dir: Path):
        from engine.api import Engine

        self.engine = Engine.open(log_dir, create=True, write=True, sync=False)
        self.pending: list[dict] = []

    def __call__(self, obj: dict) -> None:
        self.pending.append(obj)
        if len(self.pending) >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.engine.ingest(self.pending)
            self.pending.clear()

    def close(self) -> None:
        self.flush()
        self.engine.close()
