"""A seeded generator of large clusters and their churn, as kubectl would show them.

    python -m benchmarks.generate --out DIR [--scale tiny|small|full] [--seed N]

writes ``DIR/initial.jsonl`` and ``DIR/churn.jsonl`` (watch events, one
``{"type", "object"}`` per line, as ``kubectl get --watch --output-watch-events
-o json`` prints them), ``DIR/log/`` (the same objects as an event log) and
``DIR/summary.json``.

The ``full`` scale is Kubernetes' published limits: 5,000 nodes over 3-5
zones with uneven CPU, 150,000 endpoints, 10,000 services whose sizes follow
a skewed (Zipf-like) distribution with a few of 10,000+ endpoints, slices of
100 endpoints, and a mix of topology-hinted, unhinted and
``internalTrafficPolicy: Local`` services.  The churn is rolling deployments,
scale-ups and -downs, node drains, a zone outage and its recovery, and
services turning topology hints off and on again.

Hints are written as the EndpointSlice controller writes them when a
service's endpoints are spread evenly enough: each endpoint hinted for its own
zone, and no hints at all when some zone has no ready endpoint of the service.
"""

from __future__ import annotations

import argparse
import json
import random
import string
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Optional

import attrs

SLICE_SIZE = 100
HINTED, UNHINTED, LOCAL = "hinted", "unhinted", "local"
ZONE_LABEL = "topology.kubernetes.io/zone"
TOPOLOGY_MODE = "service.kubernetes.io/topology-mode"


@attrs.frozen
class Scale:
    nodes: int
    services: int
    endpoints: int
    big_services: tuple[int, ...]  # sizes of the few very large services
    namespaces: int
    # churn
    rollouts: int
    scalings: int
    drains: int
    hint_toggles: int


SCALES = {
    "tiny": Scale(
        nodes=30,
        services=40,
        endpoints=1_200,
        big_services=(300,),
        namespaces=4,
        rollouts=3,
        scalings=6,
        drains=2,
        hint_toggles=2,
    ),
    "small": Scale(
        nodes=500,
        services=1_000,
        endpoints=15_000,
        big_services=(2_000, 1_500),
        namespaces=20,
        rollouts=8,
        scalings=30,
        drains=4,
        hint_toggles=8,
    ),
    "full": Scale(
        nodes=5_000,
        services=10_000,
        endpoints=150_000,
        big_services=(12_000, 11_000, 10_000),
        namespaces=100,
        rollouts=30,
        scalings=200,
        drains=20,
        hint_toggles=40,
    ),
}

# ---------------------------------------------------------------------------
# The model the generator mutates


@attrs.define
class Node:
    name: str
    zone: str
    cpu_millis: int
    ready: bool = True
    unschedulable: bool = False


@attrs.define
class Pod:
    name: str
    ip: str
    node: Node
    ready: bool = True
    terminating: bool = False


@attrs.define
class Slice:
    name: str
    pods: list[Pod]


@attrs.define
class Service:
    namespace: str
    name: str
    kind: str  # HINTED, UNHINTED or LOCAL
    slices: list[Slice]
    hints_on: bool
    pod_serial: int = 0

    @property
    def pods(self) -> Iterator[Pod]:
        for s in self.slices:
            yield from s.pods


@attrs.define
class Counts:
    """What a generated data set holds, for reports and sanity checks."""

    nodes: int = 0
    zones: int = 0
    services: int = 0
    slices: int = 0
    endpoints: int = 0  # after the churn
    initial_endpoints: int = 0
    largest_service: int = 0
    initial_objects: int = 0
    churn_objects: int = 0
    churn_endpoint_writes: int = 0  # endpoints carried by churn slice writes


