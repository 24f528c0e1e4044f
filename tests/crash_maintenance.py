"""Child process for the snapshot/compact crash test: appends a batch, takes
a snapshot, compacts, over and over, until the parent kills it.

Usage: python crash_maintenance.py LOG_DIR

Prints each durable last seq as a line, and ``snapshot`` / ``compact``
before starting each, so the parent can aim its kill.  Batch k (the log's
k-th frame) holds ``batch_objects(k)``: three objects, so three events, which
lets the parent rebuild the expected state from the sequence number alone.
"""

import sys

from k8s import endpoint, endpoint_slice, node, service

from engine.api import Engine, compact

EVENTS_PER_BATCH = 3
SEGMENT_BYTES = 4000  # small, so that compaction has whole segments to drop


def batch_objects(k: int) -> list[dict]:
    zone = f"zone-{k % 3}"
    return [
        node(f"n{k % 4}", zone),
        service(f"ns/s{k % 5}"),
        endpoint_slice(
            f"ns/e{k % 5}",
            f"s{k % 5}",
            [endpoint(f"10.{k % 5}.{k % 200}.{j}", zone=zone, hints=[zone], pod=f"p{k}-{j}") for j in range(40)],
        ),
    ]


def main() -> None:
    log_dir = sys.argv[1]
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    while True:
        with Engine.open(log_dir, create=True, write=True) as writer:
            writer.log.segment_bytes = SEGMENT_BYTES
            writer.ingest(batch_objects(writer.seq // EVENTS_PER_BATCH))
            out.write(f"{writer.seq}\n")
            out.flush()
        out.write("snapshot\n")
        out.flush()
        with Engine.open(log_dir) as reader:
            reader.snapshot()
        out.write("compact\n")
        out.flush()
        compact(log_dir)


if __name__ == "__main__":
    main()
