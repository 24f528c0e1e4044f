"""Snapshots: an opaque msgpack-able value (the reduced state) at a sequence number.

A snapshot lives in the log directory as ``snapshot-<seq, 20 digits>.snap``:

    ``b"TOPOSNAP"`` (8 bytes) | format version, u16 LE (1) |
    checksum kind, u8 (1: CRC-32 as in zlib) | reserved, u8 (0) |
    seq, u64 LE | payload length, u64 LE | CRC-32 of the 28 bytes before it
    and the payload, u32 LE | payload (msgpack of the value).

It is written to a temp file, fsynced, renamed into place and the directory
fsynced, so a crash leaves either the whole snapshot or none.  The log stays
the truth: a snapshot that fails its checks is skipped with a warning and an
older one (or a full replay) is used instead.
"""

from __future__ import annotations

import os
import re
import struct
import warnings
import zlib
from pathlib import Path
from typing import Optional

import attrs
import msgpack

from .durable import fsync_dir, write_file
from .errors import LogError

MAGIC = b"TOPOSNAP"
FORMAT_VERSION = 1
CHECKSUM_CRC32 = 1
_HEADER = struct.Struct("<8sHBBQQ")
_CRC = struct.Struct("<I")
_NAME_RE = re.compile(r"^snapshot-(\d{20})\.snap$")
STALE_SUFFIX = ".stale"


@attrs.frozen
class SnapshotInfo:
    seq: int
    path: Path
    bytes: int


def snapshot_name(seq: int) -> str:
    return f"snapshot-{seq:020d}.snap"


def list_snapshots(log_dir) -> list[SnapshotInfo]:
    """Snapshot files in ``log_dir``, oldest first; contents are not checked."""
    directory = Path(log_dir)
    found = []
    for entry in os.scandir(directory):
        m = _NAME_RE.match(entry.name)
        if m and entry.is_file():
            found.append(SnapshotInfo(int(m.group(1)), directory / entry.name, entry.stat().st_size))
    found.sort(key=lambda s: s.seq)
    return found


def write_snapshot(log_dir, seq: int, blob: object) -> Path:
    """Write ``blob`` as the state at ``seq``, atomically; returns the file's path."""
    directory = Path(log_dir)
    if type(seq) is not int or seq < 0:
        raise LogError(f"{directory}: snapshot seq must be an integer >= 0, got {seq!r}")
    try:
        payload = msgpack.packb(blob, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise LogError(f"{directory}: snapshot at seq {seq} cannot be encoded: {exc}") from None
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, CHECKSUM_CRC32, 0, seq, len(payload))
    crc = zlib.crc32(payload, zlib.crc32(header))
    final = directory / snapshot_name(seq)
    write_file(final, [header, _CRC.pack(crc), payload])
    return final


def read_snapshot(path) -> tuple[int, object]:
    """``(seq, blob)`` of one snapshot file; LogError if it fails any check."""
    path = Path(path)
    data = path.read_bytes()
    fixed = _HEADER.size + _CRC.size
    if len(data) < fixed:
        raise LogError(f"{path}: snapshot header truncated ({len(data)} bytes)")
    magic, version, kind, reserved, seq, length = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise LogError(f"{path}: not a snapshot (bad magic)")
    if version != FORMAT_VERSION or kind != CHECKSUM_CRC32 or reserved != 0:
        raise LogError(f"{path}: unsupported snapshot version {version} / checksum kind {kind}")
    if len(data) != fixed + length:
        raise LogError(f"{path}: snapshot is {len(data)} bytes, its header says {fixed + length}")
    (crc,) = _CRC.unpack_from(data, _HEADER.size)
    if zlib.crc32(data[fixed:], zlib.crc32(data[: _HEADER.size])) != crc:
        raise LogError(f"{path}: snapshot checksum mismatch")
    m = _NAME_RE.match(path.name)
    if m and int(m.group(1)) != seq:
        raise LogError(f"{path}: file name says seq {int(m.group(1))}, header says {seq}")
    try:
        # Size limits tied to the payload length: a declared length can never
        # make the decoder allocate beyond the file it came from.
        blob = msgpack.unpackb(
            data[fixed:],
            use_list=True,
            raw=False,
            strict_map_key=False,
            max_str_len=length,
            max_bin_len=length,
            max_array_len=length,
            max_map_len=length // 2,
            max_ext_len=length,
        )
    except (ValueError, TypeError, OverflowError, RecursionError, msgpack.UnpackException) as exc:
        raise LogError(f"{path}: snapshot payload is not valid msgpack ({str(exc) or type(exc).__name__})") from None
    return seq, blob


def load_snapshot(
    log_dir, max_seq: Optional[int] = None, *, min_seq: int = 0, oldest: bool = False
) -> Optional[tuple[int, object]]:
    """The newest (or, with ``oldest``, the oldest) valid snapshot with seq in
    [``min_seq``, ``max_seq``], as ``(seq, blob)``, or None.

    Damaged snapshots are skipped with a warning naming the file.  Pass the
    log's ``last_seq`` as ``max_seq`` so that a snapshot ahead of the log is
    never used.
    """
    candidates = [s for s in list_snapshots(log_dir) if s.seq >= min_seq and (max_seq is None or s.seq <= max_seq)]
    for info in candidates if oldest else reversed(candidates):
        try:
            return read_snapshot(info.path)
        except (LogError, OSError) as exc:
            warnings.warn(f"skipping damaged snapshot: {exc}", stacklevel=2)
    return None


def set_aside_snapshots_after(log_dir, seq: int) -> list[Path]:
    """Rename the snapshots past ``seq`` to ``NAME.stale``: they describe
    events the log no longer holds, and loading one after new events took
    those sequence numbers would answer from another history."""
    moved = []
    for info in list_snapshots(log_dir):
        if info.seq > seq:
            target = info.path.with_name(info.path.name + STALE_SUFFIX)
            os.replace(info.path, target)
            moved.append(target)
    if moved:
        fsync_dir(Path(log_dir))
    return moved
