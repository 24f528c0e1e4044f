"""replay: the event log folded into state, next to the raw msgpack decode of the same log.

Raw decode is the limit any replay of this log format has: read the segment
files, cut them into frames and ``msgpack.unpackb`` each payload, with no
checksum, no validation and nothing kept.  Replay is ``Engine.open`` without
snapshots: read, check, decode into events, fold into the state and the
zone index.  An endpoint update is one endpoint carried by a slice event;
their number comes from the generator's counts, not from the records, whose
layout is the engine's own business.
"""

from __future__ import annotations

import gc
import struct
from pathlib import Path

import msgpack

from engine.api import Engine
from engine.log import FRAME_HEADER_BYTES, HEADER_BYTES, frame_size, list_segments

from . import Context, result, timed

SUITE = "replay"


def raw_decode(log_dir: Path) -> int:
    """Decode every frame of the log; returns the number of events."""
    events = 0
    for segment in list_segments(log_dir):
        data = segment.path.read_bytes()
        pos = HEADER_BYTES
        while pos < len(data):
            (length,) = struct.unpack_from("<I", data, pos)
            start = pos + FRAME_HEADER_BYTES
            _, _, records = msgpack.unpackb(data[start : start + length])
            events += len(records)
            pos += frame_size(length)
    return events


def replay(log_dir: Path, progress) -> int:
    with Engine.open(log_dir, use_snapshot=False, progress=progress) as engine:
        return engine.seq


def run(ctx: Context) -> list[dict]:
    data = ctx.dataset()
    log_dir = data.log
    endpoints = data.counts.initial_endpoints + data.counts.churn_endpoint_writes
    ctx.progress("replay: raw msgpack decode", 0, 1)
    decode_seconds, events = timed(lambda: raw_decode(log_dir))
    ctx.progress("replay: raw msgpack decode", 1, 1)

    def progress(done: int, total: int) -> None:
        ctx.progress("replay: log -> state", done, total)

    seconds, replayed = timed(lambda: replay(log_dir, progress))
    ctx.progress("replay: log -> state", 1, 1)
    if replayed != events:
        raise AssertionError(f"replay reached seq {replayed}, the log holds {events} events")

    # What the collector costs: the same replay with collection paused, as an
    # engine could do around a bulk fold (everything folded stays alive).
    def without_gc() -> int:
        gc.disable()
        try:
            return replay(log_dir, None)
        finally:
            gc.enable()

    ctx.progress("replay: log -> state, GC paused", 0, 1)
    nogc_seconds, _ = timed(without_gc)
    ctx.progress("replay: log -> state, GC paused", 1, 1)
    return [
        result(SUITE, "replay events/s", events / seconds, "events/s"),
        result(SUITE, "replay endpoint-updates/s", endpoints / seconds, "endpoints/s", ">= 1,000,000"),
        result(SUITE, "peer: raw msgpack decode events/s", events / decode_seconds, "events/s"),
        result(SUITE, "peer: raw msgpack decode endpoint-updates/s", endpoints / decode_seconds, "endpoints/s"),
        result(SUITE, "replay / raw decode", 100 * decode_seconds / seconds, "%", ">= 50"),
        result(SUITE, "what-if: replay endpoint-updates/s with GC paused", endpoints / nogc_seconds, "endpoints/s"),
        result(SUITE, "log size", events, "events"),
        result(SUITE, "log size, endpoints in slice events", endpoints, "endpoints"),
    ]
