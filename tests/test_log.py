"""The durable event log: framing, crash recovery, damage, rotation, follow."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import LogCorruption, LogError
from engine.log import (
    FORMAT_VERSION,
    HEADER_BYTES,
    SECTOR_BYTES,
    EventLog,
    afollow,
    check_log_dir,
    compact,
    encode_frame,
    follow,
    list_segments,
    repair,
    stats,
    verify,
    wrap_payload,
)

ROOT = Path(__file__).resolve().parent.parent
CRASH_WRITER = Path(__file__).with_name("crash_writer.py")


def records(first: int, count: int, tag: str = "r") -> list[list]:
    return [[first + i, tag] for i in range(count)]


def read_all(path) -> list[tuple[int, float, list]]:
    with EventLog.open(path) as log:
        return list(log.read())


# ---------------------------------------------------------------------------
# Basics


def test_append_and_read_round_trip(tmp_path):
    with EventLog.open(tmp_path / "log", create=True, write=True) as log:
        assert (log.first_seq, log.last_seq) == (0, 0)
        assert log.append(records(1, 3), time=10.0) == 3
        assert log.append([[4, {"k": b"\x00bin", 7: None}]], time=11.5) == 4
        assert log.append([]) == 4  # an empty batch writes nothing
        assert (log.first_seq, log.last_seq) == (1, 4)
    with EventLog.open(tmp_path / "log") as log:
        assert (log.first_seq, log.last_seq, log.recovered) == (1, 4, None)
        assert list(log.read()) == [
            (1, 10.0, [1, "r"]),
            (2, 10.0, [2, "r"]),
            (3, 10.0, [3, "r"]),
            (4, 11.5, [4, {"k": b"\x00bin", 7: None}]),
        ]
        assert [seq for seq, _, _ in log.read(2, 3)] == [2, 3]
        assert list(log.read_batches(2, 3)) == [(2, 10.0, [[2, "r"], [3, "r"]])]


def test_default_time_is_now(tmp_path):
    with EventLog.open(tmp_path, create=True, write=True) as log:
        before = time.time()
        log.append(records(1, 1))
        after = time.time()
        ((_, stamp, _),) = log.read()
    assert before <= stamp <= after


def test_paths_that_are_not_logs_are_refused_and_left_alone(tmp_path, not_logs):
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    for kind, (path, message) in not_logs.items():
        for create in (False, True):
            if create and kind in ("missing", "empty directory"):
                continue  # where a log may be made: below
            for write in (False, True):
                with pytest.raises(LogError, match=message):
                    EventLog.open(path, create=create, write=write)
            with pytest.raises(LogError, match=message):
                check_log_dir(path, create=create)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    with pytest.raises(LogError, match=r"not a log: .*busy \(a directory without log segments\)"):
        check_log_dir(not_logs["directory"][0])
    with pytest.raises(LogError, match=r"not a log: .*empty \(an empty directory\)"):
        check_log_dir(not_logs["empty directory"][0])
    # Where a log may be made: nowhere yet, an empty directory, or what an
    # interrupted creation leaves (the lock and a segment temp file).
    empty = not_logs["empty directory"][0]
    assert check_log_dir(not_logs["missing"][0] / "deeper", create=True) is False
    assert check_log_dir(empty, create=True) is False
    (empty / "LOCK").write_text("")
    (empty / "00000000000000000001.log.tmp").write_bytes(b"TOPO")
    with EventLog.open(empty, create=True, write=True) as log:
        assert log.append(records(1, 1)) == 1
    assert check_log_dir(empty) is True and not (empty / "00000000000000000001.log.tmp").exists()


def test_reader_cannot_append_and_unencodable_record_is_refused(tmp_path):
    EventLog.open(tmp_path, create=True, write=True).close()
    with EventLog.open(tmp_path) as log, pytest.raises(LogError, match="read-only"):
        log.append(records(1, 1))
    with EventLog.open(tmp_path, write=True) as log:
        with pytest.raises(LogError, match="cannot be encoded"):
            log.append([[object()]])
        assert log.append(records(1, 1)) == 1  # the failed batch left nothing behind


# ---------------------------------------------------------------------------
# Locking


def test_second_writer_is_refused_and_readers_are_not(tmp_path):
    writer = EventLog.open(tmp_path, create=True, write=True)
    try:
        writer.append(records(1, 2))
        with pytest.raises(LogError, match=rf"locked by another writer \(pid {os.getpid()}\)"):
            EventLog.open(tmp_path, write=True)
        with pytest.raises(LogError, match="locked by another writer"):
            compact(tmp_path, 1)
        with pytest.raises(LogError, match="locked by another writer"):
            repair(tmp_path, truncate=True)
        with EventLog.open(tmp_path, create=True) as reader:
            assert [seq for seq, _, _ in reader.read()] == [1, 2]
            writer.append(records(3, 1))
            assert [seq for seq, _, _ in reader.read()] == [1, 2, 3]
    finally:
        writer.close()
    with EventLog.open(tmp_path, write=True) as again:
        assert again.append(records(4, 1)) == 4


# ---------------------------------------------------------------------------
# Crash: SIGKILL at random moments


def test_sigkill_never_loses_a_durable_batch_nor_shows_a_partial_one(tmp_path):
    rng = random.Random(20240611)
    log_dir = tmp_path / "log"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    verified = 0  # seqs up to here were checked after an earlier kill
    for trial in range(60):
        child = subprocess.Popen(
            [sys.executable, str(CRASH_WRITER), str(log_dir), str(rng.getrandbits(32)), "200000"],
            stdout=subprocess.PIPE,
            env=env,
        )
        assert child.stdout.readline().startswith(b"open ")
        time.sleep(rng.uniform(0.0, 0.03))
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate()
        assert child.returncode == -signal.SIGKILL
        durable = [int(line) for line in out.split(b"\n")[:-1]]  # a line without its "\n" may be cut
        with EventLog.open(log_dir, write=True) as log:
            if durable:
                assert log.last_seq >= max(durable), f"trial {trial}: acknowledged batch lost"
            assert log.last_seq >= verified
            for first, _, batch in log.read_batches(verified + 1):
                count = batch[0][2]
                assert len(batch) == count, f"trial {trial}: partial batch at seq {first}"
                assert [r[:3] for r in batch] == [[first + i, first, count] for i in range(count)]
            nxt = log.last_seq + 1
            assert log.append([[nxt, nxt, 1, "parent"]]) == nxt
            verified = nxt
    assert [seq for seq, _, _ in read_all(log_dir)] == list(range(1, verified + 1))
    assert len(list_segments(log_dir)) > 1


# ---------------------------------------------------------------------------
# Damage: every truncation, every bit flip


def small_log(path: Path) -> list[tuple[int, float, list]]:
    """Two segments, six batches of one to three records."""
    with EventLog.open(path, create=True, write=True, sync=False, segment_bytes=110) as log:
        for i, count in enumerate([1, 3, 2, 1, 2, 3]):
            log.append(records(log.last_seq + 1, count, tag=f"b{i}"), time=100.0 + i)
    assert len(list_segments(path)) == 2
    return read_all(path)


def batch_prefixes(events) -> list[list]:
    cuts = [0] + [i + 1 for i in range(len(events)) if i + 1 == len(events) or events[i + 1][1] != events[i][1]]
    return [events[:k] for k in cuts]


def assert_prefix_or_clear_error(path: Path, allowed: list[list], *, write: bool, damaged: str) -> str:
    try:
        with EventLog.open(path, write=write) as log:
            got = list(log.read())
            if write and got == allowed[-1]:
                assert log.append([["after"]]) == len(got) + 1
    except LogError as exc:
        assert damaged in str(exc), f"error does not name the damaged file: {exc}"
        return "error"
    assert got in allowed, "log opened with events that were never written"
    return "prefix"


def save(path: Path) -> dict[str, bytes]:
    return {s.name: s.path.read_bytes() for s in list_segments(path)}


def restore(path: Path, saved: dict[str, bytes]) -> None:
    for segment in list_segments(path):
        if segment.name not in saved:
            segment.path.unlink()
    for name, data in saved.items():
        (path / name).write_bytes(data)


def test_truncation_at_every_offset(tmp_path):
    original = small_log(tmp_path)
    allowed = batch_prefixes(original)
    saved = save(tmp_path)
    outcomes = set()
    for name, data in saved.items():
        for size in range(len(data)):
            (tmp_path / name).write_bytes(data[:size])
            outcome = assert_prefix_or_clear_error(tmp_path, allowed, write=True, damaged=name)
            outcomes.add((name, size >= HEADER_BYTES, outcome))
            restore(tmp_path, saved)
    first, last = saved
    # A cut first segment is damage (the second follows it); a cut last
    # segment is a torn tail and opens as a shorter log.
    assert outcomes == {
        (first, False, "error"),
        (first, True, "error"),
        (last, False, "error"),
        (last, True, "prefix"),
    }
    assert read_all(tmp_path) == original


def test_every_single_bit_flip_is_damage_never_a_torn_tail(tmp_path):
    original = small_log(tmp_path)
    saved = save(tmp_path)
    for name, data in saved.items():
        for bit in range(len(data) * 8):
            flipped = bytearray(data)
            flipped[bit // 8] ^= 1 << (bit % 8)
            (tmp_path / name).write_bytes(bytes(flipped))
            for write in (False, True):
                with pytest.raises(LogError, match=name), EventLog.open(tmp_path, write=write) as log:
                    list(log.read())
            assert not verify(tmp_path).ok, f"bit {bit} of {name}"
            assert (tmp_path / name).read_bytes() == bytes(flipped)  # the writer cut nothing
        restore(tmp_path, saved)
    assert read_all(tmp_path) == original


# ---------------------------------------------------------------------------
# Corruption reporting, verify and repair


def corrupt_middle_frame(path: Path) -> tuple[Path, int]:
    with EventLog.open(path, create=True, write=True, sync=False) as log:
        for _ in range(5):
            log.append(records(log.last_seq + 1, 2))
    segment = list_segments(path)[0].path
    data = bytearray(segment.read_bytes())
    frame_len = len(encode_frame(1, 0.0, records(1, 2)))
    offset = HEADER_BYTES + 2 * frame_len  # third frame
    data[offset + 12] ^= 0xFF  # in its payload
    segment.write_bytes(bytes(data))
    return segment, offset


def test_mid_log_corruption_fails_open_with_segment_and_offset(tmp_path):
    segment, offset = corrupt_middle_frame(tmp_path)
    with pytest.raises(LogCorruption, match=rf"{segment.name}:{offset}: damaged frame \(checksum mismatch\)"):
        EventLog.open(tmp_path, write=True)


def test_verify_and_repair(tmp_path):
    segment, offset = corrupt_middle_frame(tmp_path)
    report = verify(tmp_path)
    assert not report.ok
    assert [(p.segment, p.offset, p.torn_tail) for p in report.problems] == [(segment.name, offset, False)]
    assert (report.frames, report.events, report.first_seq, report.last_seq) == (4, 8, 1, 10)

    before, names = segment.read_bytes(), sorted(os.listdir(tmp_path))
    seen = []
    dry = repair(tmp_path, truncate=False, on_dropped=lambda first, batch: seen.append((first, batch)))
    assert segment.read_bytes() == before and sorted(os.listdir(tmp_path)) == names
    assert [(r.segment, r.start, r.end, r.whole) for r in dry.ranges] == [(segment.name, offset, len(before), False)]
    assert (dry.events_cut, dry.seqs_cut, dry.last_seq, dry.truncated, dry.side_files) == (4, (7, 10), 4, False, [])
    assert seen == [(7, records(7, 2)), (9, records(9, 2))]  # the intact frames after the damaged one
    assert dry.bytes_cut == len(before) - offset

    done = repair(tmp_path, truncate=True)
    assert done.truncated and done.last_seq == 4
    side = tmp_path / f"{segment.name}.cut-{offset}"
    assert done.side_files == [side.name] and side.read_bytes() == before[offset:]
    assert segment.read_bytes() == before[:offset]
    assert verify(tmp_path).problems == []
    with EventLog.open(tmp_path, write=True) as log:
        assert [seq for seq, _, _ in log.read()] == [1, 2, 3, 4]
        assert log.append(records(5, 1)) == 5
    assert repair(tmp_path, truncate=True).ranges == []


def test_torn_tail_is_cut_by_writer_and_ignored_by_reader(tmp_path):
    with EventLog.open(tmp_path, create=True, write=True) as log:
        log.append(records(1, 2))
    segment = list_segments(tmp_path)[0].path
    whole = segment.read_bytes()
    torn = encode_frame(3, 0.0, records(3, 4))[:-5]
    segment.write_bytes(whole + torn)

    with EventLog.open(tmp_path) as reader:
        assert reader.last_seq == 2 and reader.recovered.startswith("ignored torn frame")
    assert segment.read_bytes() == whole + torn
    report = verify(tmp_path)
    assert report.ok and [p.torn_tail for p in report.problems] == [True]

    with EventLog.open(tmp_path, write=True) as writer:
        assert writer.recovered.startswith(f"cut torn frame of {len(torn)} bytes at {segment}:{len(whole)}")
        assert writer.append(records(3, 1)) == 3
    assert [seq for seq, _, _ in read_all(tmp_path)] == [1, 2, 3]


def test_damaged_header_is_a_clear_error_and_repair_keeps_the_position(tmp_path):
    with EventLog.open(tmp_path, create=True, write=True, segment_bytes=64) as log:
        for _ in range(4):
            log.append(records(log.last_seq + 1, 2))
    segments = list_segments(tmp_path)
    damaged = b"NOTALOG!" + segments[-1].path.read_bytes()[8:]
    segments[-1].path.write_bytes(damaged)
    with pytest.raises(LogCorruption, match=rf"{segments[-1].name}: not a log segment"):
        EventLog.open(tmp_path)
    report = repair(tmp_path, truncate=True)
    assert [(r.segment, r.whole) for r in report.ranges] == [(segments[-1].name, True)]
    assert report.last_seq == segments[-1].first_seq - 1
    assert (tmp_path / f"{segments[-1].name}.cut-0").read_bytes() == damaged and not segments[-1].path.exists()
    with EventLog.open(tmp_path, write=True) as log:
        assert log.append(records(log.last_seq + 1, 1)) == segments[-1].first_seq


# ---------------------------------------------------------------------------
# Hostile frames: valid checksums over absurd msgpack


@pytest.mark.parametrize(
    "payload",
    [
        b"\x93\x01\xcb" + struct.pack(">d", 1.0) + b"\xdd\xff\xff\xff\xff",  # array of 2**32-1 records
        b"\x93\x01\xcb" + struct.pack(">d", 1.0) + b"\x91\xdb\xff\xff\xff\xff",  # 4 GiB string
        b"\x93\x01\xcb" + struct.pack(">d", 1.0) + b"\x91\xc6\xff\xff\xff\xff",  # 4 GiB bytes
        b"\x93\x01\xcb" + struct.pack(">d", 1.0) + b"\x91\xdf\xff\xff\xff\xff",  # map of 2**32-1 pairs
        b"\x93\x01\xcb" + struct.pack(">d", 1.0) + b"\x91" * 100_000 + b"\xc0",  # nesting 100k deep
        msgpack.packb([1, 1.0, []]),  # an empty batch
        msgpack.packb([7, 1.0, [[1]]]),  # wrong sequence number
        msgpack.packb({"first": 1}),
    ],
    ids=["array", "str", "bin", "map", "deep", "empty", "seq", "shape"],
)
def test_hostile_frame_is_rejected_without_exhausting_memory(tmp_path, payload):
    EventLog.open(tmp_path, create=True, write=True).close()
    segment = list_segments(tmp_path)[0].path
    with open(segment, "ab") as f:
        f.write(wrap_payload(payload))
    # Opening checks a frame's checksum and sequence numbers; its records are
    # decoded, and rejected, when read.
    with (
        pytest.raises(LogCorruption, match=rf"{segment.name}:{HEADER_BYTES}: damaged frame \((payload|starts at)"),
        EventLog.open(tmp_path) as log,
    ):
        list(log.read())
    assert not verify(tmp_path).ok


def test_absurd_frame_length_is_never_allocated_nor_taken_for_a_torn_tail(tmp_path):
    with EventLog.open(tmp_path, create=True, write=True) as log:
        log.append(records(1, 1))
    segment = list_segments(tmp_path)[0].path
    good = segment.read_bytes()
    # A length the header check vouches for but no writer writes, and one
    # whose check fails: both damage, even at the very end of the log.
    length = struct.pack("<I", 0xFFFF_FFF0)
    for header in (length + struct.pack("<I", zlib.crc32(length)), length + bytes(4)):
        segment.write_bytes(good + header + b"\x93junk...")
        reason = "impossible frame length" if header[4:] != bytes(4) else "frame header check failed"
        for write in (False, True):
            with pytest.raises(LogCorruption, match=rf"{segment.name}:{len(good)}: damaged frame \({reason}"):
                EventLog.open(tmp_path, write=write)


# ---------------------------------------------------------------------------
# Rotation and compaction


def test_rotation_read_across_segments_and_compaction(tmp_path):
    with EventLog.open(tmp_path, create=True, write=True, sync=False, segment_bytes=200) as log:
        for i in range(30):
            log.append(records(log.last_seq + 1, 1 + i % 3))
        last = log.last_seq
    segments = list_segments(tmp_path)
    assert len(segments) >= 5
    assert segments[0].first_seq == 1
    for before in segments[:-1]:
        assert before.path.stat().st_size >= 200  # rotated only once full
    assert [seq for seq, _, _ in read_all(tmp_path)] == list(range(1, last + 1))
    with EventLog.open(tmp_path) as log:
        # a range that starts and ends inside segments
        lo, hi = segments[1].first_seq + 1, segments[3].first_seq + 1
        assert [seq for seq, _, _ in log.read(lo, hi)] == list(range(lo, hi + 1))

    upto = segments[2].first_seq  # segments 0 and 1 are covered, 2 is not
    assert compact(tmp_path, upto) == 2
    assert list_segments(tmp_path) == segments[2:]
    with EventLog.open(tmp_path, write=True, segment_bytes=200) as log:
        assert (log.first_seq, log.last_seq) == (segments[2].first_seq, last)
        assert [seq for seq, _, _ in log.read(upto)] == list(range(upto, last + 1))
        with pytest.raises(LogError, match=rf"seq 1 was compacted away; the log starts at seq {upto}"):
            list(log.read())
        assert log.append(records(last + 1, 1)) == last + 1
        # The last segment stays whatever it covers: it holds the next position.
        remaining = list_segments(tmp_path)
        assert log.compact(last + 1) == len(remaining) - 1
        assert list_segments(tmp_path) == remaining[-1:]
        assert log.first_seq == remaining[-1].first_seq
        assert log.append(records(last + 2, 1)) == last + 2
    s = stats(tmp_path)
    assert (s["segments"], s["last_seq"]) == (1, last + 2)
    assert s["events"] == last + 2 - s["first_seq"] + 1


# ---------------------------------------------------------------------------
# Follow


def write_in_background(path: Path, batches: int, segment_bytes: int) -> tuple[threading.Thread, list]:
    written: list = []

    def run() -> None:
        with EventLog.open(path, write=True, sync=False, segment_bytes=segment_bytes) as log:
            for i in range(batches):
                batch = records(log.last_seq + 1, 1 + i % 4, tag=f"w{i}")
                log.append(batch, time=float(i))
                log.flush()
                written.extend((r[0], float(i), r) for r in batch)
                time.sleep(0.001)  # let the follower interleave with the writer

    thread = threading.Thread(target=run)
    thread.start()
    return thread, written


def test_follow_sees_exactly_the_writers_sequence_across_rotation(tmp_path):
    EventLog.open(tmp_path, create=True).close()
    thread, written = write_in_background(tmp_path, batches=120, segment_bytes=400)
    seen = []
    try:
        for entry in follow(tmp_path, timeout=10):
            seen.append(entry)
            if len(seen) == 300:  # 120 batches of 1..4 records
                break
    finally:
        thread.join()
    assert seen == written
    assert len(list_segments(tmp_path)) > 3


def test_follow_from_a_later_seq_and_stop_event(tmp_path):
    with EventLog.open(tmp_path, create=True, write=True, segment_bytes=100) as log:
        for _ in range(10):
            log.append(records(log.last_seq + 1, 2))
    stop = threading.Event()
    seen = []
    for seq, _, _ in follow(tmp_path, start=7, stop_event=stop, timeout=10):
        seen.append(seq)
        if seq == 20:
            stop.set()
    assert seen == list(range(7, 21))


def test_follow_waits_for_a_torn_frame_and_survives_its_cut(tmp_path):
    with EventLog.open(tmp_path, create=True, write=True) as log:
        log.append(records(1, 2))
    segment = list_segments(tmp_path)[0].path
    entries = follow(tmp_path, timeout=10)
    assert [next(entries)[0], next(entries)[0]] == [1, 2]

    # A frame being written: the follower must wait for all of it.
    frame = encode_frame(3, 5.0, records(3, 2))
    with open(segment, "ab") as f:
        f.write(frame[:7])

    def finish_frame() -> None:
        with open(segment, "ab") as f:
            f.write(frame[7:])

    threading.Timer(0.3, finish_frame).start()
    assert [next(entries), next(entries)] == [(3, 5.0, [3, "r"]), (4, 5.0, [4, "r"])]

    # A writer that died mid-frame: the next writer cuts the torn bytes and
    # appends in their place; the follower carries on.
    with open(segment, "ab") as f:
        f.write(encode_frame(5, 6.0, records(5, 3))[:-1])
    with EventLog.open(tmp_path, write=True) as log:
        assert log.recovered is not None
        log.append(records(5, 1, tag="after crash"), time=7.0)
    assert next(entries) == (5, 7.0, [5, "after crash"])

    # Cutting below what was delivered is not something to follow through.
    with open(segment, "r+b") as f:
        f.truncate(HEADER_BYTES)
    with pytest.raises(LogError, match="truncated to 16 bytes, below byte"):
        next(entries)


def test_follow_reports_corruption_after_the_followed_position(tmp_path):
    with EventLog.open(tmp_path, create=True, write=True) as log:
        log.append(records(1, 1))
    segment = list_segments(tmp_path)[0].path
    entries = follow(tmp_path, timeout=10)
    assert next(entries)[0] == 1
    with open(segment, "ab") as f:
        f.write(b"\x05\x00\x00\x00garbage!" + encode_frame(2, 0.0, records(2, 1)))
    with pytest.raises(LogCorruption, match="damaged frame \\(frame header check failed"):
        next(entries)


def test_afollow_sees_the_writers_sequence(tmp_path):
    EventLog.open(tmp_path, create=True).close()

    async def collect() -> list:
        thread, written = write_in_background(tmp_path, batches=40, segment_bytes=300)
        seen = []
        try:
            async for entry in afollow(tmp_path, timeout=10):
                seen.append(entry)
                if len(seen) == 100:  # 40 batches of 1..4 records
                    break
        finally:
            thread.join()
        return seen, written

    seen, written = asyncio.run(collect())
    assert seen == written


# ---------------------------------------------------------------------------
# Torn or damaged: decided by the bytes


def sectored_log(path: Path, batches: int = 3) -> list[tuple[int, int]]:
    """Batches of frames spanning several sectors; returns each frame's (start, end)."""
    spans = []
    with EventLog.open(path, create=True, write=True, sync=False) as log:
        for i in range(batches):
            start = list_segments(path)[-1].path.stat().st_size
            log.append([[log.last_seq + 1, "x" * 700], [log.last_seq + 2, "y" * 300]], time=float(i))
            log.flush()
            spans.append((start, list_segments(path)[-1].path.stat().st_size))
    return spans


