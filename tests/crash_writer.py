"""Child process for the crash test: appends batches forever, printing each
durable last seq, until the parent kills it.

Usage: python crash_writer.py LOG_DIR SEED SEGMENT_BYTES

Record ``[seq, batch_first, batch_len, padding]`` lets the parent check that
every visible batch is whole and numbered as written.
"""

import random
import sys

from engine.log import EventLog


def main() -> None:
    log_dir, seed, segment_bytes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(seed)
    out = sys.stdout
    with EventLog.open(log_dir, create=True, write=True, sync=True, segment_bytes=segment_bytes) as log:
        out.write(f"open {log.last_seq}\n")
        out.flush()
        while True:
            first = log.last_seq + 1
            count = rng.randint(1, 20)
            # Now and then a batch spanning many pages, so that a kill can
            # land inside the write itself.
            pad = rng.choice((0, 8, 64, 4096, 40_000))
            records = [[first + i, first, count, "x" * pad] for i in range(count)]
            last = log.append(records)
            out.write(f"{last}\n")
            out.flush()


if __name__ == "__main__":
    main()
