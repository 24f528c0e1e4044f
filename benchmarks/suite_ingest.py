"""ingest: kubectl JSON to the event log.

* The generated cluster's watch streams (initial state, then churn): read,
  validate, turn into events, append to a fresh log (fsync per batch, the
  CLI's default) and fold.  Peer: only parsing the same JSON lines.
* A watch stream of large slices (60 services, 600 slices of 100 endpoints
  with two ports, three rounds of rewrites): ``topology-engine ingest LOG
  FILE --no-sync`` end to end, and reading it into events alone.  Peers in
  the same run: ``json.loads`` of the same lines, and msgspec's typed decode
  of them (the floor of the reading).
* One 100-endpoint slice dict through ``kube.read_objects`` to its event, in
  microseconds, with its parts: msgspec's typed conversion, the endpoint
  columns built from it (``kernels.columns_from_endpoints``); the API rules
  are the rest.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import random
import time
from pathlib import Path

import msgspec

from engine import kernels, kube
from engine.api import Engine
from engine.cli import main as cli
from engine.kube import schema
from engine.kube.convert import slice_parts

from . import Context, result, timed, timed_cpu

SUITE = "ingest"


def run(ctx: Context) -> list[dict]:
    data = ctx.dataset()
    sources = (data.initial, data.churn)
    objects = data.counts.initial_objects + data.counts.churn_objects

    def parse_only() -> int:
        n = 0
        for path in sources:
            with open(path) as stream:
                for line in stream:
                    json.loads(line)
                    n += 1
        return n

    ctx.progress("ingest: JSON parse only", 0, 1)
    parse_seconds, parsed = timed(parse_only)
    ctx.progress("ingest: JSON parse only", 1, 1)

    def ingest() -> int:
        files = [open(path) for path in sources]
        try:
            with Engine.open(ctx.scratch("ingest") / "log", create=True, write=True) as engine:
                report = engine.ingest_streams([(str(path), f) for path, f in zip(sources, files)])
        finally:
            for f in files:
                f.close()
        return report.appended

    ctx.progress("ingest: kubectl JSON -> log", 0, 1)
    seconds, appended = timed(ingest)
    ctx.progress("ingest: kubectl JSON -> log", 1, 1)
    if appended != objects or parsed != objects:
        raise AssertionError(f"ingest appended {appended} and parsed {parsed} of {objects} objects")
    endpoints = data.counts.initial_endpoints + data.counts.churn_endpoint_writes
    engine_rate = objects / seconds
    parse_rate = objects / parse_seconds
    return [
        result(SUITE, "kubectl JSON -> log (validate, append, fold)", engine_rate, "objects/s"),
        result(SUITE, "kubectl JSON -> log, endpoints in slices", endpoints / seconds, "endpoints/s"),
        result(SUITE, "peer: json.loads of the same lines", parse_rate, "objects/s"),
        result(SUITE, "ingest / JSON parse", 100 * engine_rate / parse_rate, "%"),
        result(SUITE, "kubectl JSON -> log, total", seconds, "s", higher_is_better=False),
        *watch_stream(ctx),
        *one_slice(ctx),
    ]


ZONES = ("zone-a", "zone-b", "zone-c")


def _slice(service: int, index: int, round_: int, endpoints: int, nodes: int, rng: random.Random) -> dict:
    eps = []
    for i in range(endpoints):
        n = rng.randrange(nodes)
        eps.append(
            {
                "addresses": [f"10.{service % 200 + 1}.{index * 20 + i // 200 + round_}.{i % 200 + 1}"],
                "conditions": {"ready": True, "serving": True, "terminating": False},
                "nodeName": f"node-{n}",
                "zone": ZONES[n % 3],
                "targetRef": {"kind": "Pod", "namespace": "shop", "name": f"svc-{service}-{index}-{i}-r{round_}"},
                "hints": {"forZones": [{"name": ZONES[n % 3]}]},
            }
        )
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"svc-{service}-{index:05d}",
            "namespace": "shop",
            "labels": {
                "kubernetes.io/service-name": f"svc-{service}",
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
            },
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "grpc", "port": 9090, "protocol": "TCP"}],
        "endpoints": eps,
    }


def write_watch_stream(
    path: Path, services: int, slices_per_service: int, endpoints: int, rounds: int, nodes: int = 90, seed: int = 1
) -> int:
    """A kubectl watch stream (one event per line): nodes, services with two
    ports, then ``rounds`` rewrites of every slice.  Returns its line count."""
    rng = random.Random(seed)
    lines = []
    for n in range(nodes):
        lines.append(
            {
                "type": "ADDED",
                "object": {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {"name": f"node-{n}", "labels": {"topology.kubernetes.io/zone": ZONES[n % 3]}},
                    "status": {"allocatable": {"cpu": "8"}, "conditions": [{"type": "Ready", "status": "True"}]},
                },
            }
        )
    for s in range(services):
        lines.append(
            {
                "type": "ADDED",
                "object": {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {
                        "name": f"svc-{s}",
                        "namespace": "shop",
                        "annotations": {"service.kubernetes.io/topology-mode": "Auto"},
                    },
                    "spec": {
                        "type": "ClusterIP",
                        "internalTrafficPolicy": "Cluster",
                        "ports": [
                            {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
                            {"name": "grpc", "port": 9090, "targetPort": 9090, "protocol": "TCP"},
                        ],
                    },
                },
            }
        )
    for r in range(rounds):
        for s in range(services):
            for k in range(slices_per_service):
                lines.append(
                    {"type": "ADDED" if r == 0 else "MODIFIED", "object": _slice(s, k, r, endpoints, nodes, rng)}
                )
    with open(path, "w") as out:
        for line in lines:
            out.write(json.dumps(line, separators=(",", ":")) + "\n")
    return len(lines)


def watch_stream(ctx: Context) -> list[dict]:
    """``ingest LOG FILE --no-sync`` of a stream of large slices, next to json.loads of its lines."""
    services, rounds = (6, 1) if ctx.quick else (60, 3)
    scratch = ctx.scratch("ingest-watch")
    stream = scratch / "watch.jsonl"
    lines = write_watch_stream(stream, services, 10, 100, rounds)
    label = f"ingest: watch stream ({services} services, {services * 10} slices x 100 endpoints, {rounds} rounds)"
    data = stream.read_bytes().splitlines()

    def parse() -> int:
        for line in data:
            json.loads(line)
        return len(data)

    decoder = msgspec.json.Decoder(schema.WatchEvent)

    def decode() -> int:
        for line in data:
            decoder.decode(line)
        return len(data)

    def read() -> int:
        # With the cyclic collector paused, as ingest reads.
        gc.disable()
        try:
            with open(stream, "rb") as f:
                return sum(1 for _ in kube.iter_events(f, str(stream), kube.ReadStats()))
        finally:
            gc.enable()

    def ingest() -> int:
        log = scratch / f"log-{time.monotonic_ns()}"
        with contextlib.redirect_stdout(io.StringIO()):
            return cli(["ingest", str(log), str(stream), "--no-sync"])

    # CPU time: every step is single-threaded (files are read without the
    # live reader thread, and --no-sync does no fsync), and the machine may
    # be shared; the steps alternate over a few rounds and each keeps its best.
    steps = {"parse": parse, "decode": decode, "read": read, "ingest": ingest}
    best = dict.fromkeys(steps, float("inf"))
    outcome = {}
    repeats = 1 if ctx.quick else 3
    for repeat in range(repeats):
        for number, (key, step) in enumerate(steps.items()):
            ctx.progress(label, repeat * len(steps) + number, repeats * len(steps))
            seconds, outcome[key] = timed_cpu(step)
            best[key] = min(best[key], seconds)
    ctx.progress(label, repeats * len(steps), repeats * len(steps))
    parse_s, decode_s, read_s, ingest_s = best["parse"], best["decode"], best["read"], best["ingest"]
    parsed, events, code = outcome["parse"], outcome["read"], outcome["ingest"]
    if code != 0 or events != lines or parsed != lines:
        raise AssertionError(f"{label}: ingest exit {code}, {events} events and {parsed} parsed of {lines} lines")
    return [
        result(SUITE, "watch stream: ingest LOG FILE --no-sync, CPU time", ingest_s, "s", higher_is_better=False),
        result(
            SUITE, "watch stream: peer json.loads of the same lines, CPU time", parse_s, "s", higher_is_better=False
        ),
        result(
            SUITE,
            "watch stream: ingest --no-sync vs json.loads (json.loads time / ingest time)",
            parse_s / ingest_s,
            "x",
            ">= 0.5",
        ),
        result(SUITE, "watch stream: reading into events (kube.iter_events) vs json.loads", parse_s / read_s, "x"),
        result(SUITE, "watch stream: msgspec typed decode alone vs json.loads", parse_s / decode_s, "x"),
    ]


def one_slice(ctx: Context) -> list[dict]:
    """One 100-endpoint slice dict to its validated columns and to its event, and the parts.

    Timed in CPU time of this process (the machine is shared; wall time
    would count the waits), the parts in alternation so that a change of
    load hits all of them alike, each the best of its rounds, and with the
    cyclic collector paused, as ``Engine.ingest`` pauses it while reading
    (left on, its passes land at random in the numbers)."""
    obj = _slice(0, 0, 0, 100, 90, random.Random(1))
    rounds, calls = (3, 10) if ctx.quick else (30, 50)
    api_version = obj["apiVersion"]
    typed = msgspec.convert(obj, schema.EndpointSlice)
    timed_parts = {
        "validated": lambda: slice_parts(msgspec.convert(obj, schema.EndpointSlice), api_version, "bench"),
        "conversion": lambda: msgspec.convert(obj, schema.EndpointSlice),
        "columns": lambda: kernels.columns_from_endpoints(typed.endpoints),
        "total": lambda: list(kube.read_objects(obj, "bench", kube.ReadStats())),
    }
    best = dict.fromkeys(timed_parts, float("inf"))
    gc.collect()
    gc.disable()
    try:
        for _ in range(rounds):
            for key, fn in timed_parts.items():
                start = time.process_time()
                for _ in range(calls):
                    fn()
                best[key] = min(best[key], (time.process_time() - start) / calls * 1e6)
    finally:
        gc.enable()
    name = "one 100-endpoint slice dict"
    return [
        result(
            SUITE,
            f"{name}: to validated columns (msgspec conversion, columns, API rules)",
            best["validated"],
            "us",
            "<= 100",
            higher_is_better=False,
        ),
        result(SUITE, f"{name}: of which msgspec typed conversion", best["conversion"], "us", higher_is_better=False),
        result(SUITE, f"{name}: of which endpoint columns (compiled)", best["columns"], "us", higher_is_better=False),
        result(
            SUITE,
            f"{name}: of which API rules (the rest)",
            max(best["validated"] - best["conversion"] - best["columns"], 0.0),
            "us",
            higher_is_better=False,
        ),
        result(
            SUITE, f"{name}: through kube.read_objects to its event, total", best["total"], "us", higher_is_better=False
        ),
    ]