def zero(path: Path, start: int, end: int) -> None:
    data = bytearray(path.read_bytes())
    data[start:end] = bytes(end - start)
    path.write_bytes(bytes(data))


def outcome(path: Path) -> str:
    try:
        with EventLog.open(path) as log:
            seqs = [seq for seq, _, _ in log.read()]
            return f"torn, {len(seqs)} events" if log.recovered else f"whole, {len(seqs)} events"
    except LogCorruption as exc:
        return f"damage: {exc}"


def test_zero_filled_sectors_are_torn_only_where_unwritten_pages_leave_them(tmp_path):
    spans = sectored_log(tmp_path)
    segment = list_segments(tmp_path)[0].path
    saved = segment.read_bytes()
    start, end = spans[-1]
    boundaries = [b for b in range(start + 1, end) if b % SECTOR_BYTES == 0]
    assert len(boundaries) >= 2 and start % 8 == 0 and end % 8 == 0
    cases = [
        # the write never reached the disk: the frame reads as zeros
        (start, end, "torn, 4 events"),
        # the sector where the frame ends never made it
        (boundaries[-1], end, "torn, 4 events"),
        (boundaries[0], end, "torn, 4 events"),
        # a sector in the middle is zeros but the frame's end was written:
        # no crash of this writer leaves that, so it is damage
        (boundaries[0], boundaries[1], f"damage: {segment}:{start}: damaged frame (checksum mismatch)"),
        # zeros that do not reach the end of their sector (the header's) are damage
        (start, start + 8, f"damage: {segment}:{start}: damaged frame (frame header check failed)"),
    ]
    for lo, hi, expected in cases:
        zero(segment, lo, hi)
        assert outcome(tmp_path) == expected, (lo, hi)
        segment.write_bytes(saved)
    # The same zero-filled end in a frame that an intact one follows is damage.
    first_start, first_end = spans[0]
    zero(segment, (first_end - 8) // SECTOR_BYTES * SECTOR_BYTES, first_end)
    assert outcome(tmp_path).startswith(f"damage: {segment}:{first_start}: damaged frame (frame end zero-filled")
    assert "followed by an intact frame at byte" in outcome(tmp_path)


def test_a_torn_looking_frame_in_a_segment_that_is_not_the_last_is_damage(tmp_path):
    with EventLog.open(tmp_path, create=True, write=True, segment_bytes=64) as log:
        for _ in range(3):
            log.append(records(log.last_seq + 1, 2))
    first = list_segments(tmp_path)[0].path
    first.write_bytes(first.read_bytes()[:-3])
    with EventLog.open(tmp_path) as log:  # opening reads only the last segment...
        assert log.recovered is None
        with pytest.raises(
            LogCorruption,
            match=rf"{first}:56: damaged frame \(a frame of 40 bytes cut short, "
            r"in a segment that is not the last\)",
        ):
            list(log.read())  # ...reading finds it
    assert not verify(tmp_path).ok


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 1500), min_size=1, max_size=5), data=st.data())
def test_a_crash_in_the_last_frame_leaves_the_frames_before_it(sizes, data):
    """A crash cuts the last frame short, or leaves its end (whole sectors up
    to the frame's end) unwritten: the log opens with every earlier batch,
    and a writer cuts the torn bytes and appends."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp)
        with EventLog.open(path, create=True, write=True) as log:
            for i, size in enumerate(sizes):
                log.append([[log.last_seq + 1, "p" * size]], time=float(i))
        segment = list_segments(path)[0].path
        full = segment.read_bytes()
        start = len(full) - len(encode_frame(len(sizes), 0.0, [[len(sizes), "p" * sizes[-1]]]))
        boundaries = [b for b in range(start + 1, len(full)) if b % SECTOR_BYTES == 0]
        if boundaries and data.draw(st.booleans(), label="zero-filled"):
            lo = data.draw(st.sampled_from(boundaries + [start]), label="zeros from")
            zero(segment, lo, len(full))
        else:
            segment.write_bytes(full[: data.draw(st.integers(start + 1, len(full) - 1), label="cut at")])
        with EventLog.open(path) as log:
            assert log.recovered.startswith("ignored torn frame")
            assert [r[1] for _, _, r in log.read()] == ["p" * s for s in sizes[:-1]]
        with EventLog.open(path, write=True) as log:
            assert log.append([[len(sizes), "after"]]) == len(sizes)
        assert verify(path).problems == []


# ---------------------------------------------------------------------------
# Format version 1: still read, continued in version 2


V1_LOG = Path(__file__).resolve().parent.parent / "fixtures" / "logs" / "0.1-demo"  # format version 1


def copy_v1_log(target: Path) -> Path:
    shutil.copytree(V1_LOG, target)
    return target


def test_version_1_log_reads_as_written_and_continues_in_version_2(tmp_path):
    path = copy_v1_log(tmp_path / "v1")
    original = (V1_LOG / "00000000000000000001.log").read_bytes()
    report = verify(path)
    assert report.ok and [(s.version, s.frames, s.events) for s in report.segments] == [(1, 2, 36)]
    with EventLog.open(path) as log:
        assert (log.first_seq, log.last_seq, log.recovered) == (1, 36, None)
        written = list(log.read_batches())
    assert [(first, len(batch)) for first, _, batch in written] == [(1, 18), (19, 18)]
    # The same batches written now, in version 2, read back the same.
    with EventLog.open(tmp_path / "v2", create=True, write=True) as log:
        for _, t, batch in written:
            log.append(batch, time=t)
        assert list(log.read_batches()) == written
    # A writer never appends to a version-1 segment: it starts a version-2 one.
    with EventLog.open(path, write=True) as log:
        assert log.append(records(37, 2)) == 38
    segments = list_segments(path)
    assert [s.first_seq for s in segments] == [1, 37] and segments[0].path.read_bytes() == original
    assert [s.version for s in verify(path).segments] == [1, FORMAT_VERSION]
    with EventLog.open(path) as log:
        assert list(log.read_batches())[:2] == written and log.last_seq == 38


def test_version_1_torn_tail_and_damage(tmp_path):
    path = copy_v1_log(tmp_path / "v1")
    segment = list_segments(path)[0].path
    data = segment.read_bytes()
    second = HEADER_BYTES + 8 + struct.unpack_from("<I", data, HEADER_BYTES)[0]
    segment.write_bytes(data[:-100])
    assert outcome(path) == "torn, 18 events"
    flipped = bytearray(data)
    flipped[second + 1000] ^= 0x10  # a whole version-1 frame failing its checksum: damage
    segment.write_bytes(bytes(flipped))
    assert outcome(path) == f"damage: {segment}:{second}: damaged frame (checksum mismatch)"


def test_afollow_gives_its_worker_thread_back_when_cancelled(tmp_path):
    with EventLog.open(tmp_path, create=True, write=True) as log:
        log.append(records(1, 2))
    before = threading.active_count()

    async def follow_then_cancel() -> list:
        seen = []

        async def consume() -> None:
            async for entry in afollow(tmp_path):  # no timeout: only cancelling ends it
                seen.append(entry[0])

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.5)  # the backlog is read, then the follower waits for writes
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return seen

    assert asyncio.run(follow_then_cancel()) == [1, 2]
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)  # the abandoned wait returns within a watcher tick
    assert threading.active_count() <= before
