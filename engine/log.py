"""The durable event log: append-only segment files of checksummed frames.

A log is a directory.  It holds segment files, a ``LOCK`` file taken by the
one writer, and the snapshots of engine/snapshot.py.

Segment files
    Named by the sequence number of their first event, 20 digits, zero
    padded: ``00000000000000000001.log``.  Names are contiguous: a segment's
    name is one more than the last sequence number of the segment before it.
    A new segment is created complete with its header (temp file, fsync,
    rename, fsync of the directory), so a header is never torn.

File header (16 bytes)
    ``b"TOPOLOG\\x00"`` (8 bytes) | format version, u16 little-endian (1) |
    checksum kind, u8 (1: CRC-32 as in zlib, ISO-HDLC polynomial) |
    5 reserved bytes, zero.

Frames, back to back after the header
    payload length, u32 LE | checksum, u32 LE | payload.  The checksum is the
    CRC-32 of the 4 length bytes followed by the payload, so a damaged length
    is caught as surely as a damaged payload.  A payload is at most
    ``MAX_FRAME_BYTES`` (64 MiB), so a damaged length never makes a reader
    allocate more.  The payload is the msgpack array
    ``[first_seq, time, [record, ...]]``: one batch, whose records carry the
    sequence numbers ``first_seq, first_seq + 1, ...`` and share ``time``
    (float seconds since the epoch).  A batch holds at least one record, so
    every payload starts with the byte 0x93 (a 3-element array).  Records are
    opaque msgpack values (engine/events.py gives them meaning).

CRC-32 rather than CRC-32C: both are 32-bit CRCs that catch every burst of up
to 32 flipped bits; zlib's is in the standard library and runs at memory
speed, so the format needs no extra dependency.  The checksum-kind byte lets a
later version change it without guessing.

Durability and recovery
    Each batch is one ``write``; with ``sync=True`` (the default) ``append``
    returns only after ``fdatasync``.  A crash can therefore leave only a
    prefix of the last frame at the end of the last segment: a writer opening
    the log cuts it off, a reader ignores it, and both report it in
    ``EventLog.recovered``.  A bad frame anywhere else, or one followed by a
    valid frame, is damage no crash explains: opening or reading raises
    ``LogCorruption`` naming the segment and byte offset, and ``verify`` /
    ``repair`` let a person inspect and cut it.  Opening checks every segment
    header and every frame of the last segment (where a crash leaves its
    marks: checksums and sequence numbers, records left undecoded), so it
    costs the same however long the log grows; reading checks and decodes
    the frames it reads.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import re
import struct
import time as _time
import zlib
from pathlib import Path
from typing import Iterator, Optional, Sequence

import attrs
import msgpack

from .errors import LogCorruption, LogError
from .snapshot import list_snapshots

MAGIC = b"TOPOLOG\x00"
FORMAT_VERSION = 1
CHECKSUM_CRC32 = 1
_HEADER = struct.Struct("<8sHB5s")
HEADER_BYTES = _HEADER.size
_FRAME = struct.Struct("<II")
FRAME_HEADER_BYTES = _FRAME.size
MAX_FRAME_BYTES = 64 * 2**20
DEFAULT_SEGMENT_BYTES = 64 * 2**20
LOCK_NAME = "LOCK"
_PAYLOAD_START = b"\x93"  # a 3-element msgpack array
_SEGMENT_RE = re.compile(r"^(\d{20})\.log$")
_READ_CHUNK = 2**20

Entry = tuple[int, float, list]


def segment_name(first_seq: int) -> str:
    return f"{first_seq:020d}.log"


def _header_bytes() -> bytes:
    return _HEADER.pack(MAGIC, FORMAT_VERSION, CHECKSUM_CRC32, bytes(5))


def _checksum(length_bytes: bytes, payload) -> int:
    return zlib.crc32(payload, zlib.crc32(length_bytes))


def encode_frame(first_seq: int, time: float, records: Sequence[list]) -> bytes:
    """One frame holding ``records`` as the batch starting at ``first_seq``."""
    try:
        payload = msgpack.packb([first_seq, float(time), list(records)], use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise LogError(f"batch at seq {first_seq} cannot be encoded: {exc}") from None
    if len(payload) > MAX_FRAME_BYTES:
        raise LogError(
            f"batch at seq {first_seq} is {len(payload)} bytes; a frame holds at most {MAX_FRAME_BYTES}"
        )
    length = struct.pack("<I", len(payload))
    return length + struct.pack("<I", _checksum(length, payload)) + payload


class _BadPayload(Exception):
    """A checksummed payload that is not a batch; the caller adds where."""


def _decode_payload(payload) -> tuple[int, float, list]:
    """The (first_seq, time, records) of a frame whose checksum matched.

    The bytes are still untrusted (a hostile file can carry a valid CRC):
    msgpack's size limits are tied to the payload length, so no declared
    length can make the decoder allocate more than the frame itself.
    """
    n = len(payload)
    try:
        value = msgpack.unpackb(
            payload, use_list=True, raw=False, strict_map_key=False,
            max_str_len=n, max_bin_len=n, max_array_len=n, max_map_len=n // 2, max_ext_len=n,
        )
    except (ValueError, TypeError, OverflowError, RecursionError, msgpack.UnpackException) as exc:
        raise _BadPayload(f"frame payload is not valid msgpack ({str(exc) or type(exc).__name__})") from None
    if not (
        type(value) is list and len(value) == 3 and type(value[0]) is int
        and type(value[1]) is float and type(value[2]) is list and value[2]
    ):
        raise _BadPayload("frame payload is not a [first_seq, time, records] batch")
    return value[0], value[1], value[2]


def _payload_header(payload) -> tuple[int, float, int]:
    """The (first_seq, time, record count) of a frame whose checksum matched,
    without decoding its records: enough to know where the log ends."""
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=max(len(payload), 1))
    unpacker.feed(payload)
    try:
        if unpacker.read_array_header() != 3:
            raise _BadPayload("frame payload is not a [first_seq, time, records] batch")
        first, t = unpacker.unpack(), unpacker.unpack()
        count = unpacker.read_array_header()
    except (ValueError, TypeError, OverflowError, msgpack.UnpackException, msgpack.OutOfData) as exc:
        raise _BadPayload(f"frame payload is not valid msgpack ({str(exc) or type(exc).__name__})") from None
    if type(first) is not int or type(t) is not float or not 1 <= count <= len(payload):
        raise _BadPayload("frame payload is not a [first_seq, time, records] batch")
    return first, t, count


def _frame_problem(data: bytes, pos: int, avail: int) -> tuple[Optional[str], int]:
    """Why the frame at ``data[pos:]`` is not intact (None if it is) and its
    payload length.  ``avail`` is how many bytes the file holds from ``pos``;
    ``data`` must hold the whole frame when its length fits in them."""
    if avail < FRAME_HEADER_BYTES:
        return "incomplete frame header", 0
    length, crc = _FRAME.unpack_from(data, pos)
    if length == 0 or length > MAX_FRAME_BYTES:
        return f"impossible frame length {length}", length
    if FRAME_HEADER_BYTES + length > avail:
        return f"frame of {length} bytes cut short", length
    body = pos + FRAME_HEADER_BYTES
    if _checksum(data[pos:pos + 4], data[body:body + length]) != crc:
        return "checksum mismatch", length
    return None, length


# ---------------------------------------------------------------------------
# Segment files


@attrs.frozen
class Segment:
    first_seq: int
    path: Path

    @property
    def name(self) -> str:
        return self.path.name


def list_segments(directory: Path) -> list[Segment]:
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        raise LogError(f"{directory}: no such log directory") from None
    except NotADirectoryError:
        raise LogError(f"{directory}: not a directory") from None
    found = []
    for name in names:
        m = _SEGMENT_RE.match(name)
        if m:
            found.append(Segment(int(m.group(1)), directory / name))
    found.sort(key=lambda s: s.first_seq)
    return found


def _header_problem(header: bytes) -> Optional[tuple[type[LogError], str]]:
    """Why a segment header is unusable (error class and reason), or None."""
    if len(header) < HEADER_BYTES:
        return LogCorruption, f"header truncated ({len(header)} of {HEADER_BYTES} bytes)"
    magic, version, checksum_kind, reserved = _HEADER.unpack_from(header)
    if magic != MAGIC:
        return LogCorruption, "not a log segment (bad magic at byte 0)"
    if version != FORMAT_VERSION:
        return LogError, f"format version {version} is not supported (this build reads {FORMAT_VERSION})"
    if checksum_kind != CHECKSUM_CRC32:
        return LogError, f"checksum kind {checksum_kind} is not supported"
    if reserved != bytes(5):
        return LogCorruption, "reserved header bytes are not zero (byte 11)"
    return None


def _check_header(path: Path, header: bytes) -> None:
    problem = _header_problem(header)
    if problem is not None:
        error, reason = problem
        raise error(f"{path}: {reason}")


def _read_header(path: Path) -> None:
    with open(path, "rb") as f:
        _check_header(path, f.read(HEADER_BYTES))


@contextlib.contextmanager
def _os_errors(directory: Path) -> Iterator[None]:
    """Report file system failures (permissions, disk full, ...) as LogError."""
    try:
        yield
    except OSError as exc:
        raise LogError(f"{exc.filename or directory}: {exc.strerror or exc}") from None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _create_segment(directory: Path, first_seq: int) -> Path:
    """A header-only segment, made whole before it appears under its name."""
    final = directory / segment_name(first_seq)
    tmp = directory / (final.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, _header_bytes())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, final)
    _fsync_dir(directory)
    return final


def _valid_frame_after(data: bytes, start: int) -> Optional[int]:
    """Offset (in ``data``) of the first frame at or after ``start`` whose
    checksum matches, or None.

    Deciding between a torn tail and damage: a crash can only tear the last
    frame, so any intact frame beyond a bad one means the bad one is damage.
    Every payload starts with 0x93, which makes the search a byte scan.
    """
    end = len(data)
    q = start + FRAME_HEADER_BYTES
    while True:
        q = data.find(_PAYLOAD_START, q)
        if q < 0:
            return None
        p = q - FRAME_HEADER_BYTES
        length, crc = _FRAME.unpack_from(data, p)
        if 0 < length <= MAX_FRAME_BYTES and q + length <= end:
            if _checksum(data[p:p + 4], data[q:q + length]) == crc:
                return p
        q += 1


def _take_lock(directory: Path) -> int:
    """The writer lock: an exclusive flock on ``LOCK``, which records the holder's pid."""
    try:
        fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except FileNotFoundError:
        raise LogError(f"{directory}: no such log directory") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise LogError(f"{directory} is locked by another writer (pid {holder})") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _release_lock(fd: Optional[int]) -> None:
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the flock


