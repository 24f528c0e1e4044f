"""update: one slice rewrite with a subscriber per zone, against a Go model of Linkerd.

A topology-hinted service of 1,000 / 10,000 / 100,000 endpoints (slices of
100, over nodes in 3 zones) has one subscriber per zone (a client on a node
of that zone).  The same slice is then rewritten again and again with one
pod replaced each time, as a rollout does, and each rewrite is timed from
``Engine.ingest`` of the kubectl slice object (validated, turned into an
event, folded) until it returns with every callback run.  The callbacks are
checked: the old pod's zone is sent a remove of its address, the new pod's
zone an add of the new one, and nothing else.

The peer is ``golinkerd/`` (Go, standard library only), which stands for the
per-update work of Linkerd's destination controller: it reads the same
slices and rewrites from a file this suite writes and does, per rewrite,
what a port publisher and its filtered listener groups do (see its
``main.go``).  It runs when ``go`` is on PATH and is skipped with a note
otherwise.  Medians over the repeated rewrites (100, or fewer where they
are slow: at least 20, then as many as fit in 10 seconds), the same ones
for both.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import time
from pathlib import Path

from engine.api import Engine

from . import Context, result, say, workloads
from .generate import HINTED

SUITE = "update"
GO_MODEL = Path(__file__).resolve().parent / "golinkerd"
MIN_REWRITES = 20
REWRITE_BUDGET = 10.0  # seconds of rewrites per size, once MIN_REWRITES are done


class Recorder:
    """A subscriber's callback: what it was sent, per rewrite."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, frozenset[str]]] = []

    def __call__(self, update) -> None:
        self.sent.append((update.op, frozenset(e.address for e in update.endpoints)))


def expected_calls(old, new, zone: str) -> list[tuple[str, frozenset[str]]]:
    """What the subscriber in ``zone`` must be sent when pod ``old`` is replaced by ``new``
    (every endpoint hinted for its own zone: each zone sees only its own pods)."""
    calls = []
    if old.node.zone == zone:
        calls.append(("remove", frozenset([old.ip])))
    if new.node.zone == zone:
        calls.append(("add", frozenset([new.ip])))
    return calls


def engine_rewrites(endpoints: int, rewrites: int, seed: int, go_input: Path) -> tuple[list[float], list[int]]:
    """Seconds of each rewrite and callbacks made by each; writes the same cluster and
    the rewrites timed for the Go model.  At least ``MIN_REWRITES``, then up to
    ``rewrites`` while inside ``REWRITE_BUDGET`` seconds."""
    objects: list[dict] = []
    cluster = workloads.services(1, endpoints, max(30, endpoints // 100), seed, objects.append, kind=HINTED)
    initial = [o for o in objects if o["kind"] == "EndpointSlice"]
    svc = cluster.services[0]
    es = svc.slices[0]
    engine = Engine()
    engine.ingest(objects)
    client_of = {}
    for node in cluster.nodes:
        client_of.setdefault(node.zone, node.name)
    recorders = {zone: Recorder() for zone in cluster.zones}
    for zone, recorder in recorders.items():
        engine.subscribe(f"{svc.namespace}/{svc.name}", workloads.PORT, node=client_of[zone], on_update=recorder)
        recorder.sent.clear()  # the initial add
    seconds, calls, timed_rewrites = [], [], []
    budget = time.perf_counter() + REWRITE_BUDGET
    for n in range(rewrites):
        if n >= MIN_REWRITES and time.perf_counter() > budget:
            break
        old = es.pods[n % len(es.pods)]
        obj = workloads.pod_replaced(cluster, svc, es, n)
        new = es.pods[n % len(es.pods)]
        start = time.perf_counter()
        engine.ingest([obj])
        seconds.append(time.perf_counter() - start)
        timed_rewrites.append(obj)
        made = 0
        for zone, recorder in recorders.items():
            expected = expected_calls(old, new, zone)
            if sorted(recorder.sent) != sorted(expected):
                raise AssertionError(f"subscriber in {zone} was sent {recorder.sent}, expected {expected}")
            made += len(recorder.sent)
            recorder.sent.clear()
        calls.append(made)
    go_input.write_text(
        json.dumps({"portName": "http", "zones": list(recorders), "slices": initial, "updates": timed_rewrites})
    )
    return seconds, calls


def go_model(scratch: Path) -> Path | None:
    """The Go model built into ``scratch``, or None when ``go`` is not on PATH."""
    go = shutil.which("go")
    if go is None:
        return None
    binary = scratch / "golinkerd"
    subprocess.run([go, "build", "-o", str(binary), "."], cwd=GO_MODEL, check=True, capture_output=True)
    return binary


def run(ctx: Context) -> list[dict]:
    sizes, rewrites = ((300, 1_000), 10) if ctx.quick else ((1_000, 10_000, 100_000), 100)
    scratch = ctx.scratch("update")
    binary = go_model(scratch)
    if binary is None:
        say("update: `go` is not on PATH: the Go model of Linkerd is skipped (apt-get install golang-go)")
    out = []
    medians = {}
    for size in sizes:
        label = f"update: {size:,} endpoints"
        ctx.progress(label, 0, 1)
        go_input = scratch / f"cluster-{size}.json"
        seconds, calls = engine_rewrites(size, rewrites, ctx.seed, go_input)
        medians[size] = statistics.median(seconds)
        out.append(
            result(
                SUITE,
                f"engine, one 100-endpoint slice rewrite, {size:,} endpoints, 3 subscribers",
                medians[size] * 1e3,
                "ms",
                higher_is_better=False,
            )
        )
        if binary is not None:
            run_go = subprocess.run([str(binary), str(go_input)], capture_output=True, text=True, check=True)
            go = json.loads(run_go.stdout)
            if go["callbacks"] != calls or go["endpoints"] != size:
                raise AssertionError(
                    f"the Go model made callbacks {go['callbacks']} over {go['endpoints']} "
                    f"endpoints, the engine {calls} over {size}"
                )
            out.append(
                result(
                    SUITE,
                    f"peer: Go model of Linkerd, same rewrite, {size:,} endpoints",
                    go["median_ms"],
                    "ms",
                    higher_is_better=False,
                )
            )
            out.append(
                result(
                    SUITE,
                    f"Go model / engine, {size:,} endpoints",
                    go["median_ms"] / (medians[size] * 1e3),
                    "x",
                    ">= 2, goal >= 10",
                )
            )
        ctx.progress(label, 1, 1)
    small, big = sizes[0], sizes[-1]
    out.append(
        result(
            SUITE,
            f"engine, {big:,} / {small:,} endpoints",
            medians[big] / medians[small],
            "x",
            "<= 2, goal <= 1.2",
            higher_is_better=False,
        )
    )
    return out
