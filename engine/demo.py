"""``topology-engine demo``: the main job on the bundled demo cluster.

It ingests fixtures/demo/cluster.json into a log, shows per service port
what a client in each zone gets and why, then ingests the recorded changes
(fixtures/demo/changes.jsonl) and shows, update by update, what the clients
of ``shop/web`` received.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import IO, Optional

from . import render
from .api import Engine
from .errors import EngineError
from .policies import rule_text
from .subscribe import Update

DEMO_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "demo"
WATCHED = "shop/web"


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
                rows.append((f"{key}:{spec.port}", f"{node} ({zone})",
                             f"{len(sel.endpoints)}/{sel.candidates}", picked, sel.rule))
    return rows


def run_demo(out: IO[str], keep: Optional[str] = None) -> None:
    cluster, changes = DEMO_DIR / "cluster.json", DEMO_DIR / "changes.jsonl"
    if not cluster.exists():
        raise EngineError(f"demo data not found at {DEMO_DIR}: run the demo from a source checkout")
    with tempfile.TemporaryDirectory(prefix="topology-engine-demo-") as scratch:
        log_dir = Path(keep) if keep else Path(scratch) / "log"
        if keep and log_dir.exists() and any(log_dir.iterdir()):
            raise EngineError(f"{log_dir}: already exists and is not empty; give a new directory to --keep")
        with Engine.open(log_dir, create=True, write=True, sync=False) as engine:
            _show(engine, cluster, changes, log_dir if keep else None, out)


def _show(engine: Engine, cluster: Path, changes: Path, kept: Optional[Path], out: IO[str]) -> None:
    with cluster.open(encoding="utf-8") as stream:
        engine.ingest_streams([(cluster.name, stream)])
    state = engine.state
    clients = _client_nodes(engine)
    out.write(f"topology-engine demo: {len(state.zones())} zones, {len(state.nodes)} nodes, "
              f"{len(state.services)} services, {state.endpoint_count()} endpoints "
              f"({engine.seq} events from {cluster.name})\n\n")
    out.write("What does a client on each node get? (policy linkerd; GOT = chosen/candidates)\n")
    headers = ("SERVICE", "CLIENT NODE", "GOT", "ENDPOINTS", "RULE")
    render.table(headers, _selection_rows(engine, clients), out)
    out.write("\nRules:\n")
    for rule in sorted({row[4] for row in _selection_rows(engine, clients)}):
        out.write(f"  {rule}: {rule_text('linkerd', rule)}\n")

    out.write(f"\nEach client of {WATCHED}:80 subscribes (the first Add), then {changes.name} is replayed\n"
              f"(a rolling update of web, then zone-c losing its web pods); the updates they receive:\n")

    def show(update: Update) -> None:
        addresses = " ".join(e.address for e in update.endpoints)
        out.write(f"  seq {update.seq:>3}  {update.watch.node:8} {update.op:6} {addresses}\n")

    for node, _ in clients:
        engine.subscribe(WATCHED, 80, node=node, on_update=show)
    with changes.open(encoding="utf-8") as stream:
        report = engine.ingest_streams([(changes.name, stream)])
    out.write(f"\nAfter {report.appended} changes (seq {engine.seq}):\n")
    final = [row for row in _selection_rows(engine, clients) if row[0] == f"{WATCHED}:80"]
    render.table(headers, final, out)
    if kept is not None:
        out.write(f"\nThe log is kept in {kept}: try `topology-engine endpoints {kept} {WATCHED}:80 "
                  f"--node {clients[0][0]} --at 20`\n")