class Cluster:
    """A cluster model plus the watch events that built and changed it."""

    def __init__(self, scale: Scale, seed: int):
        self.scale = scale
        self.rng = random.Random(seed)
        self.zones: list[str] = []
        self.nodes: list[Node] = []
        self.node_weights: list[int] = []
        self.services: list[Service] = []
        self._ip = 1 << 16
        self._suffixes: set[str] = set()

    # -- naming --------------------------------------------------------------

    def next_ip(self) -> str:
        self._ip += 1
        c = self._ip
        return f"10.{(c >> 16) & 255}.{(c >> 8) & 255}.{c & 255}"

    def suffix(self) -> str:
        while True:
            s = "".join(self.rng.choices(string.ascii_lowercase + string.digits, k=5))
            if s not in self._suffixes:
                self._suffixes.add(s)
                return s

    def new_pod(self, svc: Service, zone: Optional[str] = None) -> Pod:
        svc.pod_serial += 1
        return Pod(f"{svc.name}-{svc.pod_serial:x}-{self.suffix()}", self.next_ip(), self.place(zone))

    def add_nodes(self, zone_count: int, count: int, emit: Callable[[dict], None]) -> None:
        """``count`` nodes over ``zone_count`` zones that differ in node count and
        machine size, emitting an ADDED watch event per node."""
        rng = self.rng
        self.zones = [f"zone-{chr(ord('a') + i)}" for i in range(zone_count)]
        zone_share = [rng.uniform(0.5, 1.5) for _ in self.zones]
        zone_cpu = [rng.choice(((4000, 8000), (8000, 16000), (16000, 32000), (4000, 32000))) for _ in self.zones]
        cumulative = 0
        for i in range(count):
            z = rng.choices(range(zone_count), weights=zone_share)[0]
            node = Node(f"node-{i:05d}", self.zones[z], rng.choice(zone_cpu[z]))
            self.nodes.append(node)
            cumulative += node.cpu_millis
            self.node_weights.append(cumulative)
            emit(_watch("ADDED", self.node_object(node)))

    def add_service(self, namespace: str, name: str, kind: str, size: int, emit: Callable[[dict], None]) -> Service:
        """A service of ``size`` pods placed by CPU, in slices of ``SLICE_SIZE``,
        emitting ADDED watch events for the Service and its slices."""
        svc = Service(namespace, name, kind, [], hints_on=True)
        pods = [self.new_pod(svc) for _ in range(size)]
        svc.slices = [
            Slice(f"{svc.name}-{self.suffix()}", pods[i : i + SLICE_SIZE]) for i in range(0, size, SLICE_SIZE)
        ]
        self.services.append(svc)
        emit(_watch("ADDED", self.service_object(svc)))
        hinted = self.hinted(svc)
        for es in svc.slices:
            emit(_watch("ADDED", self.slice_object(svc, es, hinted)))
        return svc

    def place(self, zone: Optional[str] = None) -> Node:
        """A schedulable ready node, chosen in proportion to its CPU (big nodes take more pods)."""
        while True:
            node = self.rng.choices(self.nodes, cum_weights=self.node_weights)[0]
            if node.ready and not node.unschedulable and (zone is None or node.zone == zone):
                return node

    # -- objects ---------------------------------------------------------------

    def node_object(self, node: Node) -> dict:
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": node.name, "labels": {ZONE_LABEL: node.zone, "kubernetes.io/hostname": node.name}},
            "spec": {"unschedulable": True} if node.unschedulable else {},
            "status": {
                "allocatable": {"cpu": f"{node.cpu_millis}m", "memory": "32Gi"},
                "conditions": [{"type": "Ready", "status": "True" if node.ready else "Unknown"}],
            },
        }

    def service_object(self, svc: Service) -> dict:
        meta: dict = {"name": svc.name, "namespace": svc.namespace}
        if svc.kind == HINTED and svc.hints_on:
            meta["annotations"] = {TOPOLOGY_MODE: "Auto"}
        spec = {
            "type": "ClusterIP",
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
            "internalTrafficPolicy": "Local" if svc.kind == LOCAL else "Cluster",
        }
        return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}

    def slice_object(self, svc: Service, es: Slice, hinted: bool) -> dict:
        endpoints = []
        for pod in es.pods:
            ready = pod.ready and not pod.terminating
            ep = {
                "addresses": [pod.ip],
                "conditions": {"ready": ready, "serving": pod.ready, "terminating": pod.terminating},
                "nodeName": pod.node.name,
                "zone": pod.node.zone,
                "targetRef": {"kind": "Pod", "namespace": svc.namespace, "name": pod.name},
            }
            if hinted:
                ep["hints"] = {"forZones": [{"name": pod.node.zone}]}
            endpoints.append(ep)
        return {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": es.name,
                "namespace": svc.namespace,
                "labels": {
                    "kubernetes.io/service-name": svc.name,
                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                },
            },
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": endpoints,
        }

    def hinted(self, svc: Service) -> bool:
        """Whether the EndpointSlice controller would write hints for ``svc`` now."""
        if svc.kind != HINTED or not svc.hints_on:
            return False
        live_zones = {n.zone for n in self.nodes if n.ready}
        covered = {p.node.zone for p in svc.pods if p.ready and not p.terminating}
        return live_zones <= covered


