"""snapshot: opening from a snapshot plus the log's tail, against a full replay.

The snapshot is written 90% of the way through the churn, so the open reads
the snapshot and replays the last 10% of the churn.
"""

from __future__ import annotations

import gc
import shutil

from engine.api import Engine

from . import Context, result, timed

SUITE = "snapshot"


def run(ctx: Context) -> list[dict]:
    data = ctx.dataset()
    log_dir = ctx.scratch("snapshot") / "log"
    shutil.copytree(data.log, log_dir)
    total = data.initial_events + data.counts.churn_objects
    cut = data.initial_events + (data.counts.churn_objects * 9) // 10

    ctx.progress("snapshot: fold to the cut", 0, 1)
    with Engine.open(log_dir, at=cut) as engine:
        ctx.progress("snapshot: fold to the cut", 1, 1)
        write_seconds, path = timed(engine.snapshot)
        endpoints = engine.state.endpoint_count()
    size = path.stat().st_size
    del engine
    gc.collect()

    def open_engine(**options) -> int:
        with Engine.open(log_dir, **options) as opened:
            return opened.seq

    ctx.progress("snapshot: open from snapshot + tail", 0, 1)
    snap_seconds, seq = timed(open_engine)
    ctx.progress("snapshot: open from snapshot + tail", 1, 1)
    ctx.progress("snapshot: open by full replay", 0, 1)
    full_seconds, full_seq = timed(lambda: open_engine(use_snapshot=False))
    ctx.progress("snapshot: open by full replay", 1, 1)
    if seq != total or full_seq != total:
        raise AssertionError(f"opened at seq {seq} / {full_seq}, the log ends at {total}")
    return [
        result(SUITE, "open from snapshot + tail", snap_seconds, "s", higher_is_better=False),
        result(SUITE, "peer: open by full replay", full_seconds, "s", higher_is_better=False),
        result(SUITE, "full replay / snapshot open", full_seconds / snap_seconds, "x"),
        result(SUITE, "snapshot write", write_seconds, "s", higher_is_better=False),
        result(SUITE, "snapshot size per endpoint", size / endpoints, "bytes", higher_is_better=False),
    ]
