"""``topology-engine demo``: the main job on the bundled demo cluster.

It writes the bundled cluster and its recorded changes (package data:
engine/demo_data/cluster.json and changes.jsonl, read with
importlib.resources) to a log as a watch would have recorded them: the
cluster first, then each change in its own batch at the time
demo_data/times.json gives (seconds after the cluster; the log ends now).
It shows per service port what a client in each zone gets and why,
replays the changes showing, update by update, what the clients of
``shop/web`` received, and ends with the command that writes the report.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import IO, TYPE_CHECKING, Optional

from . import kernels, kube, render
from .api import Engine
from .errors import EngineError
from .events import Event
from .log import EventLog
from .policies import rule_text
from .records import RecordCodec
from .subscribe import Update

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:
        from importlib.abc import Traversable

WATCHED = "shop/web"


def demo_data() -> Traversable:
    """The demo cluster's files, wherever the package was installed (or zipped)."""
    return resources.files("engine") / "demo_data"


def _client_nodes(engine: Engine) -> list[tuple[str, str]]:
    """One worker node per zone, (node, zone), in zone order."""
    chosen: dict[str, str] = {}
    for node in sorted(engine.state.nodes.values(), key=lambda n: n.name):
        if node.zone and not node.control_plane and node.zone not in chosen:
            chosen[node.zone] = node.name
    return [(name, zone) for zone, name in sorted(chosen.items())]


def _selection_rows(engine: Engine, clients: list[tuple[str, str]]) -> list[tuple]:
    rows = []
    for key in sorted(engine.state.services):
        for spec in engine.state.services[key].ports:
            for node, zone in clients:
                sel = engine.endpoints(key, spec.port, node=node)
                picked = " ".join(e.address for e in sel.endpoints) or "(none)"
                rows.append(
                    (
                        f"{key}:{spec.port}",
                        f"{node} ({zone})",
                        f"{len(sel.endpoints)}/{sel.candidates}",
                        picked,
                        sel.rule,
                    )
                )
    return rows


def run_demo(out: IO[str], keep: Optional[str] = None) -> None:
    data = demo_data()
    cluster, changes, times = data / "cluster.json", data / "changes.jsonl", data / "times.json"
    with tempfile.TemporaryDirectory(prefix="topology-engine-demo-") as scratch:
        log_dir = Path(keep) if keep else Path(scratch) / "log"
        if keep and log_dir.exists() and any(log_dir.iterdir()):
            raise EngineError(f"{log_dir}: already exists and is not empty; give a new directory to --keep")
        cluster_events = _read(cluster)
        change_events = _read(changes)
        offsets = json.loads(times.read_text(encoding="utf-8"))["changes"]
        if len(offsets) != len(change_events):
            raise EngineError(f"{times}: {len(offsets)} times for {len(change_events)} changes")
        start = time.time() - max(offsets, default=0)
        codec = RecordCodec(kernels.StringTable())  # the log's string table, grown record by record
        with EventLog.open(log_dir, create=True, write=True, sync=False) as log:
            log.append([codec.to_log(e)[1] for e in cluster_events], time=start)
            for event, offset in zip(change_events, offsets):
                log.append([codec.to_log(event)[1]], time=start + offset)
        with Engine.open(log_dir, at=len(cluster_events)) as engine:
            _show(engine, cluster, changes, out)
            first_node = _client_nodes(engine)[0][0]
        _print_next_steps(log_dir if keep else None, first_node, out)


def _read(path: Traversable) -> list[Event]:
    with path.open(encoding="utf-8") as stream:
        return list(kube.iter_events(stream, path.name, kube.ReadStats()))


def _show(engine: Engine, cluster: Traversable, changes: Traversable, out: IO[str]) -> None:
    state = engine.state
    clients = _client_nodes(engine)
    out.write(
        f"topology-engine demo: {len(state.zones())} zones, {len(state.nodes)} nodes, "
        f"{len(state.services)} services, {state.endpoint_count()} endpoints "
        f"({engine.seq} events from {cluster.name})\n\n"
    )
    out.write("What does a client on each node get? (policy linkerd; GOT = chosen/candidates)\n")
    headers = ("SERVICE", "CLIENT NODE", "GOT", "ENDPOINTS", "RULE")
    render.table(headers, _selection_rows(engine, clients), out)
    out.write("\nRules:\n")
    for rule in sorted({row[4] for row in _selection_rows(engine, clients)}):
        out.write(f"  {rule}: {rule_text('linkerd', rule)}\n")

    out.write(
        f"\nEach client of {WATCHED}:80 subscribes (the first Add), then {changes.name} is replayed\n"
        f"(a rolling update of web, then zone-c losing its web pods); the updates they receive:\n"
    )

    def show(update: Update) -> None:
        addresses = " ".join(e.address for e in update.endpoints)
        out.write(f"  seq {update.seq:>3}  {update.watch.node:8} {update.op:6} {addresses}\n")

    for node, _ in clients:
        engine.subscribe(WATCHED, 80, node=node, on_update=show)
    applied = engine.replay()
    out.write(f"\nAfter {sum(applied.values())} changes (seq {engine.seq}):\n")
    final = [row for row in _selection_rows(engine, clients) if row[0] == f"{WATCHED}:80"]
    render.table(headers, final, out)


def _print_next_steps(kept: Optional[Path], node: str, out: IO[str]) -> None:
    if kept is None:
        out.write(
            "\nThe report of this demo (one HTML page: the cluster at a glance, each service's traffic "
            "and its timeline):\n  topology-engine demo --keep demo-log && "
            "topology-engine report demo-log -o demo-report.html\n"
        )
        return
    out.write(
        f"\nThe log is kept in {kept}: try `topology-engine endpoints {kept} {WATCHED}:80 "
        f"--node {node} --at 20`\n"
        f"The report of this demo (one HTML page: the cluster at a glance, each service's traffic "
        f"and its timeline):\n  topology-engine report {kept} -o demo-report.html\n"
    )