# ---------------------------------------------------------------------------
# Reading: a cursor over whole frames, by offset, across segments


Batch = tuple[int, float, list]  # first_seq, time, records


@attrs.frozen
class TornTail:
    """Bytes at the end of the last segment that are not a whole frame."""

    segment: Segment
    offset: int
    size: int
    reason: str

    def describe(self) -> str:
        return f"torn frame of {self.size} bytes at {self.segment.path}:{self.offset} ({self.reason})"


class _Cursor:
    """Reads whole frames forward from a sequence number, across segments.

    It keeps its place (segment and byte offset), so calling ``frames()``
    again later yields only what was appended since: the log reader and the
    follower share it.
    """

    def __init__(self, directory: Path, start: int, *, decode: bool = True):
        if type(start) is not int or start < 1:
            raise LogError(f"{directory}: start seq must be an integer >= 1, got {start!r}")
        self._dir = directory
        self._start = start
        # False: frames are checked (checksum, sequence) but their records are
        # not decoded, and batches come with records=None; for finding the end.
        self._decode = decode
        self._segment: Optional[Segment] = None
        self._fd: Optional[int] = None
        self._offset = 0
        self._expected = 0  # seq of the next frame in the current segment
        self.torn: Optional[TornTail] = None  # what stopped the last pass, if not a clean end

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _enter(self, segment: Segment) -> None:
        self.close()
        try:
            fd = os.open(segment.path, os.O_RDONLY)
        except FileNotFoundError:
            raise LogError(f"{segment.path}: segment disappeared while reading (compacted?)") from None
        try:
            _check_header(segment.path, os.pread(fd, HEADER_BYTES, 0))
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._segment = segment
        self._offset = HEADER_BYTES
        self._expected = segment.first_seq

    def _first_segment(self) -> bool:
        segments = list_segments(self._dir)
        if not segments:
            return False
        if self._start < segments[0].first_seq:
            raise LogError(
                f"{self._dir}: seq {self._start} was compacted away; the log starts at "
                f"seq {segments[0].first_seq} (load a snapshot first)"
            )
        chosen = [s for s in segments if s.first_seq <= self._start][-1]
        self._enter(chosen)
        return True

    def _next_segment(self) -> Optional[Segment]:
        """The segment after the current one, if any; checks the names are contiguous."""
        later = [s for s in list_segments(self._dir) if s.first_seq > self._segment.first_seq]
        if not later:
            return None
        if later[0].first_seq != self._expected:
            raise LogCorruption(
                f"{self._segment.path}: ends before seq {self._expected} but the next segment is {later[0].name}"
            )
        return later[0]

    def frames(self) -> Iterator[Batch]:
        """Every whole frame from the current place to the current end of the log."""
        with _os_errors(self._dir):
            yield from self._frames()

    def _frames(self) -> Iterator[Batch]:
        self.torn = None
        if self._fd is None and not self._first_segment():
            return
        while True:
            yield from self._segment_frames()
            if self.torn is None:
                following = self._next_segment()
                if following is None:
                    return
                self._enter(following)
                continue
            # A bad frame is a torn tail only at the very end of the log.
            following = self._next_segment()
            if following is not None:
                raise LogCorruption(
                    f"{self._segment.path}:{self.torn.offset}: bad frame ({self.torn.reason}) "
                    f"before segment {following.name}"
                )
            return

    def _segment_frames(self) -> Iterator[Batch]:
        fd, segment = self._fd, self._segment
        size = os.fstat(fd).st_size
        if size < self._offset:
            raise LogError(
                f"{segment.path}: truncated to {size} bytes, below byte {self._offset} already read "
                f"(seq {self._expected}); the events read past it are gone"
            )
        buf, buf_start = b"", self._offset
        while self._offset < size:
            pos, avail = self._offset - buf_start, size - self._offset
            if len(buf) - pos < FRAME_HEADER_BYTES:
                buf, buf_start, pos = os.pread(fd, _READ_CHUNK, self._offset), self._offset, 0
            if avail >= FRAME_HEADER_BYTES:
                need = FRAME_HEADER_BYTES + _FRAME.unpack_from(buf, pos)[0]
                if len(buf) - pos < need <= min(avail, FRAME_HEADER_BYTES + MAX_FRAME_BYTES):
                    buf, buf_start, pos = os.pread(fd, max(_READ_CHUNK, need), self._offset), self._offset, 0
            reason, length = _frame_problem(buf, pos, avail)
            if reason is not None:
                self._stop(buf, pos, avail, reason)
                return
            where = f"{segment.path}:{self._offset}"
            body = pos + FRAME_HEADER_BYTES
            try:
                if self._decode:
                    first, t, records = _decode_payload(buf[body:body + length])
                    count = len(records)
                else:
                    (first, t, count), records = _payload_header(buf[body:body + length]), None
            except _BadPayload as exc:
                raise LogCorruption(f"{where}: {exc}") from None
            if first != self._expected:
                raise LogCorruption(f"{where}: frame starts at seq {first}, expected {self._expected}")
            self._offset += FRAME_HEADER_BYTES + length
            self._expected = first + count
            yield first, t, records

    def _stop(self, buf: bytes, pos: int, avail: int, reason: str) -> None:
        """Decide whether the bad frame at the current offset is a torn tail."""
        rest = buf[pos:] if len(buf) - pos >= avail else os.pread(self._fd, avail, self._offset)
        later = _valid_frame_after(rest, 1)
        if later is not None:
            raise LogCorruption(
                f"{self._segment.path}:{self._offset}: bad frame ({reason}) followed by a valid frame "
                f"at byte {self._offset + later}"
            )
        self.torn = TornTail(self._segment, self._offset, avail, reason)

    @property
    def next_seq(self) -> int:
        return self._expected


