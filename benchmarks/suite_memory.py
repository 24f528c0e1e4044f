"""memory: bytes per endpoint of the folded state, as RSS and as traced Python allocations.

Each measurement runs in a fresh interpreter (``python -m benchmarks.suite_memory
--child MODE LOG SEQ``) so nothing else the runner holds is counted: the
engine opens the log at the end of the initial cluster (no churn garbage)
and reports what it holds.  The peer is the same events kept as plain decoded
msgpack records, the least any Python holder of this data pays.
"""
from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

from . import Context, result

SUITE = "memory"
MODES = ("rss", "tracemalloc", "records")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def child(mode: str, log_dir: Path, seq: int) -> dict:
    from engine.api import Engine
    from engine.log import EventLog

    gc.collect()
    if mode == "tracemalloc":
        tracemalloc.start()
    before = rss_bytes()
    if mode == "records":
        with EventLog.open(log_dir) as log:
            held = [record for _, _, record in log.read(1, seq)]
        endpoints = sum(len(r[6]) for r in held if r[0] == 5)
    else:
        held = Engine.open(log_dir, at=seq, use_snapshot=False)
        held.close()
        endpoints = held.state.endpoint_count()
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0] if mode == "tracemalloc" else 0
    return {"rss": rss_bytes() - before, "traced": traced, "endpoints": endpoints}


def measure(mode: str, log_dir: Path, seq: int) -> dict:
    out = subprocess.run([sys.executable, "-m", "benchmarks.suite_memory", "--child", mode, str(log_dir), str(seq)],
                         capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent)
    return json.loads(out.stdout)


def run(ctx: Context) -> list[dict]:
    data = ctx.dataset()
    found = {}
    for mode in MODES:
        ctx.progress(f"memory: {mode}", 0, 1)
        found[mode] = measure(mode, data.log, data.initial_events)
        ctx.progress(f"memory: {mode}", 1, 1)
    n = found["rss"]["endpoints"]
    return [
        result(SUITE, "RSS per endpoint", found["rss"]["rss"] / n, "bytes", "<= 250", higher_is_better=False),
        result(SUITE, "tracemalloc per endpoint", found["tracemalloc"]["traced"] / n, "bytes", "<= 250",
               higher_is_better=False),
        result(SUITE, "peer: decoded log records, RSS per endpoint", found["records"]["rss"] / n, "bytes",
               higher_is_better=False),
        result(SUITE, "endpoints held", n, "endpoints"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", choices=MODES, required=True)
    parser.add_argument("log", type=Path)
    parser.add_argument("seq", type=int)
    args = parser.parse_args()
    print(json.dumps(child(args.child, args.log, args.seq)))


if __name__ == "__main__":
    main()
