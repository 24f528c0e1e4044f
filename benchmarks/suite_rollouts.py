"""rollouts: replaying a log of Deployment rollouts, against merely decoding its objects.

300 services of one 100-endpoint slice each (hinted, unhinted and local in
the full data set's mix) over 300 nodes in 3 zones roll out 6 times each
(``workloads.rollouts``); the kubectl objects are ingested into a log once.
Replay is ``Engine.open(log, use_snapshot=False)``: read, check, decode,
fold into state and index.  The peer is ``msgpack.unpackb`` of each of the
same kubectl objects msgpack-encoded: what merely decoding the input costs,
before any engine work.  Both rates count the same endpoint updates (every
endpoint of every slice object).
"""

from __future__ import annotations

import msgpack

from engine.api import Engine

from . import Context, result, timed, workloads

SUITE = "rollouts"


def run(ctx: Context) -> list[dict]:
    services, rounds, nodes = (5, 1, 12) if ctx.quick else (300, 6, 300)
    log_dir = ctx.scratch("rollouts") / "log"
    writer = workloads.LogWriter(log_dir)
    packed: list[bytes] = []
    updates = 0
    # Nodes, then per service its Service and slice, then 8 slice writes per rollout.
    expected = nodes + services * (2 + 8 * rounds)

    def keep(obj: dict) -> None:
        nonlocal updates
        packed.append(msgpack.packb(obj))
        updates += workloads.endpoints_in(obj)
        writer(obj)
        if len(packed) % 500 == 0:
            ctx.progress("rollouts: generate and ingest", len(packed), expected)

    ctx.progress("rollouts: generate and ingest", 0, expected)
    cluster = workloads.services(services, 100, nodes, ctx.seed, keep)
    workloads.rollouts(cluster, rounds, keep)
    writer.close()
    ctx.progress("rollouts: generate and ingest", expected, expected)

    def decode() -> int:
        for payload in packed:
            msgpack.unpackb(payload)
        return len(packed)

    ctx.progress("rollouts: msgpack decode of the objects", 0, 1)
    decode_seconds, _ = timed(decode)
    ctx.progress("rollouts: msgpack decode of the objects", 1, 1)
    objects = len(packed)
    del packed[:]

    def replay() -> int:
        with Engine.open(log_dir, use_snapshot=False) as engine:
            return engine.seq

    ctx.progress("rollouts: replay", 0, 1)
    replay_seconds, seq = timed(replay)
    ctx.progress("rollouts: replay", 1, 1)
    if seq != objects:
        raise AssertionError(f"replay reached seq {seq}, {objects} objects were ingested")
    what = f"{services} services x {rounds} rollouts of 100-endpoint slices"
    replay_rate, decode_rate = updates / replay_seconds, updates / decode_seconds
    return [
        result(SUITE, f"replay endpoint-updates/s ({what})", replay_rate, "endpoints/s"),
        result(
            SUITE, "peer: msgpack.unpackb of the same kubectl objects, endpoint-updates/s", decode_rate, "endpoints/s"
        ),
        result(SUITE, "replay / msgpack decode of the objects", replay_rate / decode_rate, "x", ">= 3, goal >= 10"),
        result(SUITE, "endpoint updates in the log", updates, "endpoints"),
    ]