def _entries(frames: Iterator[Batch], start: int, stop: Optional[int]) -> Iterator[Entry]:
    for first, t, records in frames:
        seq = first
        for record in records:
            if stop is not None and seq > stop:
                return
            if seq >= start:
                yield seq, t, record
            seq += 1


def _batches(frames: Iterator[Batch], start: int, stop: Optional[int]) -> Iterator[Batch]:
    for first, t, records in frames:
        if stop is not None and first > stop:
            return
        if first < start or (stop is not None and first + len(records) - 1 > stop):
            lo = max(start - first, 0)
            hi = len(records) if stop is None else min(len(records), stop - first + 1)
            if lo >= hi:
                continue
            first, records = first + lo, records[lo:hi]
        yield first, t, records


# ---------------------------------------------------------------------------
# The log


class EventLog:
    """An open log: a reader, or the one writer (``write=True``)."""

    def __init__(self, directory: Path, *, write: bool, sync: bool, segment_bytes: int):
        self.path = directory
        self.sync = sync
        self.segment_bytes = segment_bytes
        self.writable = write
        self.recovered: Optional[str] = None
        self.first_seq = 0
        self.last_seq = 0
        self._lock_fd: Optional[int] = None
        self._fd: Optional[int] = None
        self._segment: Optional[Segment] = None
        self._size = 0
        self._failed: Optional[str] = None

    @classmethod
    def open(
        cls, path, *, create: bool = False, write: bool = False, sync: bool = True,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
    ) -> "EventLog":
        directory = Path(path)
        if segment_bytes < HEADER_BYTES + FRAME_HEADER_BYTES + 1:
            raise LogError(f"{directory}: segment_bytes {segment_bytes} is too small")
        log = cls(directory, write=write, sync=sync, segment_bytes=segment_bytes)
        try:
            if create:
                directory.mkdir(parents=True, exist_ok=True)
            if write:
                log._lock_fd = _take_lock(directory)
            if create and not list_segments(directory):
                creator = log._lock_fd if write else _take_lock(directory)
                try:
                    if not list_segments(directory):
                        _create_segment(directory, 1)
                finally:
                    if not write:
                        _release_lock(creator)
            log._recover()
        except OSError as exc:
            log.close()
            raise LogError(f"{exc.filename or directory}: {exc.strerror or exc}") from None
        except BaseException:
            log.close()
            raise
        return log

    # -- opening

    def _recover(self) -> None:
        segments = list_segments(self.path)
        if not segments:
            raise LogError(f"{self.path}: not an event log (no segment files)")
        for segment in segments[:-1]:
            _read_header(segment.path)
        last = segments[-1]
        cursor = _Cursor(self.path, last.first_seq, decode=False)
        try:
            for _ in cursor.frames():
                pass
        finally:
            cursor.close()
        self.last_seq = cursor.next_seq - 1
        self.first_seq = segments[0].first_seq if self.last_seq >= segments[0].first_seq else 0
        torn = cursor.torn
        if torn is not None:
            if self.writable:
                self.recovered = "cut " + torn.describe()
            else:
                self.recovered = "ignored " + torn.describe()
        if self.writable:
            self._clean_temp_files()
            self._segment = last
            self._fd = os.open(last.path, os.O_WRONLY | os.O_APPEND)
            if torn is not None:
                os.ftruncate(self._fd, torn.offset)
                os.fdatasync(self._fd)
            self._size = os.fstat(self._fd).st_size

    def _clean_temp_files(self) -> None:
        # Only a lock holder makes segment temp files, so any found now are
        # leftovers of a crash during rotation or repair.
        for name in os.listdir(self.path):
            if name.endswith(".log.tmp"):
                os.unlink(self.path / name)

    # -- writing

    def append(self, records: Sequence[list], time: Optional[float] = None) -> int:
        """Append one batch as one frame; returns the seq of its last record."""
        if not self.writable:
            raise LogError(f"{self.path}: opened read-only")
        if self._fd is None:
            raise LogError(f"{self.path}: log is closed")
        if self._failed is not None:
            raise LogError(f"{self.path}: a previous write failed ({self._failed}); reopen the log")
        if not records:
            return self.last_seq
        first = self.last_seq + 1
        frame = encode_frame(first, _time.time() if time is None else time, records)
        if self._size >= self.segment_bytes:
            self._rotate(first)
        self._write(frame)
        self.last_seq = first + len(records) - 1
        if self.first_seq == 0:
            self.first_seq = first
        return self.last_seq

    def _write(self, frame: bytes) -> None:
        before = self._size
        try:
            written = os.write(self._fd, frame)
            while written < len(frame):  # a short write (e.g. disk nearly full): finish or fail
                written += os.write(self._fd, frame[written:])
            if self.sync:
                os.fdatasync(self._fd)
        except OSError as exc:
            # After a failed fsync the kernel may have dropped the dirty pages,
            # so what is on disk is unknown: stop taking writes.
            self._failed = f"{self._segment.path}: {exc.strerror or exc}"
            try:
                os.ftruncate(self._fd, before)
            except OSError:
                pass
            raise LogError(f"{self._segment.path}: write failed: {exc.strerror or exc}") from None
        self._size = before + len(frame)

    def _rotate(self, first_seq: int) -> None:
        # The finished segment is synced even without ``sync`` so that a new
        # segment never exists on disk ahead of the data before it.
        os.fdatasync(self._fd)
        os.close(self._fd)
        self._fd = None
        path = _create_segment(self.path, first_seq)
        self._segment = Segment(first_seq, path)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        self._size = HEADER_BYTES

    def flush(self) -> None:
        """Make every appended batch durable (for ``sync=False`` logs)."""
        if self._fd is not None:
            os.fdatasync(self._fd)

    def compact(self, upto_seq: int) -> int:
        """Drop whole segments whose events all have seq <= ``upto_seq``; needs the writer."""
        if not self.writable:
            raise LogError(f"{self.path}: compaction needs the writer (open with write=True)")
        with _os_errors(self.path):
            removed = _drop_segments(self.path, upto_seq)
        segments = list_segments(self.path)
        self.first_seq = segments[0].first_seq if self.last_seq >= segments[0].first_seq else 0
        return removed

    # -- reading

    def read(self, start: int = 1, stop: Optional[int] = None) -> Iterator[Entry]:
        """``(seq, time, record)`` for seq in [start, stop], in order."""
        cursor = _Cursor(self.path, start)
        try:
            yield from _entries(cursor.frames(), start, stop)
        finally:
            cursor.close()

    def read_batches(self, start: int = 1, stop: Optional[int] = None) -> Iterator[Batch]:
        """``(first_seq, time, records)`` per stored batch, clipped to [start, stop]."""
        cursor = _Cursor(self.path, start)
        try:
            yield from _batches(cursor.frames(), start, stop)
        finally:
            cursor.close()

    def close(self) -> None:
        if self._fd is not None:
            if not self.sync and self._failed is None:
                os.fdatasync(self._fd)
            os.close(self._fd)
            self._fd = None
        _release_lock(self._lock_fd)
        self._lock_fd = None

    def __enter__(self) -> "EventLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _drop_segments(directory: Path, upto_seq: int) -> int:
    segments = list_segments(directory)
    removed = 0
    # A segment's events end where the next segment's begin; the last
    # segment is always kept because it carries the position of the next seq.
    for segment, following in zip(segments, segments[1:]):
        if following.first_seq - 1 > upto_seq:
            break
        os.unlink(segment.path)  # oldest first: a crash leaves a contiguous suffix
        removed += 1
    if removed:
        _fsync_dir(directory)
    return removed


