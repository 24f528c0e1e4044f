"""ingest: kubectl watch JSON to the event log, objects per second.

The engine reads the generated watch streams (initial state, then churn),
validates every object, turns it into an event, appends it to a fresh log
(fsync per batch, the CLI's default) and folds it.  Its peer is the cost of
only parsing the same JSON lines.
"""
from __future__ import annotations

import json

from engine.api import Engine

from . import Context, result, timed

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
    ]
