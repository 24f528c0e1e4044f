"""memory: bytes per endpoint of the folded state, as RSS and as traced Python allocations.

Each measurement runs in a fresh interpreter (``python -m benchmarks.suite_memory
--child MODE LOG SEQ``) so nothing else the runner holds is counted: the
engine opens the log at the end of the initial cluster (no churn garbage)
and reports what it holds.  The ``queried`` mode then also asks
``Engine.endpoints`` for each service's first port from a node of each
zone, so that what answering builds and caches is counted too: the whole
engine as a destination controller would hold it.  The peer is the same
events kept as plain decoded msgpack records, the least any Python holder
of this data pays.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Optional

from . import Context, result
from .generate import ZONE_LABEL

SUITE = "memory"
MODES = ("rss", "queried", "tracemalloc", "records")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def child(mode: str, log_dir: Path, seq: int, questions_path: Optional[Path]) -> dict:
    from engine.api import Engine
    from engine.log import EventLog

    questions = json.loads(questions_path.read_text()) if questions_path else []
    gc.collect()
    if mode == "tracemalloc":
        tracemalloc.start()
    before = rss_bytes()
    if mode == "records":
        with EventLog.open(log_dir) as log:
            held = [record for _, _, record in log.read(1, seq)]
    else:
        held = Engine.open(log_dir, at=seq, use_snapshot=False)
        held.close()
        for service, port, node in questions:
            held.endpoints(service, port, node=node)
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0] if mode == "tracemalloc" else 0
    return {"rss": rss_bytes() - before, "traced": traced}


def questions(initial: Path) -> list[tuple[str, int, str]]:
    """(service, first port, node) for every Service of the initial objects and one node of each zone."""
    node_of_zone: dict[str, str] = {}
    first_ports = []
    with open(initial) as stream:
        for line in stream:
            obj = json.loads(line)["object"]
            meta = obj["metadata"]
            if obj["kind"] == "Node":
                node_of_zone.setdefault(meta["labels"][ZONE_LABEL], meta["name"])
            elif obj["kind"] == "Service":
                first_ports.append((f"{meta['namespace']}/{meta['name']}", obj["spec"]["ports"][0]["port"]))
    return [(service, port, node) for service, port in first_ports for node in node_of_zone.values()]


def measure(mode: str, log_dir: Path, seq: int, questions_path: Optional[Path] = None) -> dict:
    command = [sys.executable, "-m", "benchmarks.suite_memory", "--child", mode, str(log_dir), str(seq)]
    if questions_path:
        command += ["--questions", str(questions_path)]
    out = subprocess.run(
        command, capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent
    )
    return json.loads(out.stdout)


def run(ctx: Context) -> list[dict]:
    data = ctx.dataset()
    asked = questions(data.initial)
    questions_path = ctx.scratch("memory") / "questions.json"
    questions_path.write_text(json.dumps(asked))
    found = {}
    for mode in MODES:
        ctx.progress(f"memory: {mode}", 0, 1)
        found[mode] = measure(mode, data.log, data.initial_events, questions_path if mode == "queried" else None)
        ctx.progress(f"memory: {mode}", 1, 1)
    n = data.counts.initial_endpoints
    return [
        result(SUITE, "RSS per endpoint", found["rss"]["rss"] / n, "bytes", "<= 250", higher_is_better=False),
        result(
            SUITE,
            f"RSS per endpoint after replay and {len(asked):,} queries (each service from each zone)",
            found["queried"]["rss"] / n,
            "bytes",
            "<= 400, goal <= 250",
            higher_is_better=False,
        ),
        result(
            SUITE,
            "tracemalloc per endpoint",
            found["tracemalloc"]["traced"] / n,
            "bytes",
            "<= 250",
            higher_is_better=False,
        ),
        result(
            SUITE,
            "peer: decoded log records, RSS per endpoint",
            found["records"]["rss"] / n,
            "bytes",
            higher_is_better=False,
        ),
        result(SUITE, "endpoints held", n, "endpoints"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", choices=MODES, required=True)
    parser.add_argument("log", type=Path)
    parser.add_argument("seq", type=int)
    parser.add_argument("--questions", type=Path, help="JSON list of [service, port, node] to ask after opening")
    args = parser.parse_args()
    print(json.dumps(child(args.child, args.log, args.seq, args.questions)))


if __name__ == "__main__":
    main()