def compact(path, upto_seq: int) -> int:
    """Drop whole segments whose events all have seq <= ``upto_seq``.

    Takes the writer lock; returns the number of segments removed.  Readers
    asking for a seq that was dropped get a LogError telling them to load a
    snapshot.
    """
    with EventLog.open(path, write=True, sync=False) as log:
        return log.compact(upto_seq)


# ---------------------------------------------------------------------------
# Inspection and repair


@attrs.frozen
class Problem:
    segment: str
    offset: int
    message: str
    torn_tail: bool = False  # True: the crash damage that opening repairs by itself

    def __str__(self) -> str:
        return f"{self.segment}:{self.offset}: {self.message}"


@attrs.frozen
class SegmentReport:
    name: str
    bytes: int
    frames: int
    events: int
    first_seq: int  # 0 when the segment holds no event
    last_seq: int


@attrs.frozen
class VerifyReport:
    path: str
    segments: list[SegmentReport]
    frames: int
    events: int
    first_seq: int
    last_seq: int
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        """No damage other than a torn tail (which opening cuts by itself)."""
        return all(p.torn_tail for p in self.problems)


@attrs.frozen
class RepairReport:
    path: str
    cut_segment: Optional[str]  # None: nothing to cut
    cut_offset: int
    bytes_cut: int
    events_cut: int  # intact events beyond the cut point that are lost with it
    segments_removed: list[str]
    truncated: bool  # False: a dry run, nothing changed
    last_seq: int  # the log's last seq once cut


