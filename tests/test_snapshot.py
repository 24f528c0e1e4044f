"""Snapshots: atomic write, checked load, damaged ones skipped."""

from __future__ import annotations

import os

import pytest

from engine.errors import LogError
from engine.log import EventLog, stats
from engine.snapshot import list_snapshots, load_snapshot, read_snapshot, snapshot_name, write_snapshot

STATE = {"services": [["default/web", [1, 2, 3]]], "zones": {"a": 3, "b": None}, 7: b"\x00\xff"}


def test_round_trip(tmp_path):
    path = write_snapshot(tmp_path, 42, STATE)
    assert path == tmp_path / snapshot_name(42) == tmp_path / "snapshot-00000000000000000042.snap"
    assert load_snapshot(tmp_path) == (42, STATE)
    assert [(s.seq, s.path, s.bytes) for s in list_snapshots(tmp_path)] == [(42, path, path.stat().st_size)]
    # Nothing but the snapshot is left behind by the atomic write.
    assert os.listdir(tmp_path) == [path.name]


def test_no_snapshot(tmp_path):
    assert load_snapshot(tmp_path) is None
    assert list_snapshots(tmp_path) == []


def test_newest_within_max_seq(tmp_path):
    for seq in (10, 20, 30):
        write_snapshot(tmp_path, seq, {"at": seq})
    assert load_snapshot(tmp_path) == (30, {"at": 30})
    assert load_snapshot(tmp_path, max_seq=29) == (20, {"at": 20})
    assert load_snapshot(tmp_path, max_seq=20) == (20, {"at": 20})
    assert load_snapshot(tmp_path, max_seq=9) is None
    assert [s.seq for s in list_snapshots(tmp_path)] == [10, 20, 30]


def test_rewriting_a_seq_replaces_it(tmp_path):
    write_snapshot(tmp_path, 5, "old")
    write_snapshot(tmp_path, 5, "new")
    assert load_snapshot(tmp_path) == (5, "new")


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:-1],  # cut short
        lambda data: data[:10],  # header cut short
        lambda data: data[:-3] + bytes([data[-3] ^ 0x10]) + data[-2:],  # payload bit flip
        lambda data: b"X" + data[1:],  # magic
        lambda data: data[:8] + b"\x09\x00" + data[10:],  # version
        lambda data: b"",
    ],
    ids=["truncated", "header", "bitflip", "magic", "version", "empty"],
)
def test_damaged_newest_is_skipped_with_a_warning(tmp_path, damage):
    write_snapshot(tmp_path, 10, {"at": 10})
    newest = write_snapshot(tmp_path, 20, {"at": 20})
    newest.write_bytes(damage(newest.read_bytes()))
    with pytest.warns(UserWarning, match=rf"skipping damaged snapshot: {newest}"):
        assert load_snapshot(tmp_path) == (10, {"at": 10})
    with pytest.raises(LogError, match=str(newest)):
        read_snapshot(newest)


def test_every_bit_flip_is_detected(tmp_path):
    path = write_snapshot(tmp_path, 3, STATE)
    data = path.read_bytes()
    for bit in range(len(data) * 8):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        path.write_bytes(bytes(flipped))
        with pytest.raises(LogError):
            read_snapshot(path)


def test_renamed_snapshot_is_not_trusted(tmp_path):
    path = write_snapshot(tmp_path, 7, "state")
    moved = path.rename(tmp_path / snapshot_name(9))
    with pytest.warns(UserWarning, match="file name says seq 9, header says 7"):
        assert load_snapshot(tmp_path) is None
    assert read_snapshot(moved.rename(tmp_path / "elsewhere.snap")) == (7, "state")


def test_hostile_payload_is_rejected(tmp_path):
    import struct
    import zlib

    # A correct header and checksum over msgpack claiming a 4-billion element array.
    payload = b"\xdd\xff\xff\xff\xff"
    header = struct.pack("<8sHBBQQ", b"TOPOSNAP", 1, 1, 0, 4, len(payload))
    crc = struct.pack("<I", zlib.crc32(payload, zlib.crc32(header)))
    path = tmp_path / snapshot_name(4)
    path.write_bytes(header + crc + payload)
    with pytest.raises(LogError, match="not valid msgpack"):
        read_snapshot(path)


def test_unencodable_blob_and_bad_seq(tmp_path):
    with pytest.raises(LogError, match="cannot be encoded"):
        write_snapshot(tmp_path, 1, object())
    with pytest.raises(LogError, match="seq must be an integer"):
        write_snapshot(tmp_path, -1, {})
    assert os.listdir(tmp_path) == []


def test_snapshots_share_the_log_directory(tmp_path):
    with EventLog.open(tmp_path, create=True, write=True) as log:
        log.append([[1], [2]])
        write_snapshot(tmp_path, log.last_seq, {"count": 2})
        log.append([[3]])
    with EventLog.open(tmp_path) as log:
        assert [seq for seq, _, _ in log.read()] == [1, 2, 3]
        assert load_snapshot(tmp_path, max_seq=log.last_seq) == (2, {"count": 2})
    assert [s["seq"] for s in stats(tmp_path)["snapshots"]] == [2]