def _watch(kind: str, obj: dict) -> dict:
    return {"type": kind, "object": obj}


# ---------------------------------------------------------------------------
# Building the initial cluster


def _service_sizes(scale: Scale, rng: random.Random) -> list[int]:
    """Endpoint counts per service: the big ones, then a Zipf-like tail, summing to ``scale.endpoints``."""
    rest = scale.services - len(scale.big_services)
    budget = scale.endpoints - sum(scale.big_services)
    weights = [1.0 / (rank + 1) ** 0.7 for rank in range(rest)]
    total = sum(weights)
    sizes = [max(1, round(budget * w / total)) for w in weights]
    sizes[0] += budget - sum(sizes)  # exact total; rank 0 is the largest of the tail
    sizes = list(scale.big_services) + sizes
    rng.shuffle(sizes)
    return sizes


def build(scale: Scale, seed: int, emit: Callable[[dict], None]) -> Cluster:
    """Create the cluster, emitting an ADDED watch event per object."""
    cluster = Cluster(scale, seed)
    rng = cluster.rng
    cluster.add_nodes(rng.randint(3, 5), scale.nodes, emit)
    namespaces = [f"team-{i:03d}" for i in range(scale.namespaces)]
    big = set(scale.big_services)
    for index, size in enumerate(_service_sizes(scale, rng)):
        if size in big:
            kind = UNHINTED if size == min(big) and len(big) > 1 else HINTED
        else:
            kind = rng.choices((HINTED, UNHINTED, LOCAL), weights=(55, 35, 10))[0]
        cluster.add_service(rng.choice(namespaces), f"svc-{index:05d}", kind, size, emit)
    return cluster


# ---------------------------------------------------------------------------
# Churn