@attrs.frozen
class _Audit:
    report: VerifyReport
    segments: list[Segment]
    cut_index: Optional[int]  # segment of the first problem; None: nothing to cut
    cut_offset: int  # < HEADER_BYTES: that whole segment goes
    kept_last: int  # last seq before the cut
    events_after_cut: int  # intact events at or after the cut


def _audit(directory: Path) -> _Audit:
    """Scan every frame, resynchronising after damage so that every problem is
    listed, and note where a repair would cut: at the first problem."""
    segments = list_segments(directory)
    if not segments:
        raise LogError(f"{directory}: not an event log (no segment files)")
    reports: list[SegmentReport] = []
    problems: list[Problem] = []
    cut: Optional[tuple[int, int]] = None
    kept_last = segments[0].first_seq - 1
    after_cut = 0
    expected: Optional[int] = None  # seq the next segment must start at
    for index, segment in enumerate(segments):
        data = segment.path.read_bytes()
        is_last = index == len(segments) - 1
        frames = events = seg_first = seg_last = 0

        def problem(offset: int, message: str, torn: bool = False) -> None:
            nonlocal cut
            problems.append(Problem(segment.name, offset, message, torn))
            if cut is None:
                cut = (index, offset)

        if expected is not None and segment.first_seq != expected:
            problem(0, f"segment should start at seq {expected}")
        header_problem = _header_problem(data[:HEADER_BYTES])
        if header_problem is not None:
            problem(0, header_problem[1])
            reports.append(SegmentReport(segment.name, len(data), 0, 0, 0, 0))
            expected = None
            continue
        pos = HEADER_BYTES
        seq: Optional[int] = segment.first_seq  # None after an undecodable frame
        while pos < len(data):
            avail = len(data) - pos
            reason, length = _frame_problem(data, pos, avail)
            if reason is None:
                end = pos + FRAME_HEADER_BYTES + length
                try:
                    first, _t, records = _decode_payload(data[pos + FRAME_HEADER_BYTES:end])
                except _BadPayload as exc:
                    problem(pos, str(exc))
                    seq, pos = None, end
                    continue
                if seq is not None and first != seq:
                    problem(pos, f"frame starts at seq {first}, expected {seq}")
                if cut is None:
                    kept_last = first + len(records) - 1
                else:
                    after_cut += len(records)
                frames += 1
                events += len(records)
                seg_first = seg_first or first
                seg_last = first + len(records) - 1
                seq, pos = seg_last + 1, end
                continue
            later = _valid_frame_after(data, pos + 1)
            if later is None:
                problem(pos, f"{reason}; {avail} bytes to the end", torn=is_last)
                break
            problem(pos, f"{reason}; next valid frame at byte {later}")
            seq, pos = None, later  # the bad frame's size in events is unknown
        reports.append(SegmentReport(segment.name, len(data), frames, events, seg_first, seg_last))
        expected = seq
    with_events = [r for r in reports if r.frames]
    report = VerifyReport(
        str(directory), reports,
        sum(r.frames for r in reports), sum(r.events for r in reports),
        with_events[0].first_seq if with_events else 0, with_events[-1].last_seq if with_events else 0,
        problems,
    )
    if cut is None:
        return _Audit(report, segments, None, 0, kept_last, 0)
    return _Audit(report, segments, cut[0], cut[1], kept_last, after_cut)


