"""The frame decoder: every reader of segment files (opening, reading,
verify, repair and both followers) walks frames through ``SegmentDecoder``,
and only here is it decided whether a bad frame is torn or damage.

Torn or damaged
    A crash leaves two kinds of marks at the end of the last segment: a
    frame cut short (the file ends before the frame does) and a frame whose
    unwritten sectors read as zeros (some file systems extend the file before
    the data reaches the disk).  Such a frame is *torn*: readers ignore it and
    say so, and the next writer cuts it.  Anything else (a checksum that
    fails over bytes that are all there, a header that fails its check, a
    frame numbered wrongly, a payload that is not a batch, any fault in a
    segment that is not the last, or a torn-looking frame followed by an
    intact one) is *damage*: readers refuse, naming the segment and byte
    offset, writers refuse to append, and ``verify`` reports it.

    In detail, for a bad frame in the last segment with no intact frame after
    it, torn means:

    - fewer bytes left than a frame header, or a frame whose header passes
      its check and says it ends past the end of the file;
    - a header failing its check whose bytes, to the end of their 512-byte
      sector, are all zeros (the sector where the write began never made it);
    - a frame whose checksum fails and whose final sector (from a sector
      boundary after the header to the frame's end) is all zeros, end tag
      included (the frame's end never made it).

    Zeros are judged by sector because that is the unit a disk writes.  The
    rule errs towards damage: a crash that leaves a zero sector in the middle
    of the last frame but its end written is reported as damage, and
    ``repair`` shows and cuts that frame; a damaged frame is never taken for a
    torn one, since its end tag (never zero, and one flipped bit away from
    zero at best by six) and its header check stand in the way.

Version 1 frames (``length | CRC-32 of length and payload | payload``) carry
no header check and no end tag, so the decoder cannot trust their length:
one cut short, or ending in a zero-filled sector, is torn only when no intact
frame follows it, and a flipped bit in the length of a version-1 log's last
frame still passes for a torn write.  A writer continues a version-1 log in a
new version-2 segment.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from typing import NamedTuple, Optional, Union

import attrs
import msgpack

from ..errors import LogCorruption
from .encoder import (
    FRAME_ALIGN,
    FRAME_HEADER,
    FRAME_HEADER_BYTES,
    FRAME_TRAILER,
    FRAME_TRAILER_BYTES,
    MAX_FRAME_BYTES,
    PAYLOAD_START,
    end_tag,
)
from .segments import Segment

SECTOR_BYTES = 512
_READ_CHUNK = 2**20
_V1_FRAME = struct.Struct("<II")  # payload length | CRC-32 of the length bytes and the payload


class Frame(NamedTuple):
    """An intact frame: where it lies in its segment and the batch it holds.
    (A tuple: one is made per frame read, so it must be cheap to make.)"""

    offset: int
    end: int
    first_seq: int
    time: float
    event_count: int  # not ``count``, which would hide tuple.count
    records: Optional[list]  # None when the decoder was asked not to decode records


@attrs.frozen
class Torn:
    """The bytes from ``offset`` to the end of the last segment: a write a crash cut off."""

    segment: Segment
    offset: int
    size: int
    reason: str

    def describe(self) -> str:
        return f"torn frame of {self.size} bytes at {self.segment.path}:{self.offset} ({self.reason})"


@attrs.frozen
class Damage:
    """A bad frame no crash explains."""

    segment: Segment
    offset: int
    reason: str
    resume: Optional[int]  # where intact frames may go on in this segment; None: none do

    def error(self) -> LogCorruption:
        return LogCorruption(f"{self.segment.path}:{self.offset}: damaged frame ({self.reason})")


Item = Union[Frame, Torn, Damage]


class _Window:
    """Positional reads of one file through a buffer that holds whole frames;
    without a file, a view of bytes already read (``data`` from ``start``)."""

    def __init__(self, fd: Optional[int], data: bytes = b"", start: int = 0):
        self._fd = fd
        self._data = data
        self._start = start

    def at(self, pos: int, count: int, size: int) -> tuple[bytes, int, int]:
        """A buffer holding bytes ``[pos, pos + count)`` clipped to ``size``:
        ``(buffer, index of pos in it, bytes held from pos)``, fewer than
        asked if the file ends (or shrank) before."""
        end = pos + count if pos + count < size else size
        start, data = self._start, self._data
        if self._fd is not None and (pos < start or end > start + len(data)):
            data = self._data = os.pread(self._fd, max(end - pos, _READ_CHUNK), pos)
            start = self._start = pos
        held = start + len(data)
        return data, pos - start, (end if end < held else held) - pos

    def get(self, pos: int, count: int, size: int) -> memoryview:
        """Bytes ``[pos, pos + count)`` clipped to ``size``, as a view."""
        data, index, held = self.at(pos, count, size)
        return memoryview(data)[index : index + held]


def _all_zeros(view: memoryview) -> bool:
    return len(view) > 0 and not bytes(view).strip(b"\0")


def _sector_end(pos: int) -> int:
    return (pos // SECTOR_BYTES + 1) * SECTOR_BYTES


@attrs.frozen
class _Bad:
    reason: str
    tearable: bool  # bytes a crash can leave: torn in the last segment unless an intact frame follows
    next_at: Optional[int]  # where the next frame starts, when the length can be trusted


# An intact frame, to the decoder: (its end, its payload as a view).
_Intact = tuple[int, memoryview]


class _Version2:
    """Frames with a checked header and an end tag (engine/log/encoder.py)."""

    search_step = FRAME_ALIGN

    @staticmethod
    def examine(win: _Window, pos: int, size: int) -> Union[_Intact, _Bad]:
        # The hot path of every read: a few calls per frame, the layout's
        # arithmetic (encoder.frame_size, end_tag) written out.
        data, i, held = win.at(pos, FRAME_HEADER_BYTES, size)
        if held < FRAME_HEADER_BYTES:
            return _Bad(f"incomplete frame header ({held} bytes)", True, pos + FRAME_HEADER_BYTES)
        length, check = FRAME_HEADER.unpack_from(data, i)
        if check != zlib.crc32(data[i : i + 4]):
            unwritten = _all_zeros(win.get(pos, _sector_end(pos) - pos, size))
            return _Bad(
                "zero-filled frame header (unsynced)" if unwritten else "frame header check failed", unwritten, None
            )
        if not 0 < length <= MAX_FRAME_BYTES:
            return _Bad(f"impossible frame length {length}", False, None)
        total = FRAME_HEADER_BYTES + ((length + FRAME_ALIGN - 1) & -FRAME_ALIGN) + FRAME_TRAILER_BYTES
        end = pos + total
        if len(data) - i < total or end > size:  # the buffer ends first: read on
            data, i, held = win.at(pos, total, size)
            if held < total:
                return _Bad(f"a frame of {total} bytes cut short", True, end)
        tail = i + total - FRAME_TRAILER_BYTES
        crc, tag = FRAME_TRAILER.unpack_from(data, tail)
        body = memoryview(data)[i + FRAME_HEADER_BYTES : tail]
        if tag == length ^ 0xFFFF_FFFF and crc == zlib.crc32(body):
            return end, body[:length]
        last_sector = (end - FRAME_TRAILER_BYTES) // SECTOR_BYTES * SECTOR_BYTES
        if last_sector > pos and _all_zeros(win.get(last_sector, end - last_sector, size)):
            return _Bad(f"frame end zero-filled from byte {last_sector} (unsynced)", True, end)
        return _Bad("checksum mismatch" if tag == end_tag(length) else "end tag mismatch", False, end)


class _Version1:
    """``length | CRC-32 of length and payload | payload``, read only."""

    search_step = 1

    @staticmethod
    def examine(win: _Window, pos: int, size: int) -> Union[_Intact, _Bad]:
        data, i, held = win.at(pos, _V1_FRAME.size, size)
        if held < _V1_FRAME.size:
            return _Bad(f"incomplete frame header ({held} bytes)", True, None)
        length, crc = _V1_FRAME.unpack_from(data, i)
        if not 1 <= length <= MAX_FRAME_BYTES:
            unwritten = _all_zeros(win.get(pos, _sector_end(pos) - pos, size))
            return _Bad(
                "zero-filled frame header (unsynced)" if unwritten else f"impossible frame length {length}",
                unwritten,
                None,
            )
        total = _V1_FRAME.size + length
        data, i, held = win.at(pos, total, size)
        if held < total:
            return _Bad(f"a frame of {total} bytes cut short", True, None)
        payload = memoryview(data)[i + _V1_FRAME.size : i + total]
        if zlib.crc32(payload, zlib.crc32(data[i : i + 4])) == crc:
            return pos + total, payload
        end = pos + total
        last_sector = (end - 1) // SECTOR_BYTES * SECTOR_BYTES
        if last_sector >= pos + _V1_FRAME.size and _all_zeros(win.get(last_sector, end - last_sector, size)):
            return _Bad(f"frame end zero-filled from byte {last_sector} (unsynced)", True, None)
        return _Bad("checksum mismatch", False, None)


_LAYOUTS: dict[int, Union[type[_Version1], type[_Version2]]] = {1: _Version1, 2: _Version2}


class BadPayload(Exception):
    """A checksummed payload that is not a batch; the caller adds where."""


def decode_payload(payload) -> tuple[int, float, list]:
    """The (first_seq, time, records) of a frame whose checksum matched.

    The bytes are still untrusted (a hostile file can carry a valid CRC):
    msgpack's size limits are tied to the payload length, so no declared
    length can make the decoder allocate more than the frame itself.
    """
    n = len(payload)
    try:
        value = msgpack.unpackb(
            payload,
            use_list=True,
            raw=False,
            strict_map_key=False,
            max_str_len=n,
            max_bin_len=n,
            max_array_len=n,
            max_map_len=n // 2,
            max_ext_len=n,
        )
    except (ValueError, TypeError, OverflowError, RecursionError, msgpack.UnpackException) as exc:
        raise BadPayload(f"payload is not valid msgpack ({str(exc) or type(exc).__name__})") from None
    if not (
        type(value) is list
        and len(value) == 3
        and type(value[0]) is int
        and type(value[1]) is float
        and type(value[2]) is list
        and value[2]
    ):
        raise BadPayload("payload is not a [first_seq, time, records] batch")
    return value[0], value[1], value[2]


def payload_header(payload) -> tuple[int, float, int]:
    """The (first_seq, time, record count) of a frame whose checksum matched,
    without decoding its records: enough to know where the log ends."""
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=max(len(payload), 1))
    unpacker.feed(payload)
    try:
        if unpacker.read_array_header() != 3:
            raise BadPayload("payload is not a [first_seq, time, records] batch")
        first, t = unpacker.unpack(), unpacker.unpack()
        count = unpacker.read_array_header()
    except (ValueError, TypeError, OverflowError, msgpack.UnpackException, msgpack.OutOfData) as exc:
        raise BadPayload(f"payload is not valid msgpack ({str(exc) or type(exc).__name__})") from None
    if type(first) is not int or type(t) is not float or not 1 <= count <= len(payload):
        raise BadPayload("payload is not a [first_seq, time, records] batch")
    return first, t, count


class SegmentDecoder:
    """The frames of one open segment file, of the version its header declares."""

    def __init__(self, segment: Segment, fd: int, version: int):
        self.segment = segment
        self.fd = fd
        self.version = version
        self._layout = _LAYOUTS[version]
        self._window = _Window(fd)

    def frames(
        self, offset: int, size: int, expected: Optional[int], *, last: bool, decode: bool = True
    ) -> Iterator[Item]:
        """Frames from ``offset`` up to byte ``size``, each checked and, with
        ``decode``, its records decoded (else ``records`` is None).

        ``expected`` is the seq the first frame must start at (None: any).
        ``last`` says whether this is the last segment of the log, the only
        place a crash leaves a torn frame; the caller must have listed the
        segments before taking ``size``, so that a segment it thinks is last
        was not already complete with a successor.

        A ``Torn`` item ends the walk.  After a ``Damage`` item the walk goes
        on from where intact frames resume (``verify`` lists every problem);
        a reader stops at the first.
        """
        examine, window, segment = self._layout.examine, self._window, self.segment
        pos = offset
        while pos < size:
            verdict = examine(window, pos, size)
            if isinstance(verdict, tuple):
                end, payload = verdict
                try:
                    if decode:
                        first, t, records = decode_payload(payload)
                        count = len(records)
                    else:
                        (first, t, count), records = payload_header(payload), None
                except BadPayload as exc:
                    yield Damage(segment, pos, str(exc), end if end < size else None)
                    pos, expected = end, None
                    continue
                if expected is not None and first != expected:
                    yield Damage(
                        segment, pos, f"starts at seq {first}, expected {expected}", end if end < size else None
                    )
                    pos, expected = end, None
                    continue
                yield Frame(pos, end, first, t, count, records)
                pos, expected = end, first + count
                continue
            if verdict.tearable and last:
                following = self._intact_after(verdict.next_at if verdict.next_at is not None else pos + 1, size)
                if following is None:
                    yield Torn(self.segment, pos, size - pos, verdict.reason)
                    return
                reason = f"{verdict.reason}, followed by an intact frame at byte {following}"
            elif verdict.tearable:
                reason = f"{verdict.reason}, in a segment that is not the last"
            else:
                reason = verdict.reason
            if verdict.next_at is not None:
                resume = verdict.next_at if verdict.next_at < size else None
            else:
                resume = self._intact_after(pos + 1, size)
            yield Damage(self.segment, pos, reason, resume)
            if resume is None:
                return
            pos, expected = resume, None

    def _intact_after(self, start: int, size: int) -> Optional[int]:
        """Offset of the first intact frame at or after ``start``, or None.

        Every payload starts with 0x93, which makes the search a byte scan.
        """
        step = self._layout.search_step
        start = -(-start // step) * step
        if start + FRAME_HEADER_BYTES > size:
            return None
        data = bytes(self._window.get(start, size - start, size))
        rest = _Window(None, data, start)
        # Both versions put the payload right after an 8-byte frame header.
        q = FRAME_HEADER_BYTES
        while True:
            q = data.find(PAYLOAD_START, q)
            if q < 0:
                return None
            p = q - FRAME_HEADER_BYTES
            if p % step == 0 and type(self._layout.examine(rest, start + p, size)) is tuple:
                return start + p
            q += 1