class Churn:
    """Changes to a built cluster, each emitted as the watch events a real one would show."""

    def __init__(self, cluster: Cluster, emit: Callable[[dict], None]):
        self.c = cluster
        self.rng = cluster.rng
        self.emit = emit
        self.endpoint_writes = 0

    def write_slices(self, svc: Service, slices: list[Slice]) -> None:
        hinted = self.c.hinted(svc)
        for es in slices:
            if es.pods:
                self.emit(_watch("MODIFIED", self.c.slice_object(svc, es, hinted)))
                self.endpoint_writes += len(es.pods)

    def rollout(self, svc: Service) -> None:
        """Replace every pod, a quarter at a time: old ones terminate, new ones take their place."""
        pods = list(svc.pods)
        step = max(1, len(pods) // 4)
        for start in range(0, len(pods), step):
            batch = set(map(id, pods[start : start + step]))
            touched = [es for es in svc.slices if any(id(p) in batch for p in es.pods)]
            for es in touched:
                for p in es.pods:
                    if id(p) in batch:
                        p.terminating = True
            self.write_slices(svc, touched)
            for es in touched:
                es.pods = [self.c.new_pod(svc) if id(p) in batch else p for p in es.pods]
            self.write_slices(svc, touched)

    def scale(self, svc: Service) -> None:
        """Scale up by up to half, or down by up to a third (never to zero)."""
        size = sum(len(es.pods) for es in svc.slices)
        if self.rng.random() < 0.5:
            add = self.rng.randint(1, max(1, size // 2))
            touched: list[Slice] = []
            created: list[Slice] = []
            while add:
                if not svc.slices or len(svc.slices[-1].pods) >= SLICE_SIZE:
                    svc.slices.append(Slice(f"{svc.name}-{self.c.suffix()}", []))
                    created.append(svc.slices[-1])
                es = svc.slices[-1]
                take = min(add, SLICE_SIZE - len(es.pods))
                es.pods.extend(self.c.new_pod(svc) for _ in range(take))
                add -= take
                if es not in touched:
                    touched.append(es)
            hinted = self.c.hinted(svc)
            for es in touched:
                kind = "ADDED" if any(es is new for new in created) else "MODIFIED"
                self.emit(_watch(kind, self.c.slice_object(svc, es, hinted)))
                self.endpoint_writes += len(es.pods)
            return
        remove = min(self.rng.randint(1, max(1, size // 3)), size - 1)
        touched = []
        while remove:
            es = svc.slices[-1]
            take = min(remove, len(es.pods))
            del es.pods[len(es.pods) - take :]
            remove -= take
            if es.pods:
                touched.append(es)
            else:
                svc.slices.pop()
                self.emit(_watch("DELETED", self.c.slice_object(svc, es, False)))
        self.write_slices(svc, touched)

    def drain(self, node: Node) -> None:
        """Cordon ``node``; its pods terminate and are re-created elsewhere in its zone."""
        node.unschedulable = True
        self.emit(_watch("MODIFIED", self.c.node_object(node)))
        for svc in self.c.services:
            touched = [es for es in svc.slices if any(p.node is node for p in es.pods)]
            if not touched:
                continue
            for es in touched:
                for p in es.pods:
                    if p.node is node:
                        p.terminating = True
            self.write_slices(svc, touched)
            for es in touched:
                es.pods = [self.c.new_pod(svc, node.zone) if p.node is node else p for p in es.pods]
            self.write_slices(svc, touched)
        node.unschedulable = False
        self.emit(_watch("MODIFIED", self.c.node_object(node)))

    def zone_outage(self, zone: str) -> None:
        """Every node of ``zone`` goes NotReady, its pods not ready, hints drop; then all recovers."""
        for up in (False, True):
            for node in self.c.nodes:
                if node.zone == zone:
                    node.ready = up
                    self.emit(_watch("MODIFIED", self.c.node_object(node)))
            for svc in self.c.services:
                in_zone = [es for es in svc.slices if any(p.node.zone == zone for p in es.pods)]
                if not in_zone:
                    continue
                was_hinted = svc.kind == HINTED and svc.hints_on
                for es in in_zone:
                    for p in es.pods:
                        if p.node.zone == zone:
                            p.ready = up
                # A hint change rewrites every slice of the service.
                self.write_slices(svc, svc.slices if was_hinted else in_zone)

    def toggle_hints(self, svc: Service) -> None:
        """Topology hints turned off on the Service, slices rewritten without them; then back on."""
        for on in (False, True):
            svc.hints_on = on
            self.emit(_watch("MODIFIED", self.c.service_object(svc)))
            self.write_slices(svc, svc.slices)

    def run(self) -> None:
        c, rng, scale = self.c, self.rng, self.c.scale
        by_size = sorted(c.services, key=lambda s: -sum(len(es.pods) for es in s.slices))
        # The largest service rolls out, plus others drawn with a bias to size.
        rollouts = [by_size[0]] + rng.sample(by_size[1 : len(by_size) // 4], scale.rollouts - 1)
        hinted = [s for s in c.services if s.kind == HINTED]
        steps: list[Callable[[], None]] = []
        steps += [lambda s=s: self.rollout(s) for s in rollouts]
        steps += [lambda s=s: self.scale(s) for s in rng.sample(c.services, scale.scalings)]
        steps += [lambda n=n: self.drain(n) for n in rng.sample(c.nodes, scale.drains)]
        steps += [lambda s=s: self.toggle_hints(s) for s in rng.sample(hinted, scale.hint_toggles)]
        rng.shuffle(steps)
        # The outage lands in the middle of the churn.
        steps.insert(len(steps) // 2, lambda: self.zone_outage(rng.choice(c.zones)))
        for step in steps:
            step()


# ---------------------------------------------------------------------------
# Output


@attrs.define
class Dataset:
    """Paths and counts of a generated data set."""

    root: Path
    counts: Counts
    initial_events: int  # events the initial objects became (the log's first seqs)

    @property
    def initial(self) -> Path:
        return self.root / "initial.jsonl"

    @property
    def churn(self) -> Path:
        return self.root / "churn.jsonl"

    @property
    def log(self) -> Path:
        return self.root / "log"


def generate(out: Path, scale_name: str = "full", seed: int = 1) -> Dataset:
    """Write the watch streams, the event log and a summary under ``out``."""
    from engine import kernels, kube
    from engine.log import EventLog
    from engine.records import RecordCodec

    scale = SCALES[scale_name]
    out.mkdir(parents=True, exist_ok=True)
    counts = Counts()
    codec = RecordCodec(kernels.StringTable())
    with EventLog.open(out / "log", create=True, write=True, sync=False) as log:
        batch: list[list] = []

        def write(stream, watch_event: dict) -> None:
            stream.write(json.dumps(watch_event, separators=(",", ":")))
            stream.write("\n")
            event = kube.object_to_event(
                watch_event["object"], "delete" if watch_event["type"] == "DELETED" else "upsert", "generated"
            )
            batch.append(codec.to_log(event)[1])
            if len(batch) >= 2000:
                log.append(batch)
                batch.clear()

        with open(out / "initial.jsonl", "w") as stream:
            cluster = build(scale, seed, lambda e: write(stream, e))
        if batch:
            log.append(batch)
            batch.clear()
        initial_events = log.last_seq
        counts.initial_endpoints = sum(len(es.pods) for svc in cluster.services for es in svc.slices)
        with open(out / "churn.jsonl", "w") as stream:
            churn = Churn(cluster, lambda e: write(stream, e))
            churn.run()
        if batch:
            log.append(batch)
        counts.initial_objects = initial_events
        counts.churn_objects = log.last_seq - initial_events
    counts.nodes = len(cluster.nodes)
    counts.zones = len(cluster.zones)
    counts.services = len(cluster.services)
    counts.slices = sum(len(s.slices) for s in cluster.services)
    sizes = [sum(len(es.pods) for es in s.slices) for s in cluster.services]
    counts.endpoints = sum(sizes)
    counts.largest_service = max(sizes)
    counts.churn_endpoint_writes = churn.endpoint_writes
    summary = {"scale": scale_name, "seed": seed, "initial_events": initial_events, **attrs.asdict(counts)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return Dataset(out, counts, initial_events)


def load(out: Path) -> Dataset:
    """A data set ``generate`` wrote earlier."""
    summary = json.loads((out / "summary.json").read_text())
    fields = {f.name for f in attrs.fields(Counts)}
    return Dataset(out, Counts(**{k: v for k, v in summary.items() if k in fields}), summary["initial_events"])


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.generate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    data = generate(args.out, args.scale, args.seed)
    print(json.dumps(attrs.asdict(data.counts), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
