"""Cost of durability in the event log, run by hand:

    PYTHONPATH=. python benchmarks/log_durability.py [--dir DIR]

Prints batches/s appending 1,000 batches of 10 records with fsync per batch
(sync=True) and without (sync=False), then the time to open a log of 1M
small records and to read them all back.  DIR should be on the disk whose
cost you want to know (default: a temp directory).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from engine import kernels
from engine.events import Endpoint, NodeUpserted, SliceUpserted
from engine.log import EventLog
from engine.records import RecordCodec

_CODEC = RecordCodec(kernels.StringTable())
SAMPLE = [_CODEC.encode(NodeUpserted(f"node-{i}", zone=f"zone-{i % 3}", cpu_millis=4000)) for i in range(5)] + [
    _CODEC.to_log(
        SliceUpserted(
            "default",
            f"web-{i}",
            "web",
            endpoints=(Endpoint((f"10.0.0.{i}",), ready=True, node_name=f"node-{i}", zone=f"zone-{i % 3}"),),
        )
    )[1]
    for i in range(5)
]


def append_rate(directory: Path, *, sync: bool, batches: int = 1000) -> float:
    with EventLog.open(directory, create=True, write=True, sync=sync) as log:
        start = time.perf_counter()
        for _ in range(batches):
            log.append(SAMPLE)
        elapsed = time.perf_counter() - start
    return batches / elapsed


def read_time(directory: Path, records: int = 1_000_000) -> tuple[float, float, float]:
    with EventLog.open(directory, create=True, write=True, sync=False) as log:
        for _ in range(records // len(SAMPLE)):
            log.append(SAMPLE)
    start = time.perf_counter()
    log = EventLog.open(directory)
    opened = time.perf_counter() - start
    start = time.perf_counter()
    count = sum(1 for _ in log.read())
    read = time.perf_counter() - start
    start = time.perf_counter()
    batched = sum(len(records) for _, _, records in log.read_batches())
    batches = time.perf_counter() - start
    log.close()
    assert count == batched == records
    return opened, read, batches


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        synced = append_rate(root / "sync", sync=True)
        unsynced = append_rate(root / "nosync", sync=False)
        print(f"append, 10 records per batch, fdatasync per batch: {synced:10.0f} batches/s")
        print(f"append, 10 records per batch, no fsync:            {unsynced:10.0f} batches/s")
        opened, read, batches = read_time(root / "big")
        size = sum(p.stat().st_size for p in (root / "big").glob("*.log"))
        print(
            f"1M records ({size / 2**20:.0f} MiB): open {opened * 1000:.1f} ms, "
            f"read() {read:.2f} s ({1e6 / read:.0f} records/s), read_batches() {batches:.2f} s"
        )


if __name__ == "__main__":
    main()