def verify(path) -> VerifyReport:
    """Check every segment and frame; never changes the log."""
    with _os_errors(Path(path)):
        return _audit(Path(path)).report


def repair(path, *, truncate: bool) -> RepairReport:
    """Cut the log at its first problem: that frame and everything after it.

    With ``truncate=False`` only reports what would be cut.  Cutting takes the
    writer lock.  A damaged first segment is replaced by an empty one of the
    same name, so the log keeps its place in the sequence.
    """
    directory = Path(path)
    with _os_errors(directory):
        return _repair(directory, truncate)


def _repair(directory: Path, truncate: bool) -> RepairReport:
    lock = _take_lock(directory) if truncate else None
    try:
        audit = _audit(directory)
        if audit.cut_index is None:
            return RepairReport(str(directory), None, 0, 0, 0, [], truncate, audit.kept_last)
        target = audit.segments[audit.cut_index]
        later = audit.segments[audit.cut_index + 1:]
        whole = audit.cut_offset < HEADER_BYTES
        size = target.path.stat().st_size
        bytes_cut = (size if whole else size - audit.cut_offset) + sum(s.path.stat().st_size for s in later)
        drop_target = whole and audit.cut_index > 0
        removed = ([target.name] if drop_target else []) + [s.name for s in later]
        if truncate:
            for segment in reversed(later):  # newest first: a crash leaves a prefix
                os.unlink(segment.path)
            if drop_target:
                os.unlink(target.path)
            elif whole:
                _create_segment(directory, target.first_seq)
            else:
                fd = os.open(target.path, os.O_WRONLY)
                try:
                    os.ftruncate(fd, audit.cut_offset)
                    os.fdatasync(fd)
                finally:
                    os.close(fd)
            _fsync_dir(directory)
        return RepairReport(
            str(directory), target.name, audit.cut_offset, bytes_cut, audit.events_after_cut,
            removed, truncate, audit.kept_last,
        )
    finally:
        _release_lock(lock)


def stats(path) -> dict:
    """Size and range of the log and its snapshots; reads headers and the last segment only."""
    directory = Path(path)
    with EventLog.open(directory) as log:
        segments = list_segments(directory)
        return {
            "path": str(directory),
            "events": log.last_seq - log.first_seq + 1 if log.first_seq else 0,
            "first_seq": log.first_seq,
            "last_seq": log.last_seq,
            "segments": len(segments),
            "bytes": sum(s.path.stat().st_size for s in segments),
            "torn_tail": log.recovered,
            "snapshots": [
                {"seq": s.seq, "file": s.path.name, "bytes": s.bytes} for s in list_snapshots(directory)
            ],
        }


# ---------------------------------------------------------------------------
# Following a growing log

# Wake-up tuning: file events are grouped for at most _DEBOUNCE_MS, and with
# no event at all the watcher still returns every _TICK_MS so that stop
# requests, the idle timeout and any write that landed between a read and the
# watcher's start are noticed.
_DEBOUNCE_MS = 50
_STEP_MS = 10
_TICK_MS = 200


def follow(
    path, start: int = 1, *, stop_event=None, timeout: Optional[float] = None,
) -> Iterator[Entry]:
    """``(seq, time, record)`` from ``start`` on: what the log holds, then each
    entry as another process appends it.

    Ends when ``stop_event`` (anything with ``is_set()``) is set, or after
    ``timeout`` seconds in which nothing new arrived.  Survives segment
    rotation, a frame still being written (waits for the rest), and the
    cutting of a torn tail by a new writer; raises LogError if the log is cut
    below what was already delivered.
    """
    import watchfiles

    directory = Path(path)
    cursor = _Cursor(directory, start)
    try:
        last_new = _time.monotonic()
        for entry in _entries(cursor.frames(), start, None):
            last_new = _time.monotonic()
            yield entry
        for _changes in watchfiles.watch(
            directory, watch_filter=None, debounce=_DEBOUNCE_MS, step=_STEP_MS,
            stop_event=stop_event, rust_timeout=_TICK_MS, yield_on_timeout=True,
        ):
            for entry in _entries(cursor.frames(), start, None):
                last_new = _time.monotonic()
                yield entry
            if stop_event is not None and stop_event.is_set():
                return
            if timeout is not None and _time.monotonic() - last_new >= timeout:
                return
    finally:
        cursor.close()


async def afollow(path, start: int = 1, *, stop_event=None, timeout: Optional[float] = None):
    """Async twin of ``follow``; ``stop_event`` is an asyncio or anyio Event.

    Frames are read in a worker thread so a long backlog does not block the
    event loop.
    """
    import anyio
    import watchfiles

    directory = Path(path)
    cursor = _Cursor(directory, start)

    def pending() -> list[Entry]:
        return list(_entries(cursor.frames(), start, None))

    try:
        last_new = _time.monotonic()
        for entry in await anyio.to_thread.run_sync(pending):
            last_new = _time.monotonic()
            yield entry
        async for _changes in watchfiles.awatch(
            directory, watch_filter=None, debounce=_DEBOUNCE_MS, step=_STEP_MS,
            stop_event=stop_event, rust_timeout=_TICK_MS, yield_on_timeout=True,
        ):
            for entry in await anyio.to_thread.run_sync(pending):
                last_new = _time.monotonic()
                yield entry
            if stop_event is not None and stop_event.is_set():
                return
            if timeout is not None and _time.monotonic() - last_new >= timeout:
                return
    finally:
        cursor.close()
